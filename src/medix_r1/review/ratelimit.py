"""A login rate limit for the review app: failed sign-ins per client, and in all, per time window.

A token has 192 random bits, so guessing is hopeless; the limit is there so that a script hammering
the sign-in form (or the ``Authorization`` header) is told to stop, and does not fill the log or
load the database. Successful sign-ins are never limited, and one client's failures do not lock out
another client (the overall cap is ten times the per-client one).

>>> clock = [0.0]
>>> limit = LoginLimiter(max_failures=2, window_s=60, clock=lambda: clock[0])
>>> limit.retry_after("10.0.0.1")
0
>>> limit.failed("10.0.0.1"); limit.failed("10.0.0.1")
>>> limit.retry_after("10.0.0.1"), limit.retry_after("10.0.0.2")
(60, 0)
>>> clock[0] = 61.0
>>> limit.retry_after("10.0.0.1")
0
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginLimiter"]


class LoginLimiter:
    """At most ``max_failures`` failed sign-ins per client in ``window_s`` seconds (thread-safe)."""

    def __init__(
        self,
        *,
        max_failures: int = 5,
        window_s: float = 60.0,
        max_total_failures: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("max_failures must be >= 1 and window_s > 0")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_total = max_total_failures if max_total_failures is not None else 10 * max_failures
        self._clock = clock
        self._lock = threading.Lock()
        self._by_client: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window_s:
            q.popleft()

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [0.0]
            q = self._by_client.get(client)
            if q is not None:
                self._trim(q, now)
                if not q:
                    del self._by_client[client]
                elif len(q) >= self.max_failures:
                    waits.append(q[0] + self.window_s - now)
            self._trim(self._all, now)
            if len(self._all) >= self.max_total:
                waits.append(self._all[0] + self.window_s - now)
            return max(0, math.ceil(max(waits)))

    def failed(self, client: str) -> None:
        """Count one failed sign-in from ``client``."""
        now = self._clock()
        with self._lock:
            self._by_client.setdefault(client, deque()).append(now)
            self._all.append(now)
            if len(self._by_client) > 10_000:  # bound the memory a flood of addresses can take
                for key in [k for k, q in self._by_client.items() if not q or q[-1] <= now - self.window_s]:
                    del self._by_client[key]

    def succeeded(self, client: str) -> None:
        """A successful sign-in clears the client's failures."""
        with self._lock:
            self._by_client.pop(client, None)
