"""Group re-scoring against the per-tip pipeline it replaces: `fuse` per tip and `build_signal` per tip."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from engine.market.replay import ReplayMarket
from engine.models import Candles, ScoredText, SentimentReading, SignalParams
from engine.reevaluate import CODES, GroupRebuild, recommendation, rescore, technical_scores
from engine.scoring import fuse, technical_score
from engine.signals import build_signal, snapshot


def random_params(rng: np.random.Generator, n: int, scales: list[str | float]) -> list[SignalParams]:
    out = []
    for i in range(n):
        tw = round(float(rng.uniform(0.0, 1.0)), int(rng.integers(1, 4)))
        buy = float(rng.uniform(-0.3, 0.6))
        out.append(SignalParams(buy_threshold=buy, sell_threshold=buy - float(rng.uniform(0.01, 0.6)),
                                technical_weight=tw, sentiment_weight=1 - tw, macd_scale=scales[i % len(scales)]))
    return out


@pytest.fixture(scope="module")
def candles() -> Candles:
    import asyncio

    market = ReplayMarket(start="2024-06-01", speed=0)
    return asyncio.run(market.fetch_ohlcv("ETH/USDT", "1h", 200))


def reading() -> SentimentReading:
    item = ScoredText(text="ETH rallies", source="test", published=datetime(2024, 5, 31, tzinfo=UTC), score=0.4)
    return SentimentReading(score=0.137, available=True, texts=1, model="offline", source="test", items=[item],
                            sources=["test"])


def test_rescore_matches_fuse_per_tip():
    rng = np.random.default_rng(11)
    params = random_params(rng, 500, ["atr"])
    technical = rng.uniform(-1, 1, 500)
    sentiment = rng.uniform(-1, 1, 500)
    scores = rescore(technical, sentiment, np.array([p.technical_weight for p in params]),
                     np.array([p.sentiment_weight for p in params]), np.array([p.buy_threshold for p in params]),
                     np.array([p.sell_threshold for p in params]))
    for i, p in enumerate(params):
        expected = fuse(float(technical[i]), float(sentiment[i]), p.technical_weight, p.sentiment_weight,
                        p.buy_threshold, p.sell_threshold)
        assert scores.fused[i] == pytest.approx(expected.fused, abs=1e-12)
        assert recommendation(scores.codes[i]).value == expected.recommendation
    assert set(scores.codes.tolist()) == set(CODES.values())  # the sample reaches BUY, SELL and HOLD


def test_technical_scores_per_scale(candles: Candles):
    values = snapshot(candles)
    scales: list[str | float] = ["atr", 1000.0, 25.0]
    assert technical_scores(values, scales).tolist() == [
        technical_score(values.rsi, values.macd_hist, values.atr, s) for s in scales]
    with pytest.raises(ValueError):
        technical_scores(values, ["atr", -1.0])


def test_group_rebuild_gives_build_signals_result(candles: Candles):
    values = snapshot(candles)
    rebuild = GroupRebuild(candles, values, reading(), sl_atr=1.5, tp_atr=2.5)
    rng = np.random.default_rng(5)
    params = random_params(rng, 300, ["atr", 50.0, "atr", "20"])
    seen = set()
    for p in params:
        got = rebuild.signal(p)
        want = build_signal(candles, values, reading(), p, sl_atr=1.5, tp_atr=2.5)
        assert got.model_dump(exclude={"created_at"}) == want.model_dump(exclude={"created_at"})
        seen.add(got.recommendation)
    assert len(seen) == 3  # BUY, SELL and HOLD tips, so every stop-level variant was rebuilt
