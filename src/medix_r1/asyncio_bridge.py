"""Run coroutines from synchronous code on one long-lived event loop.

HTTP clients and semaphores belong to the loop that first used them; ``asyncio.run`` makes a new
loop per call, which would rebuild connection pools for every batch. Synchronous entry points
(``CompositeReward.score``, the verl and EasyR1 adapters) therefore share this background loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="medix-r1-async", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the shared background loop and return its result.

    Raises the coroutine's own exception. Must not be called from inside that loop.

    >>> async def two(): return 2
    >>> run_sync(two())
    2
    """
    loop = _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("run_sync() called from its own event loop: await the async method instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()
