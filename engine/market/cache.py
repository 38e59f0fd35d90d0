"""A time-to-live cache around any `MarketData` (SPEC §9: `cache.market_ttl`, 60 s by default).

Only `fetch_ohlcv` is cached: it is the expensive call (an exchange round trip, a resample), while
`last_price` feeds position monitoring every few seconds and must stay fresh.

Identical requests that arrive while one is in flight share it, so a burst of /signal commands or a
monitoring cycle over many tips on one market costs one upstream request. Errors are not cached: the
next request tries again.

With the replay source, the virtual clock moves `speed` market seconds per real second, so a 60 s TTL
would hide an hour of market time at speed 60. Give the replay a TTL of at most base-bar-seconds / speed
(e.g. 5 s for 5m data at speed 60), or 0 to keep only the in-flight sharing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from engine.market.base import MarketData
from engine.models import Candles

_Key = tuple[str, str, int]


class CachedMarket:
    """`MarketData` that remembers `fetch_ohlcv` results for `ttl` seconds per (symbol, timeframe, bars)."""

    def __init__(
        self,
        inner: MarketData,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1024,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be ≥ 0 seconds, got {ttl}")
        self.inner = inner
        self.name = inner.name
        self.demo = inner.demo
        self._ttl = float(ttl)
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[_Key, tuple[float, Candles]] = {}
        self._in_flight: dict[_Key, asyncio.Task[Candles]] = {}

    def symbols(self) -> list[str]:
        return self.inner.symbols()

    def timeframes(self, symbol: str) -> list[str]:
        return self.inner.timeframes(symbol)

    async def last_price(self, symbol: str) -> Decimal:
        return await self.inner.last_price(symbol)

    def status(self) -> dict[str, str]:
        return self.inner.status()

    def as_of(self, symbol: str) -> datetime | None:
        return self.inner.as_of(symbol)

    def clear(self) -> None:
        """Forget every cached result (e.g. after a config reload changes the source's behaviour)."""
        self._entries.clear()

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        key = (symbol, timeframe, bars)
        hit = self._entries.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.create_task(self._fill(key))
            self._in_flight[key] = task
            task.add_done_callback(_consume_exception)
        # shield: one caller giving up (timeout, cancelled handler) must not cancel the shared fetch.
        return await asyncio.shield(task)

    async def _fill(self, key: _Key) -> Candles:
        try:
            candles = await self.inner.fetch_ohlcv(*key)
            if self._ttl > 0:
                self._store(key, candles)
            return candles
        finally:
            self._in_flight.pop(key, None)

    def _store(self, key: _Key, candles: Candles) -> None:
        now = self._clock()
        if len(self._entries) >= self._max_entries:
            # Drop the expired first; if everything is fresh, the oldest insertions go (dicts keep order).
            for stale in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                del self._entries[stale]
            while len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries.pop(key, None)  # re-insert at the end so eviction order follows freshness
        self._entries[key] = (now + self._ttl, candles)


def _consume_exception(task: asyncio.Task[Candles]) -> None:
    # If every waiter was cancelled, nobody reads the error; reading it here avoids the
    # "exception was never retrieved" warning without swallowing it for the waiters that remain.
    if not task.cancelled():
        task.exception()
