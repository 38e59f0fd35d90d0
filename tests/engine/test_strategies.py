"""Strategies as plug-ins (issue 11).

The fused strategy must be the live tip's rule: `reference_tip` below is the tip pipeline as it stood before
strategies existed (snapshot → technical score → fusion → ATR levels from the quoted price, rounded once to
the tick), written out scalar by scalar. It checks `generate_signal` and the fused strategy's last bar at many
replay cut points of the bundled BTC/USDT 1h and AAPL 1d candles.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pytest

from engine.market.replay import ReplayMarket
from engine.models import AssetClass, Candles, Recommendation, SentimentReading, Signal, SignalParams
from engine.risk import quantize_price, stop_levels
from engine.scoring import fuse, macd_score, rsi_score, technical_score
from engine.signals import generate_signal, snapshot

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
