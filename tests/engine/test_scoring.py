from decimal import Decimal

import pytest

from engine.models import Recommendation
from engine.risk import stop_levels
from engine.scoring import classify_many, fuse, macd_score, technical_score


def test_seed_000_worked_example():
    # RSI 45, MACD hist -200, scale 1000, sentiment -0.25, thresholds ±0.5, weights 0.6/0.4.
    tech = technical_score(45, -200, macd_scale=1000)
    assert tech == pytest.approx(-0.15)
    result = fuse(tech, -0.25, 0.6, 0.4, buy_threshold=0.5, sell_threshold=-0.5)
    assert result.fused == pytest.approx(-0.19)
    assert result.recommendation == "HOLD"
    assert result.confidence == pytest.approx(0.19)
    assert isinstance(result.fused, float) and isinstance(result.confidence, float)


def test_atr_scale_is_unit_free():
    # The same histogram/ATR ratio scores the same on BTC and on EUR/USD.
    assert technical_score(50, 300.0, atr=600.0) == pytest.approx(technical_score(50, 0.0003, atr=0.0006))
    assert macd_score(300.0, 600.0) == pytest.approx(0.5)


def test_macd_score_is_clipped():
    assert macd_score(5000, macd_scale=1000) == 1.0
    assert macd_score(-5000, macd_scale=1000) == -1.0
    assert technical_score(100, 10**9, macd_scale=1000) == 1.0
    assert technical_score(0, -(10**9), macd_scale=1000) == -1.0


def test_atr_scale_needs_positive_atr():
    with pytest.raises(ValueError, match="ATR"):
        technical_score(50, 1.0, atr=0.0)
    with pytest.raises(ValueError, match="ATR"):
        technical_score(50, 1.0, atr=None)
    with pytest.raises(ValueError):
        technical_score(float("nan"), 1.0, atr=1.0)


@pytest.mark.parametrize(
    ("fused_inputs", "expected"),
    [((0.5, 0.0), "BUY"), ((-0.5, 0.0), "SELL"), ((0.1, 0.1), "HOLD")],
)
def test_fuse_recommendations(fused_inputs, expected):
    assert fuse(*fused_inputs).recommendation == expected


def test_threshold_boundaries_are_inclusive():
    # tech 0.5 with weights 0.6/0.4 and sentiment 0 → fused exactly 0.3 = buy threshold.
    assert fuse(0.5, 0.0).recommendation == "BUY"
    assert fuse(-0.5, 0.0).recommendation == "SELL"


def test_fuse_refuses_bad_parameters():
    with pytest.raises(ValueError, match="sum to 1"):
        fuse(0.1, 0.1, technical_weight=0.7, sentiment_weight=0.4)
    with pytest.raises(ValueError, match="greater than sell"):
        fuse(0.1, 0.1, buy_threshold=-0.2, sell_threshold=0.2)
    with pytest.raises(ValueError, match="greater than sell"):
        fuse(0.1, 0.1, buy_threshold=0.2, sell_threshold=0.2)
    with pytest.raises(ValueError):
        fuse(0.1, 0.1, technical_weight=1.5, sentiment_weight=-0.5)


def test_classify_many_matches_scalar():
    import numpy as np

    fused = np.array([0.3, 0.29, -0.3, -0.31, 0.0])
    out = classify_many(fused, np.full(5, 0.3), np.full(5, -0.3))
    assert out.tolist() == [1, 0, -1, -1, 0]


def test_stop_levels():
    close, atr = Decimal("45000.00"), Decimal("1500")
    assert stop_levels(Recommendation.BUY, close, atr) == (Decimal("42000.00"), Decimal("49500.00"))
    assert stop_levels("SELL", close, atr) == (Decimal("48000.00"), Decimal("40500.00"))
    assert stop_levels("HOLD", close, atr) == (None, None)
    # Tick precision and no negative prices.
    sl, tp = stop_levels("BUY", Decimal("1.05227"), Decimal("0.000123"), decimals=5)
    # 1.05227 − 0.000246 = 1.052024 → 1.05202 (away); 1.05227 + 0.000369 = 1.052639 → 1.05263 (toward the price)
    assert (sl, tp) == (Decimal("1.05202"), Decimal("1.05263"))
    sl, _ = stop_levels("BUY", Decimal("1.00"), Decimal("5"), decimals=2)
    assert sl == Decimal("0.01")
