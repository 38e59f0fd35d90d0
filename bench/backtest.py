"""What a backtest costs: 100,000 bars of the default strategy's technical part through engine.backtest.

The bars are a seeded random walk built from the bundled BTC/USDT 5m bars: each synthetic bar copies a real
bar, drawn at random, as ratios to its previous close (its open gap, its close-to-close return, its high and
low around its close), so the walk has BTC's returns, ranges and gaps. The decisions are FusedStrategy's
(SPEC §2: RSI and MACD scores, SL/TP at 2/3 ATR) with sentiment 0, its default parameters; ttl 24 bars.

Printed: the time of `run_backtest` (the trades, equity, metrics and the random baseline; the decisions are
computed before, as a strategy's decide() is timed on its own; goal < 0.3 s, best of several runs), the
time of backtesting.py (PyPI `backtesting`, the `bench` extra) running the same rule — one position at a
time, entry at the signal bar's close (trade_on_close=True), no slippage, the same fee as its commission — and
the ratio; then a check that both made the same trades (entry and exit bars, side, exit reason) with equal
returns. Last, the default rule's backtest on the bundled BTC/USDT 1h data (technical part: sentiment 0).

    .venv/bin/python bench/backtest.py [--bars 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Run as a script (`python bench/backtest.py`), Python puts bench/ on sys.path, not the repo root, and bench/
# and tests/ are not installed packages: put the root first, as `python -m bench.backtest` has it.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.backtest import BacktestResult, Metrics, run_backtest  # noqa: E402
from engine.backtest.exits import REASON_END, REASONS  # noqa: E402
from engine.market.replay import ReplayMarket  # noqa: E402
from engine.models import Candles  # noqa: E402
from engine.strategies.base import BUY, SELL, Decisions  # noqa: E402
from engine.strategies.fused import FusedStrategy  # noqa: E402

FEE, SLIPPAGE, TTL = 0.1, 0.05, 24  # config.yaml's paper fee and slippage (%), monitor.signal_ttl_bars
REPEATS = 7


async def bundled(timeframe: str) -> Candles:
    """The bundled BTC/USDT bars of `timeframe`, closed ones only (the replay clock at the data's end)."""
    candles = await ReplayMarket(start=0, speed=0).fetch_ohlcv("BTC/USDT", timeframe, 10**7)
    keep = len(candles) - 1 if candles.forming else len(candles)
    columns = ("timestamps", "open", "high", "low", "close", "volume")
    return candles.model_copy(update={c: getattr(candles, c)[:keep].copy() for c in columns} | {"forming": False})


def random_walk(real: Candles, bars: int, seed: int) -> Candles:
    """`bars` synthetic 5m bars, each a real bar drawn at random and rebased on the previous synthetic close."""
    rng = np.random.default_rng(seed)
    o, h, lo, c = real.open, real.high, real.low, real.close
    pick = rng.integers(1, len(c), size=bars)
    close = c[0] * np.cumprod(c[pick] / c[pick - 1])
    before = np.concatenate(([c[0]], close[:-1]))
    open_ = before * (o[pick] / c[pick - 1])
    high, low = close * (h[pick] / c[pick]), close * (lo[pick] / c[pick])
    open_, high, low, close = (np.round(x, 2) for x in (open_, high, low, close))
    high = np.maximum(high, np.maximum(open_, close))  # rounding may not put an open or close outside its range
    low = np.minimum(low, np.minimum(open_, close))
    stamps = real.timestamps[0] + 300 * np.arange(bars, dtype=np.int64)
    return Candles(symbol="WALK/USDT", timeframe="5m", timestamps=stamps, open=open_, high=high, low=low,
                   close=close, volume=real.volume[pick].copy(), source="random walk of BTC/USDT 5m bars",
                   price_decimals=2)


def technical(candles: Candles) -> Decisions:
    """The default strategy with no news: FusedStrategy's decisions on sentiment 0."""
    return FusedStrategy().decide(candles, np.zeros(len(candles)), {})


def timed(run: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float]:
    """(best, median) seconds of `repeats` runs: the best is the least noisy estimate of the cost itself."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def backtesting_py(candles: Candles, decisions: Decisions) -> tuple[list[tuple[int, int, bool, str, float]], float]:
    """The same rule in backtesting.py: (entry bar, exit bar, long, reason, net return) per closed trade, and
    the seconds its run took. An expiry is closed by the strategy at entry + TTL bars (trade_on_close fills it
    at that bar's close; its SL/TP orders are cancelled first so the next bar cannot fill them too)."""
    import os

    import pandas as pd

    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar would garble the figures
    from backtesting import Backtest, Strategy

    side, stop, target, first = decisions.side, decisions.stop_loss, decisions.take_profit, decisions.first
    last = len(candles) - 1
    expired: set[int] = set()

    class Rule(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            i = len(self.data) - 1
            trade = self.trades[0] if self.trades else None
            if trade is not None and i - trade.entry_bar >= TTL:
                trade.sl, trade.tp = None, None
                trade.close()
                expired.add(trade.entry_bar)
                trade = None
            if trade is None and first <= i < last and side[i] != 0:
                if side[i] == BUY:
                    self.buy(sl=stop[i], tp=target[i])
                else:
                    self.sell(sl=stop[i], tp=target[i])

    frame = pd.DataFrame({"Open": candles.open, "High": candles.high, "Low": candles.low, "Close": candles.close,
                          "Volume": candles.volume}, index=pd.to_datetime(candles.timestamps, unit="s", utc=True))
    bt = Backtest(frame, Rule, cash=1e12, commission=FEE / 100, trade_on_close=True, hedging=False,
                  exclusive_orders=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the last trade still open at the end; big cash against the price
        start = time.perf_counter()
        stats = bt.run()
        seconds = time.perf_counter() - start
    out = []
    for t in stats._strategy.closed_trades:
        e, x, long = int(t.entry_bar), int(t.exit_bar), t.size > 0
        if e in expired:
            reason = "expiry"
        elif (t.exit_price <= stop[e]) if long else (t.exit_price >= stop[e]):
            reason = "sl"
        else:
            reason = "tp"
        out.append((e, x, long, reason, float(t.pl_pct)))
    return out, seconds


def compare(result: BacktestResult, theirs: list[tuple[int, int, bool, str, float]]) -> str:
    """Both engines' trades, the last one left out when it is ours still open at the end (backtesting.py keeps
    that one open and out of its list)."""
    trades = result.trades
    keep = len(trades) - int(len(trades) > 0 and trades.reason[-1] == REASON_END)
    ours = [(int(trades.entry_bar[i]), int(trades.exit_bar[i]), bool(trades.long[i]), REASONS[int(trades.reason[i])])
            for i in range(keep)]
    same = ours == [t[:4] for t in theirs]
    if not same:
        bad = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b[:4]), min(len(ours),
                                                                                                       len(theirs)))
        return (f"DIFFERENT: {len(ours)} trades here, {len(theirs)} in backtesting.py; first difference at trade "
                f"{bad}: {ours[bad] if bad < len(ours) else None} vs {theirs[bad][:4] if bad < len(theirs) else None}")
    delta = max((abs(float(trades.net_return[i]) - theirs[i][4]) for i in range(keep)), default=0.0)
    verdict = "OK" if delta < 1e-9 else "RETURNS DIFFER"
    return (f"{verdict}: the same {keep} trades (entry and exit bars, side, reason: "
            f"{', '.join(f'{r} {sum(t[3] == r for t in ours)}' for r in ('tp', 'sl', 'expiry'))}); "
            f"largest |net return difference| {delta:.1e} (fee {FEE}% both legs, no slippage)")


def pct(value: float | None, signed: bool = True) -> str:
    return "n/a" if value is None else (f"{value * 100:+.2f}%" if signed else f"{value * 100:.1f}%")


def describe(name: str, m: Metrics) -> str:
    pf = "n/a" if m.profit_factor is None else ("∞" if m.profit_factor == float("inf") else f"{m.profit_factor:.2f}")
    sharpe = "n/a" if m.sharpe is None else f"{m.sharpe:.2f}"
    return (f"  {name:<14} {m.trades:4d} trades ({m.longs} long, {m.shorts} short)  hit {pct(m.hit_rate, False)}  "
            f"win {pct(m.win_rate, False)}  avg {pct(m.average_return)}  total {pct(m.total_return)}  PF {pf}  "
            f"expectancy {pct(m.expectancy)}  max DD {pct(m.max_drawdown, False)}  Sharpe {sharpe}  "
            f"exposure {pct(m.exposure, False)}")


def report(result: BacktestResult) -> None:
    print(f"  period {result.first_time:%Y-%m-%d %H:%M} → {result.last_time:%Y-%m-%d %H:%M} UTC, {result.bars} bars; "
          f"{result.signals_buy} BUY and {result.signals_sell} SELL decisions; buy & hold {pct(result.buy_and_hold)}")
    print(describe("all", result.metrics))
    print(describe("long", result.long))
    print(describe("random long", result.baseline.long.metrics))
    print(describe("short", result.short))
    print(describe("random short", result.baseline.short.metrics))
    print(f"  random entries: seed {result.baseline.seed}; {result.baseline.rule}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    real = asyncio.run(bundled("5m"))
    walk = random_walk(real, args.bars, args.seed)
    start = time.perf_counter()
    decisions = technical(walk)
    decide_s = time.perf_counter() - start
    print(f"{args.bars:,} bars (random walk of {len(real):,} bundled BTC/USDT 5m bars, seed {args.seed}); "
          f"FusedStrategy.decide (sentiment 0): {decide_s * 1e3:.0f} ms, "
          f"{int(np.sum(decisions.side == BUY)):,} BUY and {int(np.sum(decisions.side == SELL)):,} SELL bars")

    def ours(slippage: float = SLIPPAGE) -> BacktestResult:
        return run_backtest(walk, decisions, fee_pct=FEE, slippage_pct=slippage, ttl_bars=TTL)

    best, median = timed(ours)
    result = ours()
    print(f"run_backtest (fee {FEE}%, slippage {SLIPPAGE}%, ttl {TTL}): best {best * 1e3:.0f} ms, median "
          f"{median * 1e3:.0f} ms of {REPEATS} (goal < 300 ms); {len(result.trades):,} trades, "
          f"{len(result.baseline.long.trades) + len(result.baseline.short.trades):,} random ones")
    bare, _ = timed(lambda: ours(0.0))
    try:
        theirs, bt_seconds = backtesting_py(walk, decisions)
    except ImportError:
        print("backtesting.py is not installed: `.venv/bin/pip install -e '.[bench]'` for the ratio and the check")
    else:
        print(f"backtesting.py, the same rule (trade_on_close, no slippage): {bt_seconds:.2f} s; "
              f"ratio {bt_seconds / bare:.0f}× run_backtest without slippage ({bare * 1e3:.0f} ms)")
        print(f"check: {compare(ours(0.0), theirs)}")

    hourly = asyncio.run(bundled("1h"))
    print(f"default rule on the bundled BTC/USDT 1h (fee {FEE}%, slippage {SLIPPAGE}%, ttl {TTL}, sentiment 0):")
    report(run_backtest(hourly, technical(hourly), fee_pct=FEE, slippage_pct=SLIPPAGE, ttl_bars=TTL))


if __name__ == "__main__":
    main()
