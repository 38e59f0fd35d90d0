"""Technical score and sentiment fusion (SPEC §2 steps 3 and 5; seed 000 §1 steps 6 and 8).

Scores are floats in [-1, 1]: they are measurements, not money. The functions accept numpy arrays as well
as scalars so monitoring can re-score a whole group of signals at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.models import Recommendation

MacdScale = Literal["atr"] | float


def rsi_score(rsi: float) -> float:
    """RSI 0..100 mapped linearly onto -1..1 (50 is neutral)."""
    return float(np.clip((rsi - 50.0) / 50.0, -1.0, 1.0))


def macd_score(macd_hist: float, atr: float | None = None, macd_scale: MacdScale = "atr") -> float:
    """MACD histogram normalised into [-1, 1].

    With `atr` the histogram is divided by ATR(14) so the score means the same on BTC at 60,000 and on
    EUR/USD at 1.05; a number divides by that constant (1000 reproduces seed 000 exactly).
    """
    divisor = _macd_divisor(atr, macd_scale)
    return float(np.clip(macd_hist / divisor, -1.0, 1.0))


def _macd_divisor(atr: float | None, macd_scale: MacdScale) -> float:
    if macd_scale == "atr":
        if atr is None or not math.isfinite(atr) or atr <= 0:
            raise ValueError("macd_scale 'atr' needs a positive ATR")
        return float(atr)
    scale = float(macd_scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError("macd_scale must be 'atr' or a positive number")
    return scale


def technical_score(
    rsi: float, macd_hist: float, atr: float | None = None, macd_scale: MacdScale = "atr"
) -> float:
    """Mean of the RSI and MACD scores (seed 000: `(rsi_score + macd_score) / 2`)."""
    for name, value in (("rsi", rsi), ("macd_hist", macd_hist)):
        if not math.isfinite(value):
            raise ValueError(f"{name} is not a finite number (not enough bars?)")
    return (rsi_score(rsi) + macd_score(macd_hist, atr, macd_scale)) / 2.0


@dataclass(frozen=True, slots=True)
class Fusion:
    recommendation: str
    fused: float
    confidence: float


def validate_params(
    technical_weight: float, sentiment_weight: float, buy_threshold: float, sell_threshold: float
) -> None:
    """Refuse weights that do not sum to 1 and thresholds that leave no HOLD band (or invert it)."""
    for name, value in (("technical_weight", technical_weight), ("sentiment_weight", sentiment_weight)):
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
    if abs(technical_weight + sentiment_weight - 1.0) > 1e-9:
        raise ValueError(
            f"weights must sum to 1 (technical {technical_weight:g} + sentiment {sentiment_weight:g})"
        )
    for name, value in (("buy_threshold", buy_threshold), ("sell_threshold", sell_threshold)):
        if not math.isfinite(value) or not -1.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between -1 and 1")
    if buy_threshold <= sell_threshold:
        raise ValueError(
            f"buy threshold ({buy_threshold:g}) must be greater than sell threshold ({sell_threshold:g})"
        )


def fuse(
    technical: float,
    sentiment: float,
    technical_weight: float = 0.6,
    sentiment_weight: float = 0.4,
    buy_threshold: float = 0.3,
    sell_threshold: float = -0.3,
) -> Fusion:
    """`fused = tw·technical + sw·sentiment`; BUY if ≥ buy, SELL if ≤ sell, else HOLD; confidence = |fused|."""
    validate_params(technical_weight, sentiment_weight, buy_threshold, sell_threshold)
    fused = technical_weight * technical + sentiment_weight * sentiment
    # Round away float noise (0.6*-0.15 + 0.4*-0.25 is -0.19000000000000003) so a score that equals a
    # threshold on paper also equals it here.
    fused = round(fused, 12)
    return Fusion(recommendation=str(classify(fused, buy_threshold, sell_threshold)), fused=fused,
                  confidence=abs(fused))


def classify(fused: float, buy_threshold: float, sell_threshold: float) -> Recommendation:
    if fused >= buy_threshold:
        return Recommendation.BUY
    if fused <= sell_threshold:
        return Recommendation.SELL
    return Recommendation.HOLD


def classify_many(fused: np.ndarray, buy: np.ndarray, sell: np.ndarray) -> np.ndarray:
    """Vectorised `classify` for monitoring: 1 = BUY, -1 = SELL, 0 = HOLD."""
    fused = np.round(fused, 12)
    return np.where(fused >= buy, 1, np.where(fused <= sell, -1, 0))
