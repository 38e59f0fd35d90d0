"""Strategies as plug-ins (issue 11).

The fused strategy must be the live tip's rule: `reference_tip` below is the tip pipeline as it stood before
strategies existed (snapshot → technical score → fusion → ATR levels from the quoted price, rounded once to
the tick), written out scalar by scalar. It checks `generate_signal` and the fused strategy's last bar at many
replay cut points of the bundled BTC/USDT 1h and AAPL 1d candles.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest

from engine import indicators
from engine.market.replay import ReplayMarket
from engine.models import AssetClass, Candles, Recommendation, SentimentReading, Signal, SignalParams
from engine.risk import quantize_price, stop_levels
from engine.scoring import fuse, macd_score, rsi_score, technical_score
from engine.signals import build_signal, generate_signal, snapshot
from engine.strategies import fused, grid, hyperrsi, registry
from engine.strategies.base import BUY, HOLD, SELL
from engine.strategies.levels import atr_levels, to_decimal

# ------------------------------------------------------------------------------------------------------
# The pre-strategy tip pipeline, as a plain scalar reference
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tip:
    recommendation: Recommendation
    technical: float
    sentiment: float
    fused: float
    confidence: float
    rsi_score: float
    macd_score: float
    price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None


def reference_tip(candles: Candles, reading: SentimentReading, params: SignalParams, sl_atr: float,
                  tp_atr: float) -> Tip:
    values = snapshot(candles)
    sentiment = reading.score if reading.available else 0.0
    tech = technical_score(values.rsi, values.macd_hist, values.atr, params.macd_scale)
    fusion = fuse(tech, sentiment, params.technical_weight, params.sentiment_weight, params.buy_threshold,
                  params.sell_threshold)
    live = candles.last_price
    quoted = live if live is not None and math.isfinite(live) and live > 0 else float(candles.close[-1])
    stop, target = stop_levels(fusion.recommendation, quoted, values.atr, sl_atr, tp_atr, candles.price_decimals)
    return Tip(Recommendation(fusion.recommendation), tech, sentiment, fusion.fused, fusion.confidence,
               rsi_score(values.rsi), macd_score(values.macd_hist, values.atr, params.macd_scale),
               quantize_price(Decimal(repr(float(quoted))), candles.price_decimals), stop, target)


class CyclingSentiment:
    """A fixed sequence of readings, one per call: none, bullish, bearish, a small one, unavailable."""

    SCORES = (0.0, 0.62, -0.55, 0.137, None)

    def __init__(self) -> None:
        self.calls = 0
        self.last: SentimentReading | None = None

    async def reading(self, symbol: str, asset: AssetClass, at: datetime | None = None) -> SentimentReading:
        score = self.SCORES[self.calls % len(self.SCORES)]
        self.calls += 1
        self.last = (SentimentReading(available=False, error="test: unavailable") if score is None
                     else SentimentReading(score=score, available=True, texts=3, model="test", source="test"))
        return self.last


PARAM_SETS = (
    (SignalParams(), 2.0, 3.0),
    (SignalParams(buy_threshold=0.1, sell_threshold=-0.1, technical_weight=0.8, sentiment_weight=0.2), 1.5, 2.5),
    (SignalParams(buy_threshold=0.05, sell_threshold=-0.02, macd_scale=1000.0), 2.0, 3.0),
)
# (symbol, timeframe, first cut, seconds between cuts, cuts): the BTC steps are not whole hours, so many cuts
# fall inside an hour and the newest 1h bar is still forming; AAPL's are whole days.
CUTS = (("BTC/USDT", "1h", "2024-02-01T00:00:00", 7 * 3600 + 25 * 60, 90),
        ("AAPL", "1d", "2012-03-01T00:00:00", 4 * 86400, 90))


@dataclass
class Cut:
    candles: Candles
    reading: SentimentReading
    params: SignalParams
    sl_atr: float
    tp_atr: float
    signal: Signal


class WindowSpy:
    """The market the tip reads, remembering the candles it served (the window the tip was computed on)."""

    def __init__(self, inner: ReplayMarket) -> None:
        self.inner = inner
        self.served: Candles | None = None

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        self.served = await self.inner.fetch_ohlcv(symbol, timeframe, bars)
        return self.served

    async def as_of(self, symbol: str) -> datetime | None:
        return await self.inner.as_of(symbol)


@pytest.fixture(scope="module")
def cuts() -> list[Cut]:
    async def collect() -> list[Cut]:
        out: list[Cut] = []
        for symbol, timeframe, start, step, count in CUTS:
            market = ReplayMarket(start=start, speed=0)
            spy, sentiment = WindowSpy(market), CyclingSentiment()
            for i in range(count):
                params, sl, tp = PARAM_SETS[i % len(PARAM_SETS)]
                signal = await generate_signal(symbol, timeframe, params, spy, sentiment,  # type: ignore[arg-type]
                                               sl_atr=sl, tp_atr=tp)
                assert spy.served is not None and sentiment.last is not None
                out.append(Cut(spy.served, sentiment.last, params, sl, tp, signal))
                market.advance(step)
        return out

    return asyncio.run(collect())


def test_generate_signal_matches_the_pre_strategy_pipeline(cuts: list[Cut]) -> None:
    seen = set()
    forming = 0
    for cut in cuts:
        want = reference_tip(cut.candles, cut.reading, cut.params, cut.sl_atr, cut.tp_atr)
        got = cut.signal
        where = (got.symbol, got.bar_time, cut.params)
        assert got.recommendation is want.recommendation, where
        assert got.technical_score == want.technical, where
        assert got.sentiment_score == want.sentiment, where
        assert got.fused_score == want.fused, where
        assert got.confidence == want.confidence, where
        assert got.rsi_score == want.rsi_score, where
        assert got.macd_score == want.macd_score, where
        assert got.price == want.price, where
        assert (got.stop_loss, got.take_profit) == (want.stop_loss, want.take_profit), where
        seen.add(got.recommendation)
        forming += cut.candles.forming
    assert seen == {Recommendation.BUY, Recommendation.SELL, Recommendation.HOLD}
    assert forming > 0  # some cuts read a 1h bar still forming


# ------------------------------------------------------------------------------------------------------
# fused: the tip's rule, on the newest bar and on every bar
# ------------------------------------------------------------------------------------------------------


def newest_sentiment(candles: Candles, reading: SentimentReading) -> np.ndarray:
    out = np.zeros(len(candles))
    out[-1] = reading.score if reading.available else 0.0
    return out


def test_fused_last_bar_is_what_generate_signal_returned_before(cuts: list[Cut]) -> None:
    for cut in cuts:
        want = reference_tip(cut.candles, cut.reading, cut.params, cut.sl_atr, cut.tp_atr)
        got = fused.STRATEGY.decide(cut.candles, newest_sentiment(cut.candles, cut.reading),
                                    fused.params_from(cut.params, cut.sl_atr, cut.tp_atr))
        where = (cut.candles.symbol, cut.candles.last_time, cut.params)
        assert int(got.side[-1]) == {"BUY": BUY, "SELL": SELL, "HOLD": HOLD}[want.recommendation.value], where
        assert float(got.score[-1]) == want.fused, where
        assert float(got.extra["technical"][-1]) == want.technical, where
        assert float(got.extra["rsi_score"][-1]) == want.rsi_score, where
        assert float(got.extra["macd_score"][-1]) == want.macd_score, where
        d = cut.candles.price_decimals
        levels = (to_decimal(float(got.stop_loss[-1]), d), to_decimal(float(got.take_profit[-1]), d))
        assert levels == (want.stop_loss, want.take_profit), where


@pytest.fixture(scope="module")
def full_series() -> list[Candles]:
    async def load() -> list[Candles]:
        market = ReplayMarket(start=0, speed=0)
        return [await market.fetch_ohlcv("BTC/USDT", "1h", 100_000), await market.fetch_ohlcv("AAPL", "1d", 100_000)]

    return asyncio.run(load())


def test_fused_every_bar_follows_the_scalar_rules(full_series: list[Candles]) -> None:
    """Every bar of the bundled series against scoring.technical_score / fuse / risk.stop_levels per bar."""
    rng = np.random.default_rng(3)
    trades = 0
    for candles in full_series:
        n = len(candles)
        sentiment = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(-1, 1, n))
        rsi = indicators.rsi(candles.close, 14)
        hist = indicators.macd(candles.close, 12, 26, 9)[2]
        atr = indicators.atr(candles.high, candles.low, candles.close, 14)
        for params, sl, tp in PARAM_SETS:
            got = fused.STRATEGY.decide(candles, sentiment, fused.params_from(params, sl, tp))
            assert got.first == 33 and (got.side[:33] == HOLD).all() and np.isnan(got.score[:33]).all()
            for i in range(got.first, n):
                tech = technical_score(float(rsi[i]), float(hist[i]), float(atr[i]), params.macd_scale)
                fusion = fuse(tech, float(sentiment[i]), params.technical_weight, params.sentiment_weight,
                              params.buy_threshold, params.sell_threshold)
                assert float(got.score[i]) == fusion.fused and float(got.extra["technical"][i]) == tech
                assert int(got.side[i]) == {"BUY": BUY, "SELL": SELL, "HOLD": HOLD}[fusion.recommendation]
                if fusion.recommendation == "HOLD":
                    assert math.isnan(got.stop_loss[i]) and math.isnan(got.take_profit[i])
                    continue
                d = candles.price_decimals
                want = stop_levels(fusion.recommendation, float(candles.close[i]), float(atr[i]), sl, tp, d)
                assert (to_decimal(float(got.stop_loss[i]), d), to_decimal(float(got.take_profit[i]), d)) == want
                trades += 1
    assert trades > 500


def test_round12_is_pythons_round() -> None:
    rng = np.random.default_rng(7)
    values = rng.uniform(-1, 1, 200_000) * rng.choice([1.0, 0.3, 1e-6], 200_000)
    # values lying on a half at the 12th place, where multiplying by 10¹² first can tip the rounding
    halves = (rng.integers(-10**12, 10**12, 20_000) + 0.5) / 1e12
    for sample in (values, halves, np.array([0.6 * -0.15 + 0.4 * -0.25, 0.3, -0.0, 2.5e-13])):
        got = fused.round12(sample)
        assert got.tolist() == [round(float(v), 12) for v in sample]


def test_atr_levels_exact_where_floats_are_not() -> None:
    # 100.02 − 2 × 0.02 is exactly 99.98, but in floats 99.97999999999999: flooring that gives 99.97.
    assert math.floor((100.02 - 2.0 * 0.02) * 100) == 9997
    side = np.array([BUY, SELL, HOLD], dtype=np.int8)
    stop, target = atr_levels(side, np.array([100.02] * 3), np.array([0.02] * 3), 2.0, 3.0, 2)
    # BUY: stop 99.98 (down), target 100.08 (down); SELL: stop 100.06 (up), target 99.96 (up); HOLD: none
    assert [to_decimal(float(v), 2) for v in stop] == [Decimal("99.98"), Decimal("100.06"), None]
    assert [to_decimal(float(v), 2) for v in target] == [Decimal("100.08"), Decimal("99.96"), None]
    # a long stop below zero is one tick
    stop, _ = atr_levels(np.array([BUY], dtype=np.int8), np.array([1.0]), np.array([5.0]), 2.0, 3.0, 2)
    assert to_decimal(float(stop[0]), 2) == Decimal("0.01")


def test_fused_params() -> None:
    check = fused.STRATEGY.check_params
    assert check({}) == {"buy": 0.3, "sell": -0.3, "tw": 0.6, "sw": 0.4, "macd_scale": "atr", "sl_atr": 2.0,
                         "tp_atr": 3.0}
    assert check({"tw": "0.8"})["sw"] == pytest.approx(0.2)  # one weight alone sets the other
    assert check({"sw": 1})["tw"] == 0.0
    assert check({"macd_scale": "1000", "buy": "-0.9", "sell": -0.95})["macd_scale"] == 1000.0
    for bad, words in (({"buy_threshold": 0.5}, "fused has no parameter 'buy_threshold' (its parameters: buy, sell, "
                                                 "tw, sw, macd_scale, sl_atr, tp_atr)"),
                       ({"buy": 0.2, "sell": 0.2}, "buy (0.2) must be greater than sell (0.2)"),
                       ({"tw": 0.7, "sw": 0.4}, "tw and sw must sum to 1"),
                       ({"buy": 1.5}, "buy must be between -1 and 1, got 1.5"),
                       ({"sell": "low"}, "sell must be a number"),
                       ({"macd_scale": -3}, "macd_scale must be 'atr' or a positive number"),
                       ({"sl_atr": 0}, "sl_atr must be greater than 0"),
                       ({"tp_atr": True}, "tp_atr must be a number")):
        with pytest.raises(ValueError) as caught:
            check(bad)
        assert words in str(caught.value) and "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------------


def test_registry_names_and_unknown_strategy() -> None:
    assert registry.names() == ["fused", "hyperrsi", "grid", "options"]
    assert registry.get(None) is fused.STRATEGY and registry.get("FUSED") is fused.STRATEGY
    assert registry.get("hyperrsi") is hyperrsi.STRATEGY and registry.get("grid") is grid.STRATEGY
    for name in registry.names():  # options is loaded on first use, from engine/strategies/options.py
        assert registry.get(name).name == name
    with pytest.raises(ValueError) as caught:
        registry.get("macd_cross")
    assert str(caught.value) == "Unknown strategy 'macd_cross': choose one of fused, hyperrsi, grid, options"


def test_a_strategy_that_cannot_load_leaves_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def without_options(name: str, package: str | None = None):
        if name == "engine.strategies.options":
            raise ModuleNotFoundError("No module named 'engine.strategies.options'")
        return real_import(name, package)

    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry.importlib, "import_module", without_options)
    with pytest.raises(ValueError) as caught:
        registry.get("options")
    message = str(caught.value)
    assert message.startswith("The options strategy is not available here") and "\n" not in message
    assert message.endswith("strategies: fused, hyperrsi, grid, options")
    assert registry.get("hyperrsi").name == "hyperrsi"
    assert registry.names() == ["fused", "hyperrsi", "grid", "options"]


# ------------------------------------------------------------------------------------------------------
# constructed series
# ------------------------------------------------------------------------------------------------------


def series(closes: list[float], decimals: int = 2) -> Candles:
    """Bars whose close is given; high/low ±0.5 around it, so every true range here is 1.5 (moves of ±1)."""
    close = np.array(closes, dtype=np.float64)
    n = len(close)
    return Candles(symbol="TEST/USD", timeframe="1h", timestamps=np.arange(n, dtype=np.int64) * 3600,
                   open=np.r_[close[:1], close[:-1]], high=close + 0.5, low=close - 0.5, close=close,
                   volume=np.full(n, 10.0), source="constructed", price_decimals=decimals)


def zigzag_then(first_step: int, run: list[int]) -> list[float]:
    """70 bars alternating ±1 from 100 (starting with `first_step`), then the steps of `run`."""
    closes = [100.0]
    for i in range(1, 70):
        closes.append(closes[-1] + (first_step if i % 2 else -first_step))
    for step in run:
        closes.append(closes[-1] + step)
    return closes


def wilder_rsi(closes: list[float], period: int = 14) -> list[float]:
    """Plain Wilder RSI: the first value at bar `period` from simple averages, then alpha = 1/period."""
    out = [math.nan] * len(closes)
    changes = [b - a for a, b in itertools.pairwise(closes)]
    gain = sum(max(c, 0.0) for c in changes[:period]) / period
    loss = sum(max(-c, 0.0) for c in changes[:period]) / period
    out[period] = 100.0 * gain / (gain + loss)
    for i in range(period + 1, len(closes)):
        change = changes[i - 1]
        gain = (gain * (period - 1) + max(change, 0.0)) / period
        loss = (loss * (period - 1) + max(-change, 0.0)) / period
        out[i] = 100.0 * gain / (gain + loss)
    return out


def plain_trend(closes: list[float], i: int) -> int:
    """HYPERRSI's trend state at bar i, by hand: population stddev bands, plain means, 20-bar momentum."""
    last20, last60 = closes[i - 19:i + 1], closes[i - 59:i + 1]
    ma20, ma60 = sum(last20) / 20, sum(last60) / 60
    std = statistics.pstdev(last20)
    upper, lower = ma20 + 2 * std, ma20 - 2 * std
    close, momentum = closes[i], closes[i] / closes[i - 20] - 1
    if close > upper and momentum > 0:
        return 2
    if close > ma20 > ma60 and momentum > 0:
        return 1
    if lower <= close <= upper:
        return 0
    if close < ma20 < ma60 and momentum < 0:
        return -1
    if close < lower and momentum < 0:
        return -2
    return 0


def test_hyperrsi_buys_where_rsi_crosses_into_oversold() -> None:
    # After the zigzag a +1 bar leaves Wilder's averages near gain 14/27, loss 13/27 (they sum to 1: every
    # move is 1), so m steady −1 bars later RSI ≈ 100 · 14/27 · (13/14)^m: 30.9 after 7, 28.7 after 8. The
    # 8th falling bar (bar 77) is where RSI crosses below 30.
    closes = zigzag_then(+1, [-1] * 12)
    rsi = wilder_rsi(closes)
    assert rsi[76] == pytest.approx(30.88, abs=0.01) and rsi[77] == pytest.approx(28.68, abs=0.01)
    assert plain_trend(closes, 77) == -1  # a downtrend (close < SMA20 < SMA60): the filter allows a long
    got = hyperrsi.STRATEGY.decide(series(closes), np.zeros(len(closes)), {})
    assert np.flatnonzero(got.side != HOLD).tolist() == [77] and got.side[77] == BUY
    assert got.first == 59  # SMA 60 is the last input to warm up
    assert float(got.score[77]) == pytest.approx((50 - rsi[77]) / 50)
    # entry 93.00: stop 5 % below, target 2 % above
    assert (to_decimal(float(got.stop_loss[77]), 2), to_decimal(float(got.take_profit[77]), 2)) == \
        (Decimal("88.35"), Decimal("94.86"))
    # the same with ATR levels: every true range is 1.5, so ATR(14) is 1.5 and the stop 1 ATR is 91.50
    atr = hyperrsi.STRATEGY.decide(series(closes), np.zeros(len(closes)), {"sl_option": "atr", "sl_value": 1})
    assert to_decimal(float(atr.stop_loss[77]), 2) == Decimal("91.50")
    # beyond: every bar below 30; short only: no long at all
    beyond = hyperrsi.STRATEGY.decide(series(closes), np.zeros(len(closes)), {"entry_option": "beyond"})
    assert np.flatnonzero(beyond.side == BUY).tolist() == list(range(77, 82))
    short = hyperrsi.STRATEGY.decide(series(closes), np.zeros(len(closes)), {"direction": "short"})
    assert (short.side == HOLD).all()


def test_hyperrsi_trend_filter_blocks_a_short_in_a_strong_uptrend() -> None:
    # the mirror: zigzag then steady +1 bars; RSI crosses above 70 on bar 77 (100 − 28.7 = 71.3 after 69.1),
    # where the close is above the upper band with positive momentum: strong uptrend, +2
    closes = zigzag_then(-1, [+1] * 12)
    rsi = wilder_rsi(closes)
    assert rsi[76] < 70 <= rsi[77]
    assert plain_trend(closes, 77) == 2
    filtered = hyperrsi.STRATEGY.decide(series(closes), np.zeros(len(closes)), {})
    assert (filtered.side == HOLD).all()
    free = hyperrsi.STRATEGY.decide(series(closes), np.zeros(len(closes)), {"use_trend_logic": "off"})
    assert np.flatnonzero(free.side != HOLD).tolist() == [77] and free.side[77] == SELL
    # entry 107.00: a short's stop 5 % above (112.35), target 2 % below (104.86)
    assert (to_decimal(float(free.stop_loss[77]), 2), to_decimal(float(free.take_profit[77]), 2)) == \
        (Decimal("112.35"), Decimal("104.86"))
    assert free.first == 15  # without the filter only RSI and its previous value are needed


def test_hyperrsi_trend_states_against_a_plain_computation() -> None:
    rng = np.random.default_rng(2)
    closes = (100 + np.cumsum(rng.normal(0, 1, 400))).tolist()
    states = hyperrsi.trend_state(np.array(closes))
    want = [plain_trend(closes, i) for i in range(60, 400)]
    assert states[60:].tolist() == want
    assert {-2, -1, 0, 1, 2} <= set(want)


def test_hyperrsi_cross_back_and_turn() -> None:
    closes = zigzag_then(+1, [-1] * 12 + [+1] * 10)
    rsi = wilder_rsi(closes)
    back = next(i for i in range(71, len(closes)) if rsi[i - 1] < 30 <= rsi[i])
    turn = [i for i in range(71, len(closes)) if (rsi[i - 1] < 30 or rsi[i] < 30) and rsi[i] > rsi[i - 1]]
    assert back > 82 and turn[0] == 82  # the first rising bar is a turn inside the zone
    off = {"use_trend_logic": False}
    got = hyperrsi.STRATEGY.decide(series(closes), np.zeros(len(closes)), {**off, "entry_option": "cross_back"})
    assert np.flatnonzero(got.side == BUY).tolist() == [back]
    got = hyperrsi.STRATEGY.decide(series(closes), np.zeros(len(closes)), {**off, "entry_option": "turn"})
    assert np.flatnonzero(got.side == BUY).tolist() == turn


def test_hyperrsi_and_grid_params() -> None:
    assert hyperrsi.STRATEGY.check_params({}) == hyperrsi.DEFAULTS
    assert grid.STRATEGY.check_params({}) == {"grid_num": 20, "grid_spacing": 0.8, "enter_strategy": "long-short",
                                              "stop_loss": 5.0}
    cases = [
        (hyperrsi.STRATEGY, {"buy": 0.3}, "hyperrsi has no parameter 'buy' (its parameters: rsi_length,"),
        (hyperrsi.STRATEGY, {"rsi_oversold": 80}, "rsi_oversold (80) must be below rsi_overbought (70)"),
        (hyperrsi.STRATEGY, {"rsi_length": 1}, "rsi_length must be between 2 and 100, got 1"),
        (hyperrsi.STRATEGY, {"rsi_length": 3.5}, "rsi_length must be a whole number"),
        (hyperrsi.STRATEGY, {"entry_option": "dip"}, "entry_option must be one of cross, cross_back, turn, beyond"),
        (hyperrsi.STRATEGY, {"use_trend_logic": "maybe"}, "use_trend_logic must be on or off"),
        (hyperrsi.STRATEGY, {"sl_value": 120}, "sl_value must be below 100 percent"),
        (hyperrsi.STRATEGY, {"tp_option": "price"}, "tp_option must be one of percent, atr"),
        (grid.STRATEGY, {"grid_num": 41}, "grid_num must be between 1 and 40, got 41"),
        (grid.STRATEGY, {"grid_spacing": 30}, "grid_spacing must be between 0.01 and 25, got 30"),
        (grid.STRATEGY, {"enter_strategy": "both"}, "enter_strategy must be one of long-short, long, short"),
        (grid.STRATEGY, {"grid_num": 40, "enter_strategy": "long", "grid_spacing": 2.5},
         "40 levels 2.5% apart below the price reach zero"),
        (grid.STRATEGY, {"sell": -0.3}, "grid has no parameter 'sell'"),
    ]
    for strategy, bad, words in cases:
        with pytest.raises(ValueError) as caught:
            strategy.check_params(bad)
        assert words in str(caught.value) and "\n" not in str(caught.value), (bad, str(caught.value))


# ------------------------------------------------------------------------------------------------------
# grid
# ------------------------------------------------------------------------------------------------------

GRID4 = {"grid_num": 4, "grid_spacing": 10, "enter_strategy": "long-short", "stop_loss": 15}


def test_grid_levels_and_fills_on_a_hand_made_path() -> None:
    # anchor 100, 10 % apart: buys at 90 and 80, sells at 110 and 120 (edges 70 and 130)
    closes = [100, 95, 88, 85, 79, 91, 101, 111, 99, 89, 75]
    #  bar 2: 95 → 88 crosses 90 down: buy 90 fills at 88 → BUY, target 100 (one level up), stop 88 × 0.85
    #  bar 3: 85 stays between 80 and 90: nothing
    #  bar 4: 85 → 79 crosses 80: buy 80 fills at 79 → BUY, target 90, stop 67.15
    #  bar 5: 91 reaches 90: the 80 level takes its profit and is open again (90 still filled)
    #  bar 6: 101 reaches 100: the 90 level takes its profit
    #  bar 7: 101 → 111 crosses 110 up: sell 110 fills at 111 → SELL, target 100, stop 111 × 1.15 = 127.65
    #  bar 8: 99 reaches 100: the short takes its profit
    #  bar 9: 89 crosses 90: BUY at 89 (stop 75.65)
    #  bar 10: 75 crosses 80: BUY at 75 (target 90, stop 63.75); 75 ≤ 75.65 stops the 89 entry out
    got = grid.STRATEGY.decide(series(closes), np.zeros(len(closes)), GRID4)
    assert got.side.tolist() == [HOLD, HOLD, BUY, HOLD, BUY, HOLD, HOLD, SELL, HOLD, BUY, BUY]
    assert got.extra["filled"].tolist() == [0, 0, 1, 1, 2, 1, 0, 1, 0, 1, 1]
    levels = {i: (to_decimal(float(got.stop_loss[i]), 2), to_decimal(float(got.take_profit[i]), 2))
              for i in np.flatnonzero(got.side != HOLD).tolist()}
    assert levels == {2: (Decimal("74.80"), Decimal("100.00")), 4: (Decimal("67.15"), Decimal("90.00")),
                      7: (Decimal("127.65"), Decimal("100.00")), 9: (Decimal("75.65"), Decimal("100.00")),
                      10: (Decimal("63.75"), Decimal("90.00"))}
    assert float(got.score[2]) == pytest.approx((100 - 88) / 30)  # 12 of the 30 down to the bottom edge
    assert float(got.score[7]) == pytest.approx(-(111 - 100) / 30)
    table = grid.level_table(series(closes), GRID4, start=0)
    assert [(lv.side, lv.price, lv.filled, lv.take_profit, lv.entry) for lv in table.levels] == [
        ("sell", Decimal("120.00"), False, Decimal("110.00"), None),
        ("sell", Decimal("110.00"), False, Decimal("100.00"), None),
        ("buy", Decimal("90.00"), False, Decimal("100.00"), None),
        ("buy", Decimal("80.00"), True, Decimal("90.00"), Decimal("75.00")),
    ]
    assert table.anchor == Decimal("100.00") and table.filled == 1 and table.recentred == 0


def test_grid_fresh_table_and_recentring() -> None:
    # a new grid starts around the newest price with nothing filled
    fresh = grid.level_table(series([100, 104, 120]), GRID4)
    assert fresh.anchor == Decimal("120.00") and fresh.filled == 0
    assert [lv.price for lv in fresh.levels] == [Decimal("144.00"), Decimal("132.00"), Decimal("108.00"),
                                                 Decimal("96.00")]
    # a long grid (buys at 90, 80) left upward by a close at or past 110 while empty moves there
    long_grid = {**GRID4, "grid_num": 2, "enter_strategy": "long"}
    closes = [100, 105, 112, 100]
    got = grid.STRATEGY.decide(series(closes), np.zeros(4), long_grid)
    assert got.extra["anchor"].tolist() == [100, 100, 112, 112]
    # around 112 the buys are at 100.8 and 89.6: 112 → 100 crosses 100.8 → BUY, target the anchor 112
    assert got.side.tolist() == [HOLD, HOLD, HOLD, BUY]
    assert (to_decimal(float(got.stop_loss[3]), 2), to_decimal(float(got.take_profit[3]), 2)) == \
        (Decimal("85.00"), Decimal("112.00"))
    table = grid.level_table(series(closes), long_grid, start=0)
    assert table.recentred == 1 and [(lv.price, lv.filled) for lv in table.levels] == [
        (Decimal("100.80"), True), (Decimal("89.60"), False)]


def plain_grid(closes: list[float], grid_num: int, spacing: float, enter: str, stop_loss: float) -> list[int]:
    """The grid's rules as a plain loop over every bar (no skipping of quiet bars)."""
    g, sl = spacing / 100, stop_loss / 100
    if enter == "long":
        ks = list(range(-grid_num, 0))
    elif enter == "short":
        ks = list(range(1, grid_num + 1))
    else:
        below = (grid_num + 1) // 2
        ks = list(range(-below, 0)) + list(range(1, grid_num - below + 1))
    low_edge, high_edge = min(min(ks), 0) - 1, max(max(ks), 0) + 1
    anchor, held = closes[0], {}
    sides = [HOLD]
    for c0, c1 in itertools.pairwise(closes):
        def line(k: int, a: float = anchor) -> float:
            return a * (1 + k * g)
        freed = {k for k, entry in held.items()
                 if (k < 0 and (c1 >= line(k + 1) or c1 <= entry * (1 - sl)))
                 or (k > 0 and (c1 <= line(k - 1) or c1 >= entry * (1 + sl)))}
        for k in freed:
            del held[k]
        side = HOLD
        for k in ks:
            if k in held or k in freed:
                continue
            if k < 0 and c0 > line(k) >= c1:
                held[k], side = c1, BUY
            elif k > 0 and c0 < line(k) <= c1:
                held[k], side = c1, SELL
        if side == HOLD and not held and (c1 >= line(high_edge) or c1 <= line(low_edge)):
            anchor = c1
        sides.append(side)
    return sides


@pytest.mark.parametrize(("grid_num", "spacing", "enter"), [(20, 0.8, "long-short"), (6, 1.5, "long"),
                                                              (5, 0.5, "short"), (1, 2.0, "long-short")])
def test_grid_against_a_plain_loop(grid_num: int, spacing: float, enter: str) -> None:
    rng = np.random.default_rng(grid_num)
    closes = (100 * np.exp(np.cumsum(rng.normal(0, 0.004, 3000)))).round(2).tolist()
    params = {"grid_num": grid_num, "grid_spacing": spacing, "enter_strategy": enter, "stop_loss": 3.0}
    got = grid.STRATEGY.decide(series(closes), np.zeros(len(closes)), params)
    want = plain_grid(closes, grid_num, spacing, enter, 3.0)
    assert got.side.tolist() == want
    assert want.count(BUY) + want.count(SELL) > 20
    assert len(set(got.extra["anchor"].tolist())) > 3  # the walk leaves the grid: it re-centres


# ------------------------------------------------------------------------------------------------------
# the live tip under any strategy
# ------------------------------------------------------------------------------------------------------


class NoFetch:
    """A market that must not be asked: parameters are refused before any data is fetched."""

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        raise AssertionError("fetched despite bad parameters")

    async def as_of(self, symbol: str) -> datetime | None:
        raise AssertionError("asked for the time despite bad parameters")


@pytest.mark.parametrize(("strategy", "strategy_params", "words"), [
    ("macd_cross", None, "Unknown strategy 'macd_cross': choose one of fused, hyperrsi, grid, options"),
    ("fused", {"buy_threshold": 0.5}, "fused has no parameter 'buy_threshold'"),
    ("hyperrsi", {"buy": -0.9}, "hyperrsi has no parameter 'buy'"),
    ("grid", {"grid_num": 0}, "grid_num must be between 1 and 40, got 0"),
])
async def test_bad_strategy_or_parameters_refused_before_fetching(strategy, strategy_params, words) -> None:
    with pytest.raises(ValueError) as caught:
        await generate_signal("BTC/USDT", "1h", SignalParams(), NoFetch(), CyclingSentiment(),  # type: ignore[arg-type]
                              strategy=strategy, strategy_params=strategy_params)
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("strategy", "strategy_params"), [
    ("hyperrsi", {"entry_option": "beyond", "rsi_oversold": 48, "rsi_overbought": 52, "use_trend_logic": False}),
    ("grid", {"grid_num": 10, "grid_spacing": 0.3}),
])
async def test_a_tip_is_the_strategys_newest_decision(strategy: str, strategy_params: dict) -> None:
    market = ReplayMarket(start="2024-05-01T00:00:00", speed=0)
    spy, sentiment = WindowSpy(market), CyclingSentiment()
    checked = registry.get(strategy).check_params(strategy_params)
    seen = set()
    for _ in range(40):
        tip = await generate_signal("BTC/USDT", "1h", SignalParams(), spy, sentiment,  # type: ignore[arg-type]
                                    strategy=strategy, strategy_params=strategy_params)
        assert spy.served is not None
        want = registry.get(strategy).decide(spy.served, np.zeros(len(spy.served)), checked)
        code = int(want.side[-1])
        assert tip.recommendation.value == {BUY: "BUY", SELL: "SELL", HOLD: "HOLD"}[code]
        assert tip.fused_score == float(want.score[-1]) and tip.confidence == abs(float(want.score[-1]))
        assert tip.stop_loss == to_decimal(float(want.stop_loss[-1]), spy.served.price_decimals)
        assert tip.take_profit == to_decimal(float(want.take_profit[-1]), spy.served.price_decimals)
        assert tip.extra["strategy"] == strategy and tip.extra["strategy_params"] == checked
        assert tip.params == SignalParams()  # the user's fused thresholds are kept, not used
        seen.add(tip.recommendation)
        market.advance(3 * 3600 + 600)
    assert Recommendation.HOLD in seen and len(seen) >= 2


async def test_fused_request_parameters_use_fuseds_keys() -> None:
    market = ReplayMarket(start="2024-05-01T00:00:00", speed=0)
    spy, sentiment = WindowSpy(market), CyclingSentiment()
    user = SignalParams(buy_threshold=0.2, sell_threshold=-0.2)
    tip = await generate_signal("BTC/USDT", "1h", user, spy, sentiment,  # type: ignore[arg-type]
                                strategy="fused", strategy_params={"tw": 0.9, "buy": -0.9, "sell": "-0.95"})
    # the request's keys over the user's thresholds; one weight alone sets the other; stored as used
    assert tip.params == SignalParams(buy_threshold=-0.9, sell_threshold=-0.95, technical_weight=0.9,
                                      sentiment_weight=0.1)  # round(1 − 0.9, 10)
    assert spy.served is not None and sentiment.last is not None
    want = reference_tip(spy.served, sentiment.last, tip.params, 2.0, 3.0)
    assert (tip.recommendation, tip.fused_score, tip.stop_loss) == (want.recommendation, want.fused, want.stop_loss)
    assert tip.extra["strategy"] == "fused" and tip.extra["strategy_params"]["tw"] == 0.9
    plain = await generate_signal("BTC/USDT", "1h", user, spy, sentiment)  # type: ignore[arg-type]
    assert plain.extra["strategy"] == "fused" and "strategy_params" not in plain.extra and plain.params == user


def test_live_quote_sets_the_newest_bars_levels(cuts: list[Cut]) -> None:
    """A live source quotes the last trade: the tip's levels are set from it, as before strategies."""
    moved = 0
    for i, cut in enumerate(cuts[:60]):
        quote = round(float(cut.candles.close[-1]) * (1 + (i % 7 - 3) * 0.0011), cut.candles.price_decimals)
        live = cut.candles.model_copy(update={"last_price": quote})
        want = reference_tip(live, cut.reading, cut.params, cut.sl_atr, cut.tp_atr)
        got = build_signal(live, snapshot(live), cut.reading, cut.params, sl_atr=cut.sl_atr, tp_atr=cut.tp_atr)
        assert (got.recommendation, got.price, got.stop_loss, got.take_profit) == \
            (want.recommendation, want.price, want.stop_loss, want.take_profit)
        plain = reference_tip(cut.candles, cut.reading, cut.params, cut.sl_atr, cut.tp_atr)
        moved += want.stop_loss is not None and want.stop_loss != plain.stop_loss
    assert moved > 5
