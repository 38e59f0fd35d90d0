"""`hyperrsi` (seed 004's HYPERRSI): RSI entries with a trend filter, fixed stop and target.

Seed 004 names the parts (RSI analysis, trend detection, signal generation, TP/SL); the rules and parameter
names are the HYPERRSI project's own, with its Korean option values in English:

- Entry (`entry_option`; `rsi_oversold` / `rsi_overbought` on RSI(`rsi_length`), Wilder):
  `cross` (돌파, the project's default): long when RSI crosses down into oversold (previous > oversold ≥
  now), short when it crosses up into overbought (previous < overbought ≤ now);
  `cross_back` (변곡돌파): long when RSI climbs back out (previous < oversold ≤ now), short mirrored;
  `turn` (변곡): long when RSI, below oversold now or on the previous bar, turns up (now > previous), short
  mirrored; `beyond` (초과): long on every bar with RSI below oversold, short above overbought.
- Trend filter (`use_trend_logic`): a five-state trend per bar from Bollinger(20, 2), SMA 20/60 and 20-bar
  momentum (close / close 20 bars back − 1), first match wins:
  +2 strong up: close > upper band and momentum > 0; +1 up: close > SMA20 > SMA60 and momentum > 0;
  0 neutral: close inside the bands; −1 down: close < SMA20 < SMA60 and momentum < 0; −2 strong down:
  close < lower band and momentum < 0; anything else 0. As in HYPERRSI, the filter only blocks entries
  against a strong trend: no long at −2, no short at +2.
- `direction`: long, short or both.
- Exit: a stop and a target from the entry price, `sl_value` / `tp_value` percent (`*_option` percent) or
  ATR(14) multiples (`*_option` atr); defaults are HYPERRSI's (SL 5 %, first TP 2 %). HYPERRSI's partial
  take-profits, trailing stop, break-even moves and pyramiding are position management, not a tip's rule:
  a tip here has one stop and one target, and expires like every tip (monitor.signal_ttl_bars).

Decisions: BUY for a long entry, SELL for a short one, HOLD otherwise. Sentiment is not used. The score is
`(50 − RSI) / 50`: positive when RSI is low (the side this rule buys). Bars before RSI, its previous value
(with the filter) SMA 60 and (for ATR levels) ATR(14) exist hold; `first` is the first bar with all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine import indicators
from engine.models import Candles
from engine.strategies import params as read
from engine.strategies.base import BUY, HOLD, SELL, Decisions
from engine.strategies.levels import entry_prices, round_levels

ENTRY_OPTIONS = ("cross", "cross_back", "turn", "beyond")
DIRECTIONS = ("both", "long", "short")
LEVEL_OPTIONS = ("percent", "atr")
DEFAULTS: dict[str, Any] = {"rsi_length": 14, "rsi_oversold": 30.0, "rsi_overbought": 70.0,
                            "entry_option": "cross", "use_trend_logic": True, "direction": "both",
                            "sl_option": "percent", "sl_value": 5.0, "tp_option": "percent", "tp_value": 2.0}
MOMENTUM_BARS = 20


def trend_state(close: np.ndarray) -> np.ndarray:
    """HYPERRSI's five trend states per bar (+2 … −2; 0 while its inputs warm up), as the module says."""
    upper, _, lower = indicators.bollinger(close, 20, 2.0)
    ma20, ma60 = indicators.sma(close, 20), indicators.sma(close, 60)
    momentum = np.full(close.shape, np.nan)
    momentum[MOMENTUM_BARS:] = close[MOMENTUM_BARS:] / close[:-MOMENTUM_BARS] - 1.0
    with np.errstate(invalid="ignore"):
        state = np.select(
            [(close > upper) & (momentum > 0),
             (close > ma20) & (ma20 > ma60) & (momentum > 0),
             (close >= lower) & (close <= upper),
             (close < ma20) & (ma20 < ma60) & (momentum < 0),
             (close < lower) & (momentum < 0)],
            [2, 1, 0, -1, -2], default=0)
    return state.astype(np.int8)


def _zones(rsi: np.ndarray, prev: np.ndarray, option: str, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore"):
        if option == "cross":
            return (prev > low) & (rsi <= low), (prev < high) & (rsi >= high)
        if option == "cross_back":
            return (prev < low) & (rsi >= low), (prev > high) & (rsi <= high)
        if option == "turn":
            return ((prev < low) | (rsi < low)) & (rsi > prev), ((prev > high) | (rsi > high)) & (rsi < prev)
        return rsi < low, rsi > high


def _levels(option: str, value: float, price: np.ndarray, atr: np.ndarray) -> np.ndarray:
    """The distance of a stop or target from the entry price."""
    return price * (value / 100.0) if option == "percent" else atr * value


class HyperRsiStrategy:
    name = "hyperrsi"
    summary = "RSI oversold/overbought entries with a trend filter, SL/TP in percent or ATRs (seed 004)"
    defaults = DEFAULTS

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        read.unknown_keys(self.name, params, DEFAULTS)
        out = dict(DEFAULTS)
        if "rsi_length" in params:
            out["rsi_length"] = read.integer("rsi_length", params["rsi_length"], 2, 100)
        for key in ("rsi_oversold", "rsi_overbought"):
            if key in params:
                out[key] = read.number(key, params[key], 0.0, 100.0)
        if out["rsi_oversold"] >= out["rsi_overbought"]:
            raise ValueError(f"rsi_oversold ({out['rsi_oversold']:g}) must be below rsi_overbought "
                             f"({out['rsi_overbought']:g})")
        if "entry_option" in params:
            out["entry_option"] = read.choice("entry_option", params["entry_option"], ENTRY_OPTIONS)
        if "use_trend_logic" in params:
            out["use_trend_logic"] = read.flag("use_trend_logic", params["use_trend_logic"])
        if "direction" in params:
            out["direction"] = read.choice("direction", params["direction"], DIRECTIONS)
        for kind in ("sl", "tp"):
            if f"{kind}_option" in params:
                out[f"{kind}_option"] = read.choice(f"{kind}_option", params[f"{kind}_option"], LEVEL_OPTIONS)
            if f"{kind}_value" in params:
                out[f"{kind}_value"] = read.number(f"{kind}_value", params[f"{kind}_value"], above=0.0)
        if out["sl_option"] == "percent" and out["sl_value"] >= 100:
            raise ValueError(f"sl_value must be below 100 percent, got {out['sl_value']:g}")
        return out

    def decide(self, candles: Candles, sentiment: np.ndarray, params: Mapping[str, Any]) -> Decisions:
        p = self.check_params(params)
        n = len(candles)
        close = np.ascontiguousarray(candles.close, dtype=np.float64)
        rsi = indicators.rsi(close, p["rsi_length"])
        prev = np.r_[np.nan, rsi[:-1]] if n else rsi
        long_in, short_in = _zones(rsi, prev, p["entry_option"], p["rsi_oversold"], p["rsi_overbought"])
        ready = np.isfinite(rsi) & np.isfinite(prev)
        if p["use_trend_logic"]:
            trend = trend_state(close)
            ready &= np.isfinite(indicators.sma(close, 60))
            long_in &= trend != -2
            short_in &= trend != 2
        else:
            trend = np.zeros(n, dtype=np.int8)
        atr = indicators.atr(candles.high, candles.low, close, 14)
        if "atr" in (p["sl_option"], p["tp_option"]):
            ready &= np.isfinite(atr)
        if p["direction"] == "short":
            long_in = np.zeros(n, dtype=bool)
        if p["direction"] == "long":
            short_in = np.zeros(n, dtype=bool)
        side = np.where(ready & long_in, BUY, np.where(ready & short_in, SELL, HOLD)).astype(np.int8)
        price = entry_prices(candles)
        down = np.where(side == SELL, -1.0, 1.0)
        stop = price - down * _levels(p["sl_option"], p["sl_value"], price, atr)
        target = price + down * _levels(p["tp_option"], p["tp_value"], price, atr)
        stop, target = round_levels(side, stop, target, candles.price_decimals)
        with np.errstate(invalid="ignore"):
            score = np.where(ready, np.clip((50.0 - rsi) / 50.0, -1.0, 1.0), np.nan)
        first = int(np.argmax(ready)) if ready.any() else n
        return Decisions(side=side, score=score, stop_loss=stop, take_profit=target, first=first,
                         extra={"rsi": rsi, "trend": trend, "atr": atr})


STRATEGY = HyperRsiStrategy()
