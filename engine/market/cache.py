"""A time-to-live cache around any `MarketData` (SPEC §9: `cache.market_ttl`, 60 s by default).

Only `fetch_ohlcv` is cached: it is the expensive call (an exchange round trip, a resample), while
`last_price` and `bars_since` feed position monitoring every few seconds and must stay fresh.

The store is an `engine.cache.Cache`: a dict in this process by default, Redis when `storage.redis_url`
is set, so several bot processes share one upstream fetch per key and TTL. Candles go into it as bytes
(`encode_candles`: a JSON header and the raw arrays, exact to the bit). Identical requests that arrive
while one is in flight share it (`SingleFlight`), so a burst of /signal commands or a monitoring cycle
over many tips on one market costs one upstream request. Errors are not cached: the next request tries
again.

With the replay source, the virtual clock moves `speed` market seconds per real second, so a 60 s TTL
would hide an hour of market time at speed 60. Give the replay a TTL of at most base-bar-seconds / speed
(e.g. 5 s for 5m data at speed 60), or 0 to keep only the in-flight sharing.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import numpy as np

from engine.cache import Cache, MemoryCache, SingleFlight
from engine.market.base import MarketData
from engine.models import Candles

_ARRAYS = ("timestamps", "open", "high", "low", "close", "volume")
_FORMAT = 1
_HEADER_LENGTH = struct.Struct("<I")


def encode_candles(candles: Candles) -> bytes:
    """Candles as bytes: a length-prefixed JSON header (scalar fields, dtypes, lengths), then each array raw."""
    arrays = [np.ascontiguousarray(getattr(candles, name)) for name in _ARRAYS]
    header = {
        "v": _FORMAT,
        "symbol": candles.symbol,
        "timeframe": candles.timeframe,
        "source": candles.source,
        "demo": candles.demo,
        "forming": candles.forming,
        "price_decimals": candles.price_decimals,
        # repr-exact: json writes the shortest string that reads back as the same float
        "last_price": candles.last_price,
        "session_note": candles.session_note,
        "arrays": [[a.dtype.str, list(a.shape)] for a in arrays],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([_HEADER_LENGTH.pack(len(head)), head, *(a.tobytes() for a in arrays)])


def decode_candles(blob: bytes) -> Candles:
    """The inverse of `encode_candles`; raises ValueError on bytes it did not write."""
    try:
        (size,) = _HEADER_LENGTH.unpack_from(blob)
        header = json.loads(blob[_HEADER_LENGTH.size : _HEADER_LENGTH.size + size])
        if header.get("v") != _FORMAT:
            raise ValueError(f"unknown candles format {header.get('v')!r}")
        offset = _HEADER_LENGTH.size + size
        arrays: dict[str, np.ndarray] = {}
        for name, (dtype_str, shape) in zip(_ARRAYS, header["arrays"], strict=True):
            dtype = np.dtype(dtype_str)
            count = int(np.prod(shape)) if shape else 1
            # copy: an array over the blob would be read-only and keep the whole blob alive
            arrays[name] = np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape).copy()
            offset += count * dtype.itemsize
        if offset != len(blob):
            raise ValueError(f"candles blob has {len(blob) - offset} unexpected trailing bytes")
    except (struct.error, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a candles blob: {exc}") from exc
    return Candles(
        symbol=header["symbol"],
        timeframe=header["timeframe"],
        source=header["source"],
        demo=header["demo"],
        forming=header["forming"],
        price_decimals=header["price_decimals"],
        last_price=header["last_price"],
        session_note=header["session_note"],
        **arrays,
    )


class CachedMarket:
    """`MarketData` that remembers `fetch_ohlcv` results for `ttl` seconds per (source, symbol, timeframe, bars)."""

    def __init__(
        self,
        inner: MarketData,
        ttl: float,
        cache: Cache | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1024,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be ≥ 0 seconds, got {ttl}")
        self.inner = inner
        self.name = inner.name
        self.demo = inner.demo
        self.cache: Cache = cache if cache is not None else MemoryCache(max_entries=max_entries, clock=clock)
        self._ttl = float(ttl)
        self._max_decoded = max_entries
        self._flight: SingleFlight[Candles] = SingleFlight()
        # The last blob seen per key and its decoded Candles: a hit that returns the same bytes (the very
        # object from MemoryCache, equal bytes from Redis) is served without decoding, as the same object.
        self._decoded: dict[str, tuple[bytes, Candles]] = {}

    def symbols(self) -> list[str]:
        return self.inner.symbols()

    def timeframes(self, symbol: str) -> list[str]:
        return self.inner.timeframes(symbol)

    async def last_price(self, symbol: str) -> Decimal:
        return await self.inner.last_price(symbol)

    def status(self) -> dict[str, str]:
        return self.inner.status()

    async def as_of(self, symbol: str) -> datetime | None:
        return await self.inner.as_of(symbol)

    async def bars_since(self, symbol: str, since: datetime) -> Candles:
        """Not cached: exit checks need the bars up to now, and each caller asks from its own `since`."""
        bars_since = getattr(self.inner, "bars_since", None)
        if bars_since is None:
            raise NotImplementedError(f"{self.inner.name} serves no bars since a time")
        return await bars_since(symbol, since)

    async def clear(self) -> None:
        """Forget every cached result (e.g. after a config reload changes the source's behaviour).

        This clears the whole `cache` it was given: give the market its own cache (or Redis prefix) if the
        cache is shared with something that should survive."""
        self._decoded.clear()
        await self.cache.clear()

    async def close(self) -> None:
        """Close the inner source if it holds connections; the cache belongs to whoever passed it in."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()

    def key(self, symbol: str, timeframe: str, bars: int) -> str:
        return f"ohlcv:{self.inner.name}:{symbol}:{timeframe}:{bars}"

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        key = self.key(symbol, timeframe, bars)
        hit = await self._cached(key)
        if hit is not None:
            return hit
        return await self._flight.run(key, lambda: self._fill(key, symbol, timeframe, bars))

    async def _fill(self, key: str, symbol: str, timeframe: str, bars: int) -> Candles:
        # Look again inside the flight: a request that missed just before another one's result was stored
        # (the miss and the store both await a shared cache) must not fetch a second time.
        hit = await self._cached(key)
        if hit is not None:
            return hit
        candles = await self.inner.fetch_ohlcv(symbol, timeframe, bars)
        if self._ttl > 0:
            blob = encode_candles(candles)
            await self.cache.set(key, blob, self._ttl)
            self._remember(key, blob, candles)
        return candles

    async def _cached(self, key: str) -> Candles | None:
        blob = await self.cache.get(key)
        if blob is None:
            return None
        known = self._decoded.get(key)
        if known is not None and (known[0] is blob or known[0] == blob):
            return known[1]
        try:
            candles = decode_candles(blob)
        except ValueError:
            return None  # written by another version of the format: fetch afresh and overwrite it
        self._remember(key, blob, candles)
        return candles

    def _remember(self, key: str, blob: bytes, candles: Candles) -> None:
        self._decoded.pop(key, None)  # re-insert at the end so the oldest-seen entries go first
        while len(self._decoded) >= self._max_decoded:
            del self._decoded[next(iter(self._decoded))]
        self._decoded[key] = (blob, candles)
