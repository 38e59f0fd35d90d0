"""How numbers read on cards and in replies: the decimals that decide a tip, no `-0.00`, one money format."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core import cards
from bot.core import formatting as fmt
from engine import risk_checks
from engine.models import IndicatorSnapshot, Recommendation, Signal, SignalParams

ROOT = Path(__file__).resolve().parents[2]


def make_signal(fused: float, *, technical: float = 0.5, sentiment: float = 0.0,
                recommendation: Recommendation = Recommendation.HOLD,
                params: SignalParams | None = None) -> Signal:
    snap = IndicatorSnapshot(rsi=55.0, ema_fast=100.0, ema_slow=99.0, macd=0.5, macd_signal=0.4, macd_hist=0.1,
                             atr=1.5, bb_upper=103.0, bb_middle=100.0, bb_lower=97.0, sma_20=100.0, sma_50=98.0,
                             volume_ratio=1.1)
    return Signal(symbol="BTC/USDT", timeframe="1h", recommendation=recommendation, confidence=abs(fused),
                  technical_score=technical, sentiment_score=sentiment, fused_score=fused, rsi_score=0.1,
                  macd_score=0.2, price=Decimal("100.00"), atr=Decimal("1.50"), indicators=snap,
                  params=params or SignalParams(), data_source="test", bar_time=datetime(2024, 5, 1, tzinfo=UTC),
                  demo=True, sentiment_texts=0)


# ---- scores ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "shown"), [
    (-0.001, "+0.00"), (-0.004999, "+0.00"), (-0.0, "+0.00"), (0.0, "+0.00"), (-0.006, "-0.01"), (0.25, "+0.25"),
])
def test_a_score_that_rounds_to_zero_has_no_minus(value: float, shown: str) -> None:
    assert fmt.score(value) == shown


@pytest.mark.parametrize(("value", "limits", "decimals"), [
    (0.2961, (0.3, -0.3), 3),     # +0.30 vs +0.30 would hide the miss: +0.296 vs +0.300
    (0.2996, (0.3, -0.3), 4),     # +0.300 vs +0.300 still hides it: +0.2996 vs +0.3000
    (0.45, (0.3, -0.3), 2),       # far from both: two decimals
    (0.3, (0.3, -0.3), 2),        # equal to the threshold: it reads equal, as it is
    (-0.30004, (0.3, -0.3), 5),
    (0.000001, (0.0,), 6),        # past a zero threshold: not "+0.00" against "+0.00"
])
def test_decisive_decimals(value: float, limits: tuple[float, ...], decimals: int) -> None:
    assert fmt.decisive_decimals(value, *limits) == decimals


def test_card_near_threshold_shows_the_deciding_decimals() -> None:
    card = cards.tip_card(make_signal(0.2961))
    assert "fused +0.296" in card
    assert "buy ≥ +0.300, sell ≤ -0.300" in card
    # Far from the thresholds the card keeps two decimals.
    far = cards.tip_card(make_signal(0.12))
    assert "fused +0.12" in far and "buy ≥ +0.30, sell ≤ -0.30" in far


def test_card_and_reasoning_never_show_negative_zero() -> None:
    signal = make_signal(-0.001, technical=-0.004, sentiment=-0.003)
    card = cards.tip_card(signal)
    assert "-0.00" not in card and "−0.00" not in card
    assert signal.reasoning == "Technical: 0.00, Sentiment: 0.00, Fused: 0.00"
    # The reasoning keeps its format otherwise.
    assert make_signal(0.07, technical=0.07, sentiment=0.08).reasoning == \
        "Technical: 0.07, Sentiment: 0.08, Fused: 0.07"
    assert make_signal(-0.2, technical=-0.25, sentiment=-0.125).reasoning == \
        "Technical: -0.25, Sentiment: -0.12, Fused: -0.20"


# ---- money -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "kwargs", "shown"), [
    (Decimal("-20.39"), {}, "−$20.39"),
    (Decimal("20.39"), {}, "$20.39"),
    (Decimal("1234.5"), {}, "$1,234.50"),
    (Decimal("-2018.004"), {}, "−$2,018.00"),
    (Decimal("-0.004"), {}, "$0.00"),          # no minus on an amount that reads as zero
    (Decimal("6.15"), {"signed": True}, "+$6.15"),
    (Decimal("-6.15"), {"signed": True}, "−$6.15"),
    (Decimal("0"), {"signed": True}, "$0.00"),
    (1000, {"cents": False}, "$1,000"),
    (Decimal("10000000"), {}, "$10,000,000.00"),
])
def test_money(value: Decimal | int, kwargs: dict[str, bool], shown: str) -> None:
    assert fmt.money(value, **kwargs) == shown


@pytest.mark.parametrize("value", ["-2018.25", "-20.39", "-0.004", "0", "0.5", "1234.5", "10000000"])
def test_risk_check_messages_use_the_same_money_format(value: str) -> None:
    # engine/ cannot import bot/, so the risk checks format money themselves: they must read the same.
    assert risk_checks._money(Decimal(value)) == fmt.money(Decimal(value))


def test_no_view_formats_dollars_itself() -> None:
    """Every `$` amount in bot/ goes through formatting.money (grep for "$" next to a value)."""
    pattern = re.compile(r"""\$\{|["']\$["']\s*\+|\$-""")
    offenders = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if path.name == "formatting.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
