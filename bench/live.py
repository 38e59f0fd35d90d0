"""What a live /signal costs against a local Binance-compatible server (tests/support/fake_exchange.py).

Cold: a new Python process with the modules imported (ccxt's import, 0.35 s, is paid at start-up and
reported on its own line), then timed: a fresh CcxtMarket, its markets loaded from the server
(exchangeInfo), then the tip — 201 klines and the ticker concurrently, indicators, scores
(engine.signals.generate_signal). Goal < 300 ms. Warm: the same market afterwards (markets loaded,
connection open), one tip per request.

Of the market load, about 75 ms is ccxt creating its TLS context (certifi's CA bundle) on its first request:
a local plain-HTTP server does not need it, but every real exchange does, so it stays in the figure.

The candles are the bundled Binance BTC/USDT 1h file shifted so its last bar is forming now; sentiment is a
constant 0 so that only market data and indicators are measured.

Run from the project root: `.venv/bin/python -m bench.live`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

from engine.models import AssetClass, SentimentReading

# Run as a script (`python bench/live.py`), Python puts bench/ on sys.path, not the repo root, and bench/
# and tests/ are not installed packages: put the root first, as `python -m bench.live` has it.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLD_RUNS = 5
WARM_REQUESTS = 50


class ZeroSentiment:
    async def reading(self, symbol: str, asset: AssetClass, at: datetime | None = None) -> SentimentReading:
        return SentimentReading(score=0.0, texts=0)


async def _cold(url: str) -> None:
    """One cold tip in this new process; prints its phases as JSON for the parent."""
    t0 = time.perf_counter()
    import ccxt.async_support  # noqa: F401 - "modules imported": before the clock starts, reported apart

    imported = time.perf_counter()
    from engine.market.ccxt_market import CcxtMarket
    from engine.models import SignalParams
    from engine.signals import generate_signal

    start = time.perf_counter()
    market = CcxtMarket("binance", api_url=url)
    built = time.perf_counter()
    await market.load_markets()
    loaded = time.perf_counter()
    signal = await generate_signal("BTC/USDT", "1h", SignalParams(), market, ZeroSentiment())
    done = time.perf_counter()
    market.exchange.timeout_on_exit = 0  # ccxt's 250 ms wait for TLS connections to drain; this is plain HTTP
    await market.close()
    print(json.dumps({"import": (imported - t0) * 1e3, "construct": (built - start) * 1e3,
                      "markets": (loaded - built) * 1e3, "tip": (done - loaded) * 1e3, "total": (done - start) * 1e3,
                      "signal": f"{signal.recommendation.value} at {signal.price} ({signal.data_source})"}))


async def _child(url: str) -> dict[str, float | str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.live", "--cold", url, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"cold run failed:\n{err.decode()[-2000:]}")
    result: dict[str, float | str] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _median(runs: list[dict[str, float | str]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


async def main() -> None:
    from engine.market.ccxt_market import CcxtMarket
    from engine.market.replay import DATA_DIR
    from engine.models import SignalParams
    from engine.signals import generate_signal
    from tests.support.fake_exchange import FakeBinance

    async with FakeBinance() as fake:
        fake.set_candles_from_csv("BTCUSDT", 3600, DATA_DIR / "BTC_USDT-1h.csv.gz", count=600)
        runs = [await _child(fake.base_url) for _ in range(COLD_RUNS)]
        totals = [float(r["total"]) for r in runs]
        print(f"live /signal BTC/USDT 1h against the local Binance server; {runs[0]['signal']}")
        print(f"  ccxt import, at start-up (not timed below)   median {_median(runs, 'import'):7.1f} ms")
        print(f"  cold, fresh process ({COLD_RUNS} runs)             median {statistics.median(totals):7.1f} ms  "
              f"(min {min(totals):.1f}, max {max(totals):.1f}; goal < 300 ms)")
        print(f"    new CcxtMarket                             median {_median(runs, 'construct'):7.1f} ms")
        print(f"    markets loaded (exchangeInfo)              median {_median(runs, 'markets'):7.1f} ms")
        print(f"    tip (klines + ticker, indicators, scores)  median {_median(runs, 'tip'):7.1f} ms")

        market = CcxtMarket("binance", api_url=fake.base_url)
        await generate_signal("BTC/USDT", "1h", SignalParams(), market, ZeroSentiment())
        times = []
        for _ in range(WARM_REQUESTS):
            start = time.perf_counter()
            await generate_signal("BTC/USDT", "1h", SignalParams(), market, ZeroSentiment())
            times.append((time.perf_counter() - start) * 1e3)
        market.exchange.timeout_on_exit = 0
        await market.close()
        print(f"  warm, markets loaded ({WARM_REQUESTS} tips)              median {statistics.median(times):7.1f} ms  "
              f"(p90 {statistics.quantiles(times, n=10)[-1]:.1f})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--cold":
        asyncio.run(_cold(sys.argv[2]))
    else:
        asyncio.run(main())
