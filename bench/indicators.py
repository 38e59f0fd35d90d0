"""How much the validating layer in engine/indicators.py costs over calling TA-Lib directly.

Run from the project root: `.venv/bin/python -m bench.indicators [bars]` (default 1,000,000 bars).

Each figure is the best of several runs (the minimum is the least noisy estimate of the cost itself).
A naive per-bar Python loop for EMA and RSI on a 100k slice shows what delegating to TA-Lib avoids.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import talib

from engine import indicators as ind
from engine.models import Candles

REPEATS = 7


def random_walk(bars: int, seed: int = 42) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    spread = np.abs(rng.normal(0, 0.005, bars)) * close
    return {
        "high": close + spread,
        "low": close - spread,
        "close": close,
        "volume": rng.lognormal(10, 1, bars),
    }


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def naive_ema(x: list[float], period: int) -> list[float]:
    out = [float("nan")] * len(x)
    k = 2 / (period + 1)
    value = sum(x[:period]) / period
    out[period - 1] = value
    for i in range(period, len(x)):
        value += k * (x[i] - value)
        out[i] = value
    return out


def naive_rsi(x: list[float], period: int = 14) -> list[float]:
    out = [float("nan")] * len(x)
    gains = losses = 0.0
    for i in range(1, period + 1):
        change = x[i] - x[i - 1]
        gains += max(change, 0.0)
        losses += max(-change, 0.0)
    avg_gain, avg_loss = gains / period, losses / period
    out[period] = 100 * avg_gain / (avg_gain + avg_loss)
    for i in range(period + 1, len(x)):
        change = x[i] - x[i - 1]
        avg_gain = (avg_gain * (period - 1) + max(change, 0.0)) / period
        avg_loss = (avg_loss * (period - 1) + max(-change, 0.0)) / period
        out[i] = 100 * avg_gain / (avg_gain + avg_loss)
    return out


def main(bars: int = 1_000_000) -> None:
    d = random_walk(bars)
    h, lo, c, v = d["high"], d["low"], d["close"], d["volume"]

    def talib_volume_ratio() -> np.ndarray:
        return v / talib.SMA(v, 20)

    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("sma(20)", lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20)),
        ("ema(12)", lambda: ind.ema(c, 12), lambda: talib.EMA(c, 12)),
        ("rsi(14)", lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14)),
        ("macd(12,26,9)", lambda: ind.macd(c), lambda: talib.MACD(c, 12, 26, 9)),
        ("atr(14)", lambda: ind.atr(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14)),
        ("bollinger(20,2)", lambda: ind.bollinger(c), lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0)),
        ("volume_ratio(20)", lambda: ind.volume_ratio(v, 20), talib_volume_ratio),
    ]
    print(f"{bars:,} bars, best of {REPEATS} runs, TA-Lib wheel {talib.__version__}")
    print(f"{'indicator':<18}{'ours ms':>10}{'TA-Lib ms':>11}{'ratio':>8}")
    total_ours = total_talib = 0.0
    for name, ours, direct in cases:
        t_ours, t_talib = best_of(ours), best_of(direct)
        total_ours += t_ours
        total_talib += t_talib
        print(f"{name:<18}{t_ours * 1e3:>10.2f}{t_talib * 1e3:>11.2f}{t_ours / t_talib:>8.2f}")

    candles = Candles(
        symbol="BENCH",
        timeframe="1h",
        timestamps=np.arange(bars, dtype=np.int64) * 3600,
        open=c,
        high=h,
        low=lo,
        close=c,
        volume=v,
        source="synthetic random walk",
    )
    t_all = best_of(lambda: ind.compute_all(candles))
    print(f"{'compute_all':<18}{t_all * 1e3:>10.2f}  (all 13 arrays of IndicatorSet)")

    n = min(100_000, bars)
    part = c[:n].tolist()
    t_loop_ema = best_of(lambda: naive_ema(part, 12), 3)
    t_loop_rsi = best_of(lambda: naive_rsi(part, 14), 3)
    t_lib_ema = best_of(lambda: ind.ema(c[:n], 12))
    t_lib_rsi = best_of(lambda: ind.rsi(c[:n], 14))
    assert np.allclose(naive_ema(part, 12), ind.ema(c[:n], 12), rtol=1e-9, equal_nan=True)
    assert np.allclose(naive_rsi(part, 14), ind.rsi(c[:n], 14), rtol=1e-9, equal_nan=True)
    print(f"naive Python loop on {n:,} bars (same results to 1e-9):")
    print(
        f"  ema(12): loop {t_loop_ema * 1e3:.1f} ms vs ours {t_lib_ema * 1e3:.2f} ms "
        f"({t_loop_ema / t_lib_ema:,.0f}x slower)"
    )
    print(
        f"  rsi(14): loop {t_loop_rsi * 1e3:.1f} ms vs ours {t_lib_rsi * 1e3:.2f} ms "
        f"({t_loop_rsi / t_lib_rsi:,.0f}x slower)"
    )
    print(f"overall ratio to TA-Lib: {total_ours / total_talib:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
