"""`fused`, the default strategy: SPEC §2's engine over every bar.

Per bar: RSI(14) and MACD(12,26,9) histogram scores (`rsi_score = clip((rsi − 50) / 50)`, `macd_score =
clip(hist / scale)` with scale ATR(14) or a number), technical = their mean, fused = tw·technical +
sw·sentiment rounded to 12 places, BUY when fused ≥ buy, SELL when ≤ sell, else HOLD; BUY/SELL set
SL/TP at sl_atr/tp_atr ATRs from the quoted price (engine.strategies.levels). The live tip is this
decision on the newest bar (engine.signals), a backtest every bar: one implementation of each rule.

The arithmetic is `engine.scoring`'s (technical_score, fuse) operation for operation, as arrays, so every
bar's numbers are the very floats the scalar functions give (tests/engine/test_strategies.py checks both).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine import indicators
from engine.models import Candles, SignalParams
from engine.strategies import params as read
from engine.strategies.base import BUY, HOLD, SELL, Decisions
from engine.strategies.levels import atr_levels, entry_prices

DEFAULTS: dict[str, Any] = {"buy": 0.3, "sell": -0.3, "tw": 0.6, "sw": 0.4, "macd_scale": "atr",
                            "sl_atr": 2.0, "tp_atr": 3.0}


def round12(values: np.ndarray) -> np.ndarray:
    """Python's `round(x, 12)` for every element (what `scoring.fuse` applies), at numpy speed.

    `np.round` multiplies by 10¹² first, and that product's own rounding can tip a value lying within float
    noise of a half onto the other side (about 2 values in 100,000); those few are rounded by Python.
    """
    scaled = values * 1e12
    out = np.rint(scaled) / 1e12
    with np.errstate(invalid="ignore"):
        doubtful = np.flatnonzero(np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-3)
    for i in doubtful.tolist():
        out[i] = round(float(values[i]), 12)
    return out


def _macd_scale(value: Any) -> str | float:
    if isinstance(value, str) and value.strip().lower() == "atr":
        return "atr"
    try:
        return read.number("macd_scale", value, above=0.0)
    except ValueError:
        raise ValueError(f"macd_scale must be 'atr' or a positive number, got {value!r}") from None


class FusedStrategy:
    name = "fused"
    summary = "technical score (RSI, MACD) fused with news sentiment; SL/TP in ATRs (SPEC §2)"
    defaults = DEFAULTS

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        read.unknown_keys(self.name, params, DEFAULTS)
        out = dict(DEFAULTS)
        for key in ("buy", "sell"):
            if key in params:
                out[key] = read.number(key, params[key], -1.0, 1.0)
        given = {key: read.number(key, params[key], 0.0, 1.0) for key in ("tw", "sw") if key in params}
        if len(given) == 1:  # one weight alone sets the other to 1 − it (SPEC §2 step 5)
            (key, value), = given.items()
            other = "sw" if key == "tw" else "tw"
            given[other] = round(1.0 - value, 10)
        out.update(given)
        if abs(out["tw"] + out["sw"] - 1.0) > 1e-9:
            raise ValueError(f"tw and sw must sum to 1 (tw {out['tw']:g} + sw {out['sw']:g})")
        if out["buy"] <= out["sell"]:
            raise ValueError(f"buy ({out['buy']:g}) must be greater than sell ({out['sell']:g})")
        if "macd_scale" in params:
            out["macd_scale"] = _macd_scale(params["macd_scale"])
        for key in ("sl_atr", "tp_atr"):
            if key in params:
                out[key] = read.number(key, params[key], above=0.0)
        return out

    def decide(self, candles: Candles, sentiment: np.ndarray, params: Mapping[str, Any]) -> Decisions:
        p = self.check_params(params)
        n = len(candles)
        sent = np.nan_to_num(np.asarray(sentiment, dtype=np.float64), nan=0.0)
        if sent.shape != (n,):
            raise ValueError(f"sentiment has {sent.shape[0] if sent.ndim else 0} values for {n} bars")
        ind = indicators.compute_all(candles)
        rsi, hist, atr = ind.rsi14, ind.macd_hist, ind.atr14
        with np.errstate(invalid="ignore", divide="ignore"):
            rsi_s = np.clip((rsi - 50.0) / 50.0, -1.0, 1.0)
            # ATR 0 (flat prices) scores nothing: the scalar rule refuses it, so such a bar holds.
            divisor = np.where(atr > 0, atr, np.nan) if p["macd_scale"] == "atr" else float(p["macd_scale"])
            macd_s = np.clip(hist / divisor, -1.0, 1.0)
            technical = (rsi_s + macd_s) / 2.0
            fused = round12(p["tw"] * technical + p["sw"] * sent)
            side = np.where(fused >= p["buy"], BUY, np.where(fused <= p["sell"], SELL, HOLD)).astype(np.int8)
        stop, target = atr_levels(side, entry_prices(candles), atr, p["sl_atr"], p["tp_atr"],
                                  candles.price_decimals)
        warm = np.isfinite(rsi) & np.isfinite(hist) & np.isfinite(atr)
        first = int(np.argmax(warm)) if warm.any() else n
        return Decisions(side=side, score=fused, stop_loss=stop, take_profit=target, first=first,
                         extra={"technical": technical, "rsi_score": rsi_s, "macd_score": macd_s,
                                "sentiment": sent, "rsi": rsi, "macd_hist": hist, "atr": atr})


def params_from(signal_params: SignalParams, sl_atr: float, tp_atr: float) -> dict[str, Any]:
    """The fused keys for a user's thresholds and weights (the bot's SignalParams) and the risk multipliers."""
    return {"buy": signal_params.buy_threshold, "sell": signal_params.sell_threshold,
            "tw": signal_params.technical_weight, "sw": signal_params.sentiment_weight,
            "macd_scale": signal_params.macd_scale, "sl_atr": sl_atr, "tp_atr": tp_atr}


def signal_params(params: Mapping[str, Any]) -> SignalParams:
    """The checked fused keys as the SignalParams a tip stores (monitoring re-scores with them)."""
    return SignalParams(buy_threshold=params["buy"], sell_threshold=params["sell"],
                        technical_weight=params["tw"], sentiment_weight=params["sw"],
                        macd_scale=params["macd_scale"])


STRATEGY = FusedStrategy()
