"""One cache interface for market data and sentiment (SPEC §9): in process by default, Redis when configured.

Values are bytes (each user of the cache owns its serialisation), so the same code runs against a dict in
this process or a Redis server shared by several. `SingleFlight` makes concurrent requests for one key cost
one fetch: the first caller produces, the others await its result (per process; across processes the
shared cache itself absorbs repeats once the first result is stored).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


@runtime_checkable
class Cache(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store `value` for `ttl` seconds (ttl ≤ 0: do not store)."""
        ...

    async def clear(self) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """A bounded dict with expiry times; the default when `storage.redis_url` is not set."""

    name = "in-process"

    def __init__(self, max_entries: int = 2048, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[0] <= self._clock():
            self._entries.pop(key, None)
            return None
        return hit[1]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        now = self._clock()
        if len(self._entries) >= self._max and key not in self._entries:
            for stale in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                del self._entries[stale]
            while len(self._entries) >= self._max:
                del self._entries[next(iter(self._entries))]  # oldest insertion first
        self._entries.pop(key, None)
        self._entries[key] = (now + ttl, value)

    async def clear(self) -> None:
        self._entries.clear()

    async def close(self) -> None:
        return None


class SingleFlight(Generic[T]):
    """Concurrent `run(key, produce)` calls for one key share one `produce()`; errors reach every waiter."""

    def __init__(self) -> None:
        self._in_flight: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, produce: Callable[[], Awaitable[T]]) -> T:
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._produce(key, produce))
            self._in_flight[key] = task
            task.add_done_callback(_consume_exception)
        # shield: one caller giving up (timeout, cancelled handler) must not cancel the shared fetch.
        return await asyncio.shield(task)

    async def _produce(self, key: str, produce: Callable[[], Awaitable[T]]) -> T:
        try:
            return await produce()
        finally:
            self._in_flight.pop(key, None)


def _consume_exception(task: asyncio.Future[T]) -> None:
    # If every waiter was cancelled nobody reads the error; reading it here avoids "exception was never
    # retrieved" without swallowing it for the waiters that remain.
    if not task.cancelled():
        task.exception()
