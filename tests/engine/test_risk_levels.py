"""SL/TP levels over many real bars against an independent exact computation (issue 9): price ± k·ATR from
the unrounded floats, rounded once to the tick — stops away from the price, targets toward it."""

from __future__ import annotations

import asyncio
import math
from fractions import Fraction

import pytest

from engine.market.replay import ReplayMarket
from engine.models import Candles, Recommendation, SentimentReading, SignalParams
from engine.reevaluate import GroupRebuild
from engine.risk import stop_levels
from engine.signals import build_signal, snapshot

SERIES = [("BTC/USDT", "1h"), ("ETH/USDT", "1h"), ("SOL/USDT", "1h"), ("EUR_USD", "1h"), ("AAPL", "1d"),
          ("GOOG", "1d")]
WINDOW, STEP, PER_SERIES = 120, 3, 60
ALWAYS_BUY = SignalParams(buy_threshold=-0.99, sell_threshold=-1.0)
ALWAYS_SELL = SignalParams(buy_threshold=1.0, sell_threshold=0.99)


def reference(rec: Recommendation, price: float, atr: float, sl: float, tp: float, decimals: int) -> tuple[int, int]:
    """(stop, target) in ticks, in rationals: the decimal each float was written as (repr), k·ATR added or
    subtracted without rounding, then floor or ceiling once; never below one tick."""
    p, a, scale = Fraction(repr(price)), Fraction(repr(atr)), 10**decimals
    sl_dist, tp_dist = Fraction(repr(sl)) * a, Fraction(repr(tp)) * a
    if rec is Recommendation.BUY:
        stop, target = math.floor((p - sl_dist) * scale), math.floor((p + tp_dist) * scale)
    else:
        stop, target = math.ceil((p + sl_dist) * scale), math.ceil((p - tp_dist) * scale)
    return max(stop, 1), max(target, 1)


def ticks(value, decimals: int) -> int:
    scaled = value.scaleb(decimals)
    assert scaled == scaled.to_integral_value(), f"{value} is not on the {decimals}-decimal tick"
    return int(scaled)


@pytest.fixture(scope="module")
def windows() -> list[Candles]:
    async def load() -> list[Candles]:
        market = ReplayMarket(start=0, speed=0)
        out = []
        for symbol, timeframe in SERIES:
            full = await market.fetch_ohlcv(symbol, timeframe, WINDOW + STEP * PER_SERIES)
            for end in range(WINDOW, len(full) + 1, STEP):
                start = end - WINDOW
                out.append(full.model_copy(update={name: getattr(full, name)[start:end] for name in
                                                   ("timestamps", "open", "high", "low", "close", "volume")}))
        return out

    return asyncio.run(load())


def test_build_signal_levels_are_exact_then_rounded_once(windows: list[Candles]) -> None:
    reading = SentimentReading(available=False)
    checked = moved = 0
    for candles in windows:
        values = snapshot(candles)
        for params in (ALWAYS_BUY, ALWAYS_SELL):
            signal = build_signal(candles, values, reading, params, sl_atr=2.0, tp_atr=3.0)
            rec, d = signal.recommendation, candles.price_decimals
            assert rec is not Recommendation.HOLD
            want = reference(rec, float(candles.close[-1]), values.atr, 2.0, 3.0, d)
            got = (ticks(signal.stop_loss, d), ticks(signal.take_profit, d))
            assert got == want, (candles.symbol, candles.last_time, rec, signal.price, values.atr)
            # GroupRebuild gives the same levels when it derives them for another recommendation
            other = ALWAYS_SELL if params is ALWAYS_BUY else ALWAYS_BUY
            rebuilt = GroupRebuild(candles, values, reading)
            rebuilt.signal(params)
            again = rebuilt.signal(other)
            want_other = reference(again.recommendation, float(candles.close[-1]), values.atr, 2.0, 3.0, d)
            assert (ticks(again.stop_loss, d), ticks(again.take_profit, d)) == want_other
            # how often the old rule (ATR rounded first, the level then to the nearest tick) put it elsewhere
            naive = round(float(signal.price) - 2 * round(values.atr, d + 2), d) if rec is Recommendation.BUY \
                else round(float(signal.price) + 2 * round(values.atr, d + 2), d)
            moved += round(naive * 10**d) != want[0]
            checked += 1
    print(f'{checked} stops checked, {moved} elsewhere under the old rule')
    assert checked >= 600
    assert moved > 0  # the sample includes stops the old rule put elsewhere


def test_stop_levels_round_away_and_toward_by_hand() -> None:
    # 100.00 − 2 × 1.2345 = 97.531 → a long stop goes down (away) to 97.53; 100 + 3 × 1.2345 = 103.7035 → its
    # target goes down (toward the price) to 103.70. Short: 102.469 → 102.47 up (away); 96.2965 → 96.30 up.
    assert stop_levels("BUY", 100.0, 1.2345, decimals=2) == (Fraction(9753, 100), Fraction(10370, 100))
    assert stop_levels("SELL", 100.0, 1.2345, decimals=2) == (Fraction(10247, 100), Fraction(9630, 100))
    # the float 187.12 is 187.1199999…; read as written, 187.12 − 2 × 1.25 is exactly 184.62 (not 184.61)
    assert stop_levels("BUY", 187.12, 1.25, decimals=2)[0] == Fraction(18462, 100)
    # a long stop below zero is floored at one tick
    assert stop_levels("BUY", 1.0, 5.0, decimals=2)[0] == Fraction(1, 100)
