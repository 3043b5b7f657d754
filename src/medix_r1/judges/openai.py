"""Chat client for any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, SGLang, OpenRouter).

Written on plain ``httpx`` rather than the ``openai`` SDK: a reward step sends thousands of 4-token
requests, and the client's CPU per call competes with the embedder on the same cores. The client owns
the endpoint's limits: a concurrency bound, a timeout, and retries with exponential backoff on 429,
5xx, timeouts, connection errors and malformed bodies. When retries run out it raises
:class:`JudgeUnavailableError` naming the URL; it never turns an outage into an answer.

The API key is read from an environment variable when the client is built, and never printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import weakref
from dataclasses import dataclass
from typing import Any

from medix_r1.judges.errors import JudgeConfigError, JudgeUnavailableError
from medix_r1.judges.stats import JudgeStats

__all__ = ["OpenAIChatClient", "RETRYABLE_STATUS"]

#: HTTP statuses worth another try: timeouts, conflicts, rate limits and server errors.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class _RetryableReply(Exception):
    """An answer that another attempt may fix (bad body, server error, empty choices)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class _LoopState:
    client: Any
    semaphore: asyncio.Semaphore


class OpenAIChatClient:
    """Async chat-completions client with bounded concurrency and retries.

    Usable from any event loop: connection pool and semaphore are created per loop on first use.
    """

    backend_name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        concurrency: int = 64,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"judge URL {base_url!r} must start with http:// or https://")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise ValueError("concurrency must be >= 1, max_retries >= 0 and timeout_s > 0")
        base = base_url.rstrip("/")
        if base.endswith("/chat/completions"):
            base = base[: -len("/chat/completions")]
        self.base_url = base
        self.url = f"{base}/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})
        self._api_key = os.environ.get(api_key_env) if api_key_env else None
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self.stats = JudgeStats()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatClient(url={self.url!r}, model={self.model!r}, concurrency={self.concurrency})"

    @property
    def endpoint(self) -> str:
        return self.url

    @property
    def identity(self) -> str:
        """What produced a verdict, for cache keys and result rows."""
        return f"openai:{self.model}"

    def _state(self) -> _LoopState:
        import httpx

        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            headers = {"Content-Type": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self.timeout_s),
                limits=httpx.Limits(
                    max_connections=self.concurrency, max_keepalive_connections=self.concurrency
                ),
            )
            state = _LoopState(client=client, semaphore=asyncio.Semaphore(self.concurrency))
            self._states[loop] = state
        return state

    async def aclose(self) -> None:
        """Close the connection pool of the current event loop."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.client.aclose()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_s)
        base = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        return base * (0.5 + random.random() / 2)  # jitter spreads a burst of retries

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        **extra: Any,
    ) -> str:
        """Send one chat request and return the reply text (``""`` for a null content)."""
        import httpx

        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            **self.extra_body,
            **extra,
        }
        payload = json.dumps(body).encode()
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
                    response = await state.client.post(self.url, content=payload)
                    self.stats.latency_s += time.perf_counter() - started
                    return self._read(response)
                except httpx.TimeoutException:
                    reason = f"timed out after {self.timeout_s:g} s"
                except httpx.TransportError as exc:
                    reason = f"connection error ({type(exc).__name__}: {exc})"
                except _RetryableReply as exc:
                    reason, retry_after = exc.reason, exc.retry_after
                self.stats.latency_s += time.perf_counter() - started
                if attempt < self.max_retries:
                    await asyncio.sleep(self._delay(attempt, retry_after))
        self.stats.failures += 1
        raise JudgeUnavailableError(self.url, self.max_retries + 1, reason)

    def _read(self, response: Any) -> str:
        status = response.status_code
        if status == 200:
            try:
                content = response.json()["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise _RetryableReply(f"malformed response body ({type(exc).__name__})") from None
            if content is not None and not isinstance(content, str):
                raise _RetryableReply("malformed response body (content is not text)")
            return content or ""
        if status in RETRYABLE_STATUS:
            retry_after = None
            header = response.headers.get("retry-after")
            if header:
                try:
                    retry_after = float(header)
                except ValueError:
                    retry_after = None
            raise _RetryableReply(f"HTTP {status}", retry_after)
        detail = response.text[:200].replace("\n", " ")
        raise JudgeConfigError(self.url, status, detail)
