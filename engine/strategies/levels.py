"""Entry prices and stop/target levels shared by every strategy, vectorised, on the symbol's tick.

A decision's levels are set from the price the tip is quoted at: the bar's close, and on the newest bar of a
live series the last trade (a trader acts on the price now; `quoted_price`). They are rounded once to the
tick, stops away from the price and targets toward it (BUY: both down, SELL: both up), never below one tick,
as `engine.risk.stop_levels` rounds the live tip's levels — so a backtest follows exactly the levels a tip
would have shown, and `to_decimal` turns the last bar's into the tip's Decimals without rounding again.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from engine.models import Candles, Recommendation
from engine.risk import stop_levels
from engine.strategies.base import BUY, SELL

# A level this close to a tick (in ticks, relative to its size) is where float error could put it on the
# wrong side: it is snapped (`round_levels`) or computed exactly (`atr_levels`).
_REL_TOL = 1e-12
_ABS_TOL = 1e-9


def quoted_price(candles: Candles) -> float:
    """The price a tip is quoted at, unrounded: live sources compute on closed bars but quote the last trade
    (a trader acts on the price now); otherwise the last close."""
    live = candles.last_price
    return live if live is not None and math.isfinite(live) and live > 0 else float(candles.close[-1])


def entry_prices(candles: Candles) -> np.ndarray:
    """Per bar, the price a decision at that bar is quoted at: the close, the newest bar's live quote."""
    prices = np.array(candles.close, dtype=np.float64, copy=True)
    if len(prices):
        prices[-1] = quoted_price(candles)
    return prices


def _near_tick(raw: np.ndarray) -> np.ndarray:
    return np.abs(raw - np.rint(raw)) <= np.abs(raw) * _REL_TOL + _ABS_TOL


def _directional(side: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Whole ticks: BUY levels down, SELL levels up, at least one tick; NaN where the bar has no trade."""
    with np.errstate(invalid="ignore"):
        ticks = np.where(side == BUY, np.floor(raw), np.ceil(raw))
        ticks = np.where(np.isfinite(ticks), np.maximum(ticks, 1.0), np.nan)
    return np.where((side == BUY) | (side == SELL), ticks, np.nan)


def round_levels(side: np.ndarray, stop: np.ndarray, target: np.ndarray,
                 decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """Levels a strategy computed in floats (e.g. price × 0.95), on the tick: a level within float noise of
    a tick is that tick (100 × 0.95 is 94.99999999999999 in floats and means 95.00)."""
    scale = 10.0**decimals
    out = []
    for level in (stop, target):
        raw = np.asarray(level, dtype=np.float64) * scale
        raw = np.where(_near_tick(raw), np.rint(raw), raw)
        out.append(_directional(side, raw) / scale)
    return out[0], out[1]


def atr_levels(side: np.ndarray, price: np.ndarray, atr: np.ndarray, sl_atr: float, tp_atr: float,
               decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """BUY: stop = price − sl·ATR, target = price + tp·ATR; SELL mirrored; on the tick exactly as
    `engine.risk.stop_levels` gives them (the decimals the floats were written as, rounded once).

    Floats decide every level whose exact value is not within float noise of a tick; the few that are go
    through `stop_levels` itself, so the result is the exact rule at numpy speed."""
    scale = 10.0**decimals
    sign = np.where(side == SELL, -1.0, 1.0)
    stop_raw = (price - sign * (sl_atr * atr)) * scale
    target_raw = (price + sign * (tp_atr * atr)) * scale
    stop, target = _directional(side, stop_raw), _directional(side, target_raw)
    trades = (side == BUY) | (side == SELL)
    doubtful = np.flatnonzero(trades & np.isfinite(stop_raw) & np.isfinite(target_raw)
                              & (_near_tick(stop_raw) | _near_tick(target_raw)))
    for i in doubtful.tolist():
        rec = Recommendation.BUY if side[i] == BUY else Recommendation.SELL
        exact_stop, exact_target = stop_levels(rec, float(price[i]), float(atr[i]), sl_atr, tp_atr, decimals)
        assert exact_stop is not None and exact_target is not None
        stop[i] = float(exact_stop.scaleb(decimals))
        target[i] = float(exact_target.scaleb(decimals))
    return stop / scale, target / scale


def to_decimal(level: float, decimals: int) -> Decimal | None:
    """A level already on the tick as its exact Decimal (the float is within half a unit of that tick)."""
    if not math.isfinite(level):
        return None
    return Decimal(level).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)
