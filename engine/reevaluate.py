"""Re-scoring many tips on the same market at once (SPEC §3): one indicator pass, one sentiment reading,
then every tip's own thresholds and weights applied as numpy arrays instead of a loop of `fuse` calls.

`GroupRebuild` then gives the few tips whose recommendation changed their fresh `Signal`, exactly as
`build_signal` would, without redoing the group's shared work (prices, risk levels, model validation) per tip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from engine.models import Candles, IndicatorSnapshot, Recommendation, SentimentReading, Signal, SignalParams
from engine.scoring import classify_many, fuse, technical_score
from engine.signals import build_signal, signal_levels

# The codes `classify_many` returns.
CODES = {Recommendation.BUY: 1, Recommendation.SELL: -1, Recommendation.HOLD: 0}
_BY_CODE = {code: rec for rec, code in CODES.items()}


def recommendation(code: int) -> Recommendation:
    return _BY_CODE[int(code)]


@dataclass(frozen=True, slots=True)
class Scores:
    technical: np.ndarray
    fused: np.ndarray
    codes: np.ndarray  # CODES: 1 BUY, -1 SELL, 0 HOLD


def technical_scores(values: IndicatorSnapshot, scales: Sequence[str | float]) -> np.ndarray:
    """The technical score under each MACD scale: the only tip parameter it depends on."""
    return np.array([technical_score(values.rsi, values.macd_hist, values.atr, scale) for scale in scales], float)


def rescore(technical: np.ndarray, sentiment: float | np.ndarray, technical_weight: np.ndarray,
            sentiment_weight: np.ndarray, buy: np.ndarray, sell: np.ndarray) -> Scores:
    """Every tip's fused score and recommendation under its own weights and thresholds (`fuse`, as arrays)."""
    fused = np.round(technical_weight * technical + sentiment_weight * sentiment, 12)
    return Scores(technical=technical, fused=fused, codes=classify_many(fused, buy, sell))


def settle_changes(current: np.ndarray, proposed: np.ndarray, fused: np.ndarray, buy: np.ndarray,
                   sell: np.ndarray, hysteresis: float, pending: np.ndarray) -> np.ndarray:
    """The codes tips move to, with hysteresis (SPEC §3): a proposed change is taken when the fused score is
    at least `hysteresis` past the threshold it crossed, or when `pending` shows the same change proposed on
    the previous cycle; otherwise the tip keeps its current code.

    The threshold crossed: into BUY it is `buy` (fused ≥ buy + h), into SELL `sell` (fused ≤ sell − h), and
    back to HOLD the one the tip leaves (from BUY fused ≤ buy − h, from SELL fused ≥ sell + h).
    """
    h = hysteresis
    margin = np.select(
        [proposed == 1, proposed == -1, current == 1, current == -1],
        [fused - buy, sell - fused, buy - fused, fused - sell],
        default=np.inf,
    )
    # A tiny tolerance: fused is rounded to 12 places, thresholds are user floats like 0.3.
    taken = (proposed == current) | (margin >= h - 1e-12) | (pending == proposed)
    return np.where(taken, proposed, current)


class _GroupInputs:
    """One market group's shared inputs to `build_signal`: its candles, indicators and sentiment reading, and
    the risk settings' stop and target distances."""

    def __init__(self, candles: Candles, values: IndicatorSnapshot, reading: SentimentReading, *,
                 sl_atr: float = 2.0, tp_atr: float = 3.0) -> None:
        self.candles = candles
        self.values = values
        self.reading = reading
        self.sl_atr = sl_atr
        self.tp_atr = tp_atr


class GroupRebuild(_GroupInputs):
    """`build_signal` for many parameter sets on one market: the same Signals, the shared work done once.

    A tip's Signal depends on its parameters only through the technical and MACD scores (its MACD scale),
    the fusion and the risk levels (its recommendation); everything else is the group's.
    """

    def __init__(self, candles: Candles, values: IndicatorSnapshot, reading: SentimentReading, *,
                 sl_atr: float = 2.0, tp_atr: float = 3.0) -> None:
        super().__init__(candles, values, reading, sl_atr=sl_atr, tp_atr=tp_atr)
        self._by_scale: dict[str | float, Signal] = {}
        self._stops: dict[Recommendation, tuple[Decimal | None, Decimal | None]] = {}

    def signal(self, params: SignalParams) -> Signal:
        base = self._by_scale.get(params.macd_scale)
        if base is None:
            base = build_signal(self.candles, self.values, self.reading, params, sl_atr=self.sl_atr,
                                tp_atr=self.tp_atr)
            self._by_scale[params.macd_scale] = base
            self._stops.setdefault(base.recommendation, (base.stop_loss, base.take_profit))
            return base
        fusion = fuse(base.technical_score, base.sentiment_score, params.technical_weight, params.sentiment_weight,
                      params.buy_threshold, params.sell_threshold)
        rec = Recommendation(fusion.recommendation)
        stops = self._stops.get(rec)
        if stops is None:
            stops = signal_levels(rec, self.candles, self.values, self.sl_atr, self.tp_atr)
            self._stops[rec] = stops
        return base.model_copy(update={
            "recommendation": rec, "confidence": fusion.confidence, "fused_score": fusion.fused,
            "stop_loss": stops[0], "take_profit": stops[1], "params": params,
        })


class StrategyRebuild(_GroupInputs):
    """`build_signal` by a tip's own strategy (one other than fused) on a group's shared inputs: the slower path
    for the few tips another strategy made. Each distinct (strategy, parameters) decides once per group."""

    def __init__(self, candles: Candles, values: IndicatorSnapshot, reading: SentimentReading, *,
                 sl_atr: float = 2.0, tp_atr: float = 3.0) -> None:
        super().__init__(candles, values, reading, sl_atr=sl_atr, tp_atr=tp_atr)
        self._built: dict[str, Signal] = {}

    def signal(self, params: SignalParams, strategy: str, strategy_params: Mapping[str, Any]) -> Signal:
        key = json.dumps([strategy, params.model_dump(mode="json"), dict(strategy_params)], sort_keys=True,
                         default=str)
        built = self._built.get(key)
        if built is None:
            built = build_signal(self.candles, self.values, self.reading, params, sl_atr=self.sl_atr,
                                 tp_atr=self.tp_atr, strategy=strategy, strategy_params=strategy_params)
            self._built[key] = built
        return built
