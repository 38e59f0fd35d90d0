"""RedisCache against a real redis-server (the session fixture starts one), and CachedMarket on top of it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis

from engine.cache import Cache, MemoryCache
from engine.market.cache import CachedMarket, decode_candles, encode_candles
from engine.models import Candles
from storage.redis_cache import RedisCache, mask_url
from tests.support.redis_server import RedisServer, free_port

LOGGER = "storage.redis_cache"
NOON = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own, so tests sharing the session's server never see each other's keys."""
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain client, to look at what RedisCache wrote without going through it."""
    client = aioredis.Redis.from_url(redis_server.url())
    yield client
    await client.aclose()


@pytest.fixture
async def cache(redis_server: RedisServer, prefix: str) -> AsyncIterator[RedisCache]:
    c = RedisCache(redis_server.url(), prefix=prefix)
    yield c
    await c.close()


def build_candles(symbol: str = "BTC/USDT", timeframe: str = "1h", bars: int = 50) -> Candles:
    """Candles with values a lossy encoding would change: NaN, -0.0, inf, subnormals, 0.1+0.2, big ints."""
    n = np.arange(bars, dtype=np.float64)
    close = 100.0 + n / 3.0
    close[:6] = [np.nan, -0.0, np.inf, 5e-324, 0.1 + 0.2, -np.inf][:bars]
    return Candles(
        symbol=symbol,
        timeframe=timeframe,
        timestamps=np.int64(1_700_000_000) + np.arange(bars, dtype=np.int64) * 3600 + np.int64(2**40),
        open=close - 0.5,
        high=close + 1.0 / 7.0,
        low=close - 1.0 / 9.0,
        close=close,
        volume=n * 1e-9,
        source="counting double",
        demo=True,
        forming=True,
        price_decimals=4,
        last_price=0.1 + 0.2,
        session_note="market closed; last close 2026-11-27 16:00 ET — ünïcode",
    )


def assert_same_candles(got: Candles, want: Candles) -> None:
    for name in ("timestamps", "open", "high", "low", "close", "volume"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name  # bit-exact, NaN and -0.0 included
    assert got.timestamps.dtype == np.int64 and got.close.dtype == np.float64
    for name in ("symbol", "timeframe", "source", "demo", "forming", "price_decimals", "session_note"):
        assert getattr(got, name) == getattr(want, name), name
    assert got.last_price is not None and want.last_price is not None
    assert got.last_price.hex() == want.last_price.hex()


class CountingMarket:
    """A MarketData double that counts fetches and can hold them until a gate opens."""

    name = "counting"
    demo = True

    def __init__(self) -> None:
        self.calls = 0
        self.price_calls = 0
        self.gate: asyncio.Event | None = None

    def symbols(self) -> list[str]:
        return ["BTC/USDT"]

    def timeframes(self, symbol: str) -> list[str]:
        return ["1h"]

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return build_candles(symbol, timeframe, bars)

    async def last_price(self, symbol: str) -> Decimal:
        self.price_calls += 1
        return Decimal("123.45")

    async def as_of(self, symbol: str) -> datetime | None:
        return NOON

    def status(self) -> dict[str, str]:
        return {"counting": "ok"}


async def test_get_set_and_millisecond_expiry(cache: RedisCache, raw: aioredis.Redis, prefix: str) -> None:
    assert isinstance(cache, Cache)
    value = bytes(range(256))
    assert await cache.get("a") is None
    await cache.set("a", value, 60)
    assert await cache.get("a") == value
    assert await raw.get(prefix + "a") == value  # stored under the prefix, as given
    assert 59_000 < await raw.pttl(prefix + "a") <= 60_000

    await cache.set("short", b"x", 0.2)
    assert 0 < await raw.pttl(prefix + "short") <= 200  # PX: milliseconds, not rounded up to a second
    assert await cache.get("short") == b"x"
    await asyncio.sleep(0.25)
    assert await cache.get("short") is None

    await cache.set("never", b"x", 0)
    assert await raw.exists(prefix + "never") == 0
    assert cache.healthy and cache.status() == f"Redis {cache.url} ok"


async def test_clear_deletes_only_its_own_prefix(redis_server: RedisServer, raw: aioredis.Redis) -> None:
    tag = uuid.uuid4().hex
    # A prefix with glob characters: unescaped, "h3*x[1]:*" would also match the neighbour's keys below.
    mine = RedisCache(redis_server.url(), prefix=f"{tag}:h3*x[1]:")
    neighbour = RedisCache(redis_server.url(), prefix=f"{tag}:h3abcx1:")
    try:
        for i in range(1203):  # more than one SCAN/UNLINK batch
            await mine.set(f"k{i}", b"v", 60)
        await neighbour.set("k1", b"kept", 60)
        await raw.set(f"{tag}:unrelated", b"kept")

        await mine.clear()

        left = sorted([k async for k in raw.scan_iter(match=f"{tag}:*", count=1000)])
        assert left == sorted([f"{tag}:h3abcx1:k1".encode(), f"{tag}:unrelated".encode()])
        assert await neighbour.get("k1") == b"kept"
        assert await mine.get("k7") is None
    finally:
        await mine.close()
        await neighbour.close()


async def test_two_processes_share_one_fetch_through_redis(redis_server: RedisServer, prefix: str) -> None:
    first_cache, second_cache = RedisCache(redis_server.url(), prefix=prefix), RedisCache(redis_server.url(),
                                                                                           prefix=prefix)
    first_source, second_source = CountingMarket(), CountingMarket()
    first, second = CachedMarket(first_source, ttl=60, cache=first_cache), CachedMarket(second_source, ttl=60,
                                                                                        cache=second_cache)
    try:
        got_first = await first.fetch_ohlcv("BTC/USDT", "1h", 50)
        got_second = await second.fetch_ohlcv("BTC/USDT", "1h", 50)
        assert (first_source.calls, second_source.calls) == (1, 0)
        assert_same_candles(got_first, build_candles("BTC/USDT", "1h", 50))
        assert_same_candles(got_second, build_candles("BTC/USDT", "1h", 50))

        await second.fetch_ohlcv("BTC/USDT", "1h", 20)  # another bar count is another key
        assert second_source.calls == 1
        # prices are never cached: positions need them fresh
        assert await second.last_price("BTC/USDT") == Decimal("123.45")
        assert await second.last_price("BTC/USDT") == Decimal("123.45")
        assert second_source.price_calls == 2
        assert await second.as_of("BTC/USDT") == NOON and second.status() == {"counting": "ok"}

        await second.clear()
        await first.fetch_ohlcv("BTC/USDT", "1h", 50)
        assert first_source.calls == 2  # cleared for every process sharing the prefix
    finally:
        await first_cache.close()
        await second_cache.close()


async def test_concurrent_requests_in_one_process_make_one_fetch(cache: RedisCache) -> None:
    source = CountingMarket()
    source.gate = asyncio.Event()
    market = CachedMarket(source, ttl=60, cache=cache)
    waiters = [asyncio.create_task(market.fetch_ohlcv("BTC/USDT", "1h", 30)) for _ in range(20)]
    await asyncio.sleep(0.05)  # every waiter has asked Redis and found nothing
    waiters[0].cancel()  # one caller giving up does not cancel the shared fetch
    source.gate.set()
    results = await asyncio.gather(*waiters[1:])
    assert source.calls == 1
    for result in results:
        assert_same_candles(result, build_candles("BTC/USDT", "1h", 30))


class LaggingCache(MemoryCache):
    """A MemoryCache whose first `get` answers from before a write, late (a Redis reply still in transit)."""

    def __init__(self) -> None:
        super().__init__()
        self.first_get_released = asyncio.Event()
        self.gets = 0

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        value = await super().get(key)
        if self.gets == 1:
            await self.first_get_released.wait()
        return value


async def test_a_miss_answered_after_another_fetch_finished_does_not_fetch_again() -> None:
    source, cache = CountingMarket(), LaggingCache()
    market = CachedMarket(source, ttl=60, cache=cache)
    late = asyncio.create_task(market.fetch_ohlcv("BTC/USDT", "1h", 10))
    await asyncio.sleep(0)  # its lookup has read "nothing there" and is waiting for the reply
    await market.fetch_ohlcv("BTC/USDT", "1h", 10)  # fetched, stored, flight over
    cache.first_get_released.set()
    assert_same_candles(await late, build_candles("BTC/USDT", "1h", 10))
    assert source.calls == 1


async def test_unreadable_blob_is_fetched_again(cache: RedisCache, raw: aioredis.Redis, prefix: str) -> None:
    source = CountingMarket()
    market = CachedMarket(source, ttl=60, cache=cache)
    await raw.set(prefix + market.key("BTC/USDT", "1h", 10), b"\x05\x00\x00\x00{nope")
    assert_same_candles(await market.fetch_ohlcv("BTC/USDT", "1h", 10), build_candles("BTC/USDT", "1h", 10))
    assert source.calls == 1
    # ...and the good value replaced it
    assert_same_candles(decode_candles(await raw.get(prefix + market.key("BTC/USDT", "1h", 10))),
                        build_candles("BTC/USDT", "1h", 10))


async def test_stopped_redis_degrades_to_fetching(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    url = f"redis://tipster:s3cret-pw@127.0.0.1:{free_port()}/0"  # nothing listens there
    cache = RedisCache(url, probe_interval=0, now=lambda: NOON)  # probe on every call: still one log line
    source = CountingMarket()
    market = CachedMarket(source, ttl=60, cache=cache)
    try:
        for _ in range(3):
            assert_same_candles(await market.fetch_ohlcv("BTC/USDT", "1h", 10), build_candles("BTC/USDT", "1h", 10))
        assert source.calls == 3
        await cache.clear()  # does not raise either
        assert await cache.ping() is False
        assert not cache.healthy
        assert cache.status() == f"Redis redis://tipster:***@127.0.0.1:{url.rsplit(':', 1)[1]} degraded: " \
                                 "ConnectionError since 12:00 UTC"
        warnings = [r for r in caplog.records if r.name == LOGGER]
        assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
        assert "s3cret" not in caplog.text and "s3cret" not in cache.status()
    finally:
        await cache.close()


async def test_outage_is_logged_once_and_recovery_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if not RedisServer.available():
        pytest.skip("redis-server is not installed (`make redis` installs it)")
    caplog.set_level(logging.WARNING, logger=LOGGER)
    server = RedisServer(tmp_path).start()  # a private server: this test stops and restarts it
    clock = [0.0]
    cache = RedisCache(server.url(), prefix="outage:", probe_interval=5, clock=lambda: clock[0])
    try:
        await cache.set("k", b"v", 60)
        server.stop()
        server.start()  # a restart between two calls: the pooled connection is dead, one retry gets a new one
        assert await cache.get("k") is None and cache.healthy and caplog.records == []

        await cache.set("k", b"v", 60)
        assert await cache.get("k") == b"v"
        server.stop()

        for _ in range(5):
            assert await cache.get("k") is None
            await cache.set("k", b"v", 60)
        assert not cache.healthy
        assert len(caplog.records) == 1 and "unavailable" in caplog.records[0].getMessage()

        server.start()  # same port, empty (no persistence)
        assert await cache.get("k") is None and not cache.healthy  # within probe_interval: Redis not asked
        clock[0] += 5
        await cache.set("k", b"back", 60)  # the pooled connection is dead; one retry on a fresh one
        assert cache.healthy and await cache.get("k") == b"back"
        assert len(caplog.records) == 2 and "answers again" in caplog.records[1].getMessage()
    finally:
        await cache.close()
        server.stop()


async def test_hung_redis_costs_one_short_timeout() -> None:
    """A server that accepts connections and never answers: bounded by the socket timeout, then skipped."""
    held: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cache = RedisCache(f"redis://127.0.0.1:{port}/0", timeout=0.1, probe_interval=60, now=lambda: NOON)
    try:
        start = time.perf_counter()
        assert await cache.get("k") is None
        assert time.perf_counter() - start < 0.5  # one timeout, no retries with backoff
        assert cache.status() == f"Redis redis://127.0.0.1:{port}/0 degraded: TimeoutError since 12:00 UTC"
        start = time.perf_counter()
        for _ in range(100):
            await cache.set("k", b"v", 60)
            assert await cache.get("k") is None
        assert time.perf_counter() - start < 0.05  # within probe_interval nothing waits on Redis
    finally:
        await cache.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def test_password_never_shown() -> None:
    assert mask_url("redis://user:p%40ss@host:6379/0") == "redis://user:***@host:6379/0"
    assert mask_url("redis://:secret@host:6379/2") == "redis://:***@host:6379/2"
    assert mask_url("rediss://host:6380/0?password=secret&ssl_cert_reqs=none") == \
        "rediss://host:6380/0?password=***&ssl_cert_reqs=none"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert mask_url("redis://someone@host/0") == "redis://someone@host/0"  # a user name alone is not secret


def test_candles_round_trip_is_bit_exact() -> None:
    want = build_candles(bars=64)
    blob = encode_candles(want)
    # compact: the six arrays' raw bytes plus a short header, far below a pickle or JSON of the values
    assert len(blob) < 6 * 64 * 8 + 600
    assert_same_candles(decode_candles(blob), want)

    plain = Candles(symbol="AAPL", timeframe="1d", timestamps=np.array([], dtype=np.int64),
                    open=np.array([]), high=np.array([]), low=np.array([]), close=np.array([]),
                    volume=np.array([]), source="x")
    back = decode_candles(encode_candles(plain))
    assert len(back) == 0 and back.last_price is None and back.session_note is None and back.demo is False
    assert back.timestamps.dtype == np.int64 and back.close.dtype == np.float64

    for bad in (b"", b"\xff\xff\xff\xff{}", blob[:-1], blob + b"\x00"):
        with pytest.raises(ValueError):
            decode_candles(bad)
