"""A loopback OpenAI-compatible chat server for tests and benchmarks.

It answers ``POST /v1/chat/completions`` on 127.0.0.1 with a reply computed by a Python callable,
after a configurable latency, with at most ``capacity`` requests being served at once (the rest
queue, as on a real inference server). A :class:`FaultPlan` injects the failures real judges show:
HTTP 500 and 429, hung requests (timeouts), dropped connections, malformed bodies and replies that
are not a verdict. Deterministic for a given seed and request order.

Run it in a thread (``with LoopbackChatServer(...) as server: server.base_url``) or, for benchmarks
where the client must not share a process with it, as a subprocess::

    python -m medix_r1.testing.loopback --port 8901 --latency-ms 25 --capacity 256
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FaultPlan", "LoopbackChatServer", "ReplyFn"]

ReplyFn = Callable[[list[dict[str, Any]], dict[str, Any]], str]

FAULT_KINDS = ("http500", "http429", "hang", "drop", "garbage", "nonsense")


@dataclass
class FaultPlan:
    """Which requests fail and how. ``rate`` is the share of requests that fail (seeded), with a
    kind drawn uniformly from ``kinds``; ``first_n`` makes the first N requests fail as well."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    first_n: int = 0
    seed: int = 0
    hang_s: float = 30.0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; valid: {FAULT_KINDS}")
        self._rng = random.Random(self.seed)

    def draw(self, index: int) -> str | None:
        roll = self._rng.random()
        kind = self._rng.choice(self.kinds) if self.kinds else None
        if index < self.first_n or roll < self.rate:
            return kind
        return None


def _default_reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    from medix_r1.judges.fake import fake_chat_reply

    return fake_chat_reply(messages)


class LoopbackChatServer:
    """An OpenAI-compatible chat server on 127.0.0.1, in a background thread."""

    def __init__(
        self,
        reply: ReplyFn | None = None,
        *,
        latency_s: float = 0.0,
        capacity: int = 256,
        faults: FaultPlan | None = None,
        port: int = 0,
    ) -> None:
        self.reply = reply or _default_reply
        self.latency_s = latency_s
        self.capacity = capacity
        self.faults = faults or FaultPlan()
        self.port = port
        self.requests = 0
        self.faults_injected: dict[str, int] = {}
        self.max_in_flight = 0
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- HTTP -----------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload, extra_headers = await self._respond(method, path, body)
                if status == 0:  # drop the connection without answering
                    return
                writer.write(
                    (
                        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(payload)}\r\n{extra_headers}Connection: keep-alive\r\n\r\n"
                    ).encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, method: str, path: str, raw: bytes) -> tuple[int, bytes, str]:
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            return 404, b'{"error": "not found"}', ""
        index = self.requests
        self.requests += 1
        fault = self.faults.draw(index)
        async with self._slots:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if fault is not None:
                    self.faults_injected[fault] = self.faults_injected.get(fault, 0) + 1
                    if fault == "http500":
                        return 500, b'{"error": "injected server error"}', ""
                    if fault == "http429":
                        return 429, b'{"error": "injected rate limit"}', "Retry-After: 0\r\n"
                    if fault == "hang":
                        await asyncio.sleep(self.faults.hang_s)
                        return 0, b"", ""
                    if fault == "drop":
                        return 0, b"", ""
                    if fault == "garbage":
                        return 200, b'{"choices": [', ""
                body = json.loads(raw)
                text = "maybe" if fault == "nonsense" else self.reply(body.get("messages", []), body)
                out = {
                    "id": f"loopback-{index}",
                    "object": "chat.completion",
                    "model": body.get("model", "loopback"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                }
                return 200, json.dumps(out).encode(), ""
            finally:
                self._in_flight -= 1

    # -- lifecycle ------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Serve until :meth:`stop` (or the task is cancelled); closes every connection on exit."""
        self._slots = asyncio.Semaphore(self.capacity)
        self._stopping = asyncio.Event()
        handlers: set[asyncio.Task[None]] = set()

        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await self._handle(reader, writer)
            except asyncio.CancelledError:
                pass  # shutting down; finishing normally keeps asyncio's stream callback quiet
            finally:
                handlers.discard(task)

        self._server = await asyncio.start_server(tracked, "127.0.0.1", self.port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            self._server.close()
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()

    def start(self) -> LoopbackChatServer:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self.serve())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="loopback-chat", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback chat server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> LoopbackChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible chat server (fake judge).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--capacity", type=int, default=256)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = LoopbackChatServer(
        latency_s=args.latency_ms / 1000,
        capacity=args.capacity,
        faults=FaultPlan(rate=args.fault_rate),
        port=args.port,
    )

    async def run() -> None:
        task = asyncio.ensure_future(server.serve())
        await asyncio.get_running_loop().run_in_executor(None, server._ready.wait)
        print(server.base_url, flush=True)
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()
