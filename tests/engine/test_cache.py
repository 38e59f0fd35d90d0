"""The in-process cache: expiry by an injected clock and a bounded number of entries."""

from __future__ import annotations

from engine.cache import Cache, MemoryCache


class FakeClock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


async def test_memory_cache_expiry() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    assert isinstance(cache, Cache)
    await cache.set("a", b"1", 10)
    await cache.set("b", b"2", 0.5)
    await cache.set("never", b"3", 0)
    await cache.set("never2", b"3", -1)
    assert (await cache.get("a"), await cache.get("b"), await cache.get("never"), await cache.get("never2")) == (
        b"1", b"2", None, None)
    clock.t += 0.5  # an entry expires exactly at its TTL
    assert await cache.get("b") is None and await cache.get("a") == b"1"
    clock.t += 9.4
    assert await cache.get("a") == b"1"
    clock.t += 0.1
    assert await cache.get("a") is None
    await cache.set("a", b"again", 1)
    await cache.clear()
    assert await cache.get("a") is None


async def test_memory_cache_is_bounded() -> None:
    clock = FakeClock()
    cache = MemoryCache(max_entries=3, clock=clock)
    await cache.set("old", b"0", 1)
    await cache.set("k1", b"1", 100)
    await cache.set("k2", b"2", 100)
    clock.t += 2  # "old" has expired: it makes room first, the fresh ones stay
    await cache.set("k3", b"3", 100)
    assert [await cache.get(k) for k in ("old", "k1", "k2", "k3")] == [None, b"1", b"2", b"3"]
    await cache.set("k4", b"4", 100)  # all fresh and full: the oldest insertion goes
    assert [await cache.get(k) for k in ("k1", "k2", "k3", "k4")] == [None, b"2", b"3", b"4"]
    await cache.set("k2", b"2'", 100)  # rewriting a key moves it to the end instead of evicting
    await cache.set("k5", b"5", 100)
    assert [await cache.get(k) for k in ("k2", "k3", "k4", "k5")] == [b"2'", None, b"4", b"5"]
    assert len(cache._entries) == 3
