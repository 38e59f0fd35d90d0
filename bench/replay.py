"""What the bundled replay costs: first load per symbol (in a worker thread) and steady-state requests.

Run from the project root: `.venv/bin/python -m bench.replay`.
"""

from __future__ import annotations

import asyncio
import time

from engine.market import CachedMarket, ReplayMarket

REQUESTS = 200


async def main() -> None:
    market = ReplayMarket()
    for symbol in market.symbols():
        start = time.perf_counter()
        await market.preload([symbol])
        print(f"load {symbol:<9} {(time.perf_counter() - start) * 1e3:7.1f} ms")

    print(f"fetch_ohlcv(200 bars), mean of {REQUESTS} calls:")
    for symbol in ("BTC/USDT", "EUR_USD", "AAPL"):
        for tf in market.timeframes(symbol):
            start = time.perf_counter()
            for _ in range(REQUESTS):
                candles = await market.fetch_ohlcv(symbol, tf, 200)
            mean_us = (time.perf_counter() - start) / REQUESTS * 1e6
            print(f"  {symbol:<9} {tf:<4} {mean_us:8.1f} µs  forming={candles.forming}")

    cached = CachedMarket(market, ttl=5)
    await cached.fetch_ohlcv("BTC/USDT", "1h", 200)
    start = time.perf_counter()
    for _ in range(REQUESTS):
        await cached.fetch_ohlcv("BTC/USDT", "1h", 200)
    print(f"cache hit: {(time.perf_counter() - start) / REQUESTS * 1e6:.1f} µs")


if __name__ == "__main__":
    asyncio.run(main())
