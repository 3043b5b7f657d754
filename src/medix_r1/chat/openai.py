"""The ``openai`` chat backend: any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, SGLang, OpenRouter).

Written on ``aiohttp`` rather than the ``openai`` SDK or ``httpx``: a reward step sends thousands of
4-token requests, and the client's CPU per call competes with the embedder on the same cores
(measured on 2 cores against the loopback judge: ~0.13 ms CPU per request with aiohttp, ~5 ms with
httpx). The client owns
the endpoint's limits: a concurrency bound, a timeout, and retries with exponential backoff on 429,
5xx, timeouts, connection errors and malformed bodies. When retries run out it raises
:class:`~medix_r1.chat.errors.ChatUnavailableError` naming its role and the URL
(:class:`~medix_r1.chat.errors.JudgeUnavailableError` in the judge role); it never turns an outage
into an answer. One client serves one server: :meth:`OpenAIClient.with_role` gives the same pool and
limits under another role (an evaluation whose candidate and judge share a server).

The API key is read from an environment variable when the client is built, and never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

from medix_r1.chat.base import check_role
from medix_r1.chat.errors import rejected_error, unavailable_error
from medix_r1.chat.stats import ChatStats
from medix_r1.redaction import redact

__all__ = ["OpenAIClient", "RETRYABLE_STATUS", "TOKEN_LIMIT_PARAMS"]

#: Body field that carries the reply-length limit: ``max_tokens`` (vLLM, SGLang, most servers) or
#: ``max_completion_tokens`` (OpenAI's newer name, which some hosted APIs require).
TOKEN_LIMIT_PARAMS = ("max_tokens", "max_completion_tokens")

#: HTTP statuses worth another try: timeouts, conflicts, rate limits and server errors.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def _reply_cap(max_new_tokens: int | None, max_tokens: int | None) -> int:
    """The reply cap of a ``complete`` call: ``max_new_tokens``, or its deprecated name ``max_tokens``
    (the judges' client took ``max_tokens=`` before issue 15)."""
    if max_tokens is not None:
        if max_new_tokens is not None:
            raise TypeError("give max_new_tokens only (max_tokens is its deprecated name)")
        warnings.warn(
            "complete(max_tokens=...) is now complete(max_new_tokens=...)", DeprecationWarning, stacklevel=3
        )
        return max_tokens
    if max_new_tokens is None:
        raise TypeError("complete() needs max_new_tokens (the reply cap, in tokens)")
    return max_new_tokens


class _RetryableReply(Exception):
    """An answer that another attempt may fix (bad body, server error, empty choices)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class _LoopState:
    session: Any
    semaphore: asyncio.Semaphore


def _release_states(states: dict[asyncio.AbstractEventLoop, _LoopState]) -> None:
    """Close every pool of a client that is going away (collected, or at interpreter exit).

    Run by ``weakref.finalize``, which fires before the garbage collector finalises the sessions
    themselves, so aiohttp never reports them as leaked whatever the order of collection.
    """
    for loop, state in list(states.items()):
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(state.session.close(), loop)
            try:
                current = asyncio.get_running_loop()
            except RuntimeError:
                current = None
            if current is not loop:  # never block the loop that must run the close
                with contextlib.suppress(Exception):
                    future.result(timeout=2)
        else:  # closed, or stopped for good (e.g. a trainer's reward loop after training)
            _release(state.session)
    states.clear()


def _release(session: Any) -> None:
    """Drop a session whose event loop has ended (e.g. after ``asyncio.run``) without a warning."""
    connector = session.connector
    session.detach()
    if connector is not None:
        connector._close()  # a no-op on a closed loop beyond marking the pool closed


class OpenAIClient:
    """Async chat-completions client with bounded concurrency and retries.

    ``role`` (``"judge"``, ``"candidate"``, ``"demo model"``) names the model in every failure.
    Usable from any event loop: connection pool and semaphore are created per loop on first use.
    """

    backend = "openai"
    backend_name = backend  # deprecated name of ``backend``

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        role: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        concurrency: int = 64,
        extra_body: dict[str, Any] | None = None,
        token_limit_param: str = "max_tokens",
    ) -> None:
        if token_limit_param not in TOKEN_LIMIT_PARAMS:
            raise ValueError(
                f"token_limit_param must be one of {', '.join(TOKEN_LIMIT_PARAMS)}, got {token_limit_param!r}"
            )
        check_role(role)
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{role} URL {base_url!r} must start with http:// or https://")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise ValueError("concurrency must be >= 1, max_retries >= 0 and timeout_s > 0")
        base = base_url.rstrip("/")
        if base.endswith("/chat/completions"):
            base = base[: -len("/chat/completions")]
        self.base_url = base
        self.url = f"{base}/chat/completions"
        self.model = model
        self.role = role
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})
        self.token_limit_param = token_limit_param
        self._api_key = os.environ.get(api_key_env) if api_key_env else None
        # One pool per event loop; pools of loops that have ended are released on the next use,
        # and all of them when the client is collected or the interpreter exits.
        self._states: dict[asyncio.AbstractEventLoop, _LoopState] = {}
        self._finalizer = weakref.finalize(self, _release_states, self._states)
        self._owner: OpenAIClient | None = None  # the client a with_role() view shares its pools with
        self.stats = ChatStats()

    def __repr__(self) -> str:  # never shows the key
        return (
            f"{type(self).__name__}(url={self.url!r}, model={self.model!r}, role={self.role!r}, "
            f"concurrency={self.concurrency})"
        )

    @property
    def endpoint(self) -> str:
        """Which server this client talks to: the chat-completions URL (named in every failure)."""
        return self.url

    @property
    def identity(self) -> str:
        """What produced a reply, without the host (cache keys, result rows): ``openai:<model>``."""
        return f"openai:{self.model}"

    def with_role(self, role: str) -> OpenAIClient:
        """This client under another role: same connection pools, concurrency limit and counters,
        failures named for ``role``. One server, one limit, whichever role asks it."""
        check_role(role)
        if role == self.role:
            return self
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.role = role
        view._owner = self._owner or self  # keeps the pools' owner (and its finalizer) alive
        return view

    def __getstate__(self) -> dict[str, Any]:  # picklable for Ray / multiprocessing: pools are per process
        state = self.__dict__.copy()
        state["_states"] = None
        state["_finalizer"] = None
        state["_owner"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._states = {}
        self._finalizer = weakref.finalize(self, _release_states, self._states)

    def _release_closed_loops(self) -> None:
        for loop in [loop for loop in self._states if loop.is_closed()]:
            _release(self._states.pop(loop).session)

    def _state(self) -> _LoopState:
        import aiohttp

        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            self._release_closed_loops()
            headers = {"Content-Type": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                connector=aiohttp.TCPConnector(limit=self.concurrency),
            )
            state = _LoopState(session=session, semaphore=asyncio.Semaphore(self.concurrency))
            self._states[loop] = state
        return state

    async def aclose(self) -> None:
        """Close the connection pool of the current event loop (call before that loop ends)."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.session.close()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_s)
        base = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        return base * (0.5 + random.random() / 2)  # jitter spreads a burst of retries

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        **extra: Any,
    ) -> str:
        """Send one chat request and return the reply text (``""`` for a null content).

        ``max_new_tokens`` caps the reply; it travels as the request field ``token_limit_param``
        (``max_tokens`` or ``max_completion_tokens``). ``max_tokens=`` here is its deprecated name.
        """
        import aiohttp

        body = {
            "model": self.model,
            "messages": messages,
            self.token_limit_param: _reply_cap(max_new_tokens, max_tokens),
            "temperature": temperature,
            "top_p": top_p,
            **self.extra_body,
            **extra,
        }
        # Serialised as the openai SDK (httpx) does, so a request is byte for byte the published one.
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        state = self._state()
        reason = "no attempt made"
        async with state.semaphore:
            self.stats.requests += 1
            for attempt in range(self.max_retries + 1):
                if attempt:
                    self.stats.retries += 1
                started = time.perf_counter()
                retry_after = None
                try:
                    async with state.session.post(self.url, data=payload) as response:
                        raw = await response.read()
                    self.stats.latency_s += time.perf_counter() - started
                    return self._read(response.status, response.headers, raw)
                except asyncio.TimeoutError:
                    reason = f"timed out after {self.timeout_s:g} s"
                except aiohttp.ClientError as exc:
                    reason = f"connection error ({type(exc).__name__}: {exc})"
                except _RetryableReply as exc:
                    reason, retry_after = exc.reason, exc.retry_after
                self.stats.latency_s += time.perf_counter() - started
                if attempt < self.max_retries:
                    await asyncio.sleep(self._delay(attempt, retry_after))
        self.stats.failures += 1
        raise unavailable_error(self.role, self.url, self.max_retries + 1, reason)

    def _read(self, status: int, headers: Any, raw: bytes) -> str:
        if status == 200:
            try:
                content = json.loads(raw)["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise _RetryableReply(f"malformed response body ({type(exc).__name__})") from None
            if content is not None and not isinstance(content, str):
                raise _RetryableReply("malformed response body (content is not text)")
            return content or ""
        if status in RETRYABLE_STATUS:
            retry_after = None
            header = headers.get("retry-after")
            if header:
                try:
                    retry_after = float(header)
                except ValueError:
                    retry_after = None
            raise _RetryableReply(f"HTTP {status}", retry_after)
        detail = redact(raw[:4000].decode("utf-8", "replace"), [self._api_key])[:200].replace("\n", " ")
        raise rejected_error(self.role, self.url, status, detail)
