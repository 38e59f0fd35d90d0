"""Re-scoring many tips on the same market at once (SPEC §3): one indicator pass, one sentiment reading,
then every tip's own thresholds and weights applied as numpy arrays instead of a loop of `fuse` calls."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.models import IndicatorSnapshot, Recommendation, SignalParams
from engine.scoring import classify_many, technical_score

_CODES = {1: Recommendation.BUY, -1: Recommendation.SELL, 0: Recommendation.HOLD}


@dataclass(frozen=True, slots=True)
class GroupScores:
    technical: np.ndarray
    fused: np.ndarray
    codes: np.ndarray  # 1 BUY, -1 SELL, 0 HOLD

    def recommendation(self, i: int) -> Recommendation:
        return _CODES[int(self.codes[i])]


def rescore_group(values: IndicatorSnapshot, sentiment: float, params: list[SignalParams]) -> GroupScores:
    """Scores of every tip in a (symbol, timeframe) group under its own parameters."""
    n = len(params)
    tw = np.fromiter((p.technical_weight for p in params), float, n)
    sw = np.fromiter((p.sentiment_weight for p in params), float, n)
    buy = np.fromiter((p.buy_threshold for p in params), float, n)
    sell = np.fromiter((p.sell_threshold for p in params), float, n)
    # The technical score depends only on the MACD scale; tips share a handful of scales at most.
    by_scale: dict[str | float, float] = {}
    technical = np.empty(n)
    for i, p in enumerate(params):
        scale = p.macd_scale
        if scale not in by_scale:
            by_scale[scale] = technical_score(values.rsi, values.macd_hist, values.atr, scale)
        technical[i] = by_scale[scale]
    fused = np.round(tw * technical + sw * sentiment, 12)
    return GroupScores(technical=technical, fused=fused, codes=classify_many(fused, buy, sell))
