"""`options` (seed 002 phase 4): the fused tip on a US stock or ETF, carried out with an option contract.

The decision on every bar is the fused strategy's, by the fused code itself (engine/strategies/fused.py) with
fused's own keys (buy, sell, tw, sw, macd_scale, sl_atr, tp_atr), so the backtest, `/track` and monitoring of
an options tip are those of its underlying. What this strategy adds is the contract a card shows with the tip:
`select_contract` — for a BUY a call, for a SELL a put, picked from a chain by engine/options/chain.py's rule
with this strategy's own keys:

* min_days, max_days (30, 45): calendar days from the tip's bar date to expiry;
* min_delta, max_delta (0.50, 0.70): |delta|;
* min_open_interest (100): open interest must be above it;
* max_spread_pct (5): (ask − bid) / mid, in percent;
* rate (0.04): the risk-free rate a synthetic chain (and Greeks from an implied volatility) is priced with.

The chain comes from Alpaca's options data when the caller passes an `AlpacaOptions` (keys set, live market),
else a synthetic Black-Scholes chain on the candles' realised volatility, labelled SYNTHETIC. Crypto and forex
have no listed options: a one-line reason instead of a contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from engine.market.symbols import asset_class
from engine.models import AssetClass, Candles
from engine.options.chain import (
    ChainSource,
    OptionsUnavailable,
    Selection,
    SelectionRules,
    Side,
    kind_for,
    select,
)
from engine.options.synthetic import DEFAULT_RATE, SyntheticChainSource
from engine.strategies import fused
from engine.strategies import params as read
from engine.strategies.base import BUY, SELL, Decisions

OWN_DEFAULTS: dict[str, Any] = {"min_days": 30, "max_days": 45, "min_delta": 0.50, "max_delta": 0.70,
                                "min_open_interest": 100, "max_spread_pct": 5.0, "rate": DEFAULT_RATE}
DEFAULTS: dict[str, Any] = {**fused.DEFAULTS, **OWN_DEFAULTS}
_SIDES: dict[object, Side | None] = {BUY: "BUY", SELL: "SELL", 0: None, "BUY": "BUY", "SELL": "SELL", "HOLD": None}


class OptionsStrategy:
    name = "options"
    summary = ("the fused tip on a US stock as an option: a call for BUY, a put for SELL, 30-45 days, delta "
               "0.50-0.70, open interest > 100, tight spread (seed 002)")
    defaults = DEFAULTS
    extends = "fused"  # the live tip seeds fused's keys from the user's thresholds and weights

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        read.unknown_keys(self.name, params, DEFAULTS)
        out = fused.STRATEGY.check_params({key: value for key, value in params.items() if key in fused.DEFAULTS})
        own = dict(OWN_DEFAULTS)
        for key in ("min_days", "max_days"):
            if key in params:
                own[key] = read.integer(key, params[key], 1, 730)
        for key in ("min_delta", "max_delta"):
            if key in params:
                own[key] = read.number(key, params[key], 0.01, 0.99)
        if "min_open_interest" in params:
            own["min_open_interest"] = read.integer("min_open_interest", params["min_open_interest"], 0, 10**9)
        if "max_spread_pct" in params:
            own["max_spread_pct"] = read.number("max_spread_pct", params["max_spread_pct"], 0.1, 100.0)
        if "rate" in params:
            own["rate"] = read.number("rate", params["rate"], -0.05, 0.5)
        if own["min_days"] > own["max_days"]:
            raise ValueError(f"min_days ({own['min_days']}) must not exceed max_days ({own['max_days']})")
        if own["min_delta"] > own["max_delta"]:
            raise ValueError(f"min_delta ({own['min_delta']:g}) must not exceed max_delta ({own['max_delta']:g})")
        out.update(own)
        return out

    def decide(self, candles: Candles, sentiment: np.ndarray, params: Mapping[str, Any]) -> Decisions:
        checked = self.check_params(params)
        return fused.STRATEGY.decide(candles, sentiment, {key: checked[key] for key in fused.DEFAULTS})

    def rules(self, params: Mapping[str, Any] | None = None) -> SelectionRules:
        """The chain filters these parameters set (engine.options.chain.SelectionRules)."""
        checked = self.check_params(params or {})
        return SelectionRules(**{key: checked[key] for key in SelectionRules.model_fields})

    async def select_contract(self, side: object, price: Decimal | float, bar_time: datetime, candles: Candles,
                              chain_source: ChainSource | None = None,
                              params: Mapping[str, Any] | None = None) -> Selection:
        """The contract for a tip on `candles.symbol` (side BUY/SELL/HOLD as a word, a Recommendation or a
        base.py code) at `price` on the bar at `bar_time`, from `chain_source` (None: a synthetic chain at
        `rate`). Never raises for data: a failed or empty chain is a Selection with a one-line `reason`.
        ValueError for bad params (check them first, as for every strategy)."""
        checked = self.check_params(params or {})
        rules = self.rules(checked)
        source = chain_source if chain_source is not None else SyntheticChainSource(rate=checked["rate"])
        symbol = candles.symbol
        synthetic = source.name == "synthetic"
        base = {"underlying": symbol, "synthetic": synthetic, "source": source.name}
        klass = asset_class(symbol)
        if klass not in (AssetClass.STOCK, AssetClass.ETF):
            return Selection(**base, reason=f"{symbol} is {klass.value}: listed options exist for US stocks and "
                                            "ETFs only, so no contract is suggested.")
        tip_side = _side(side)
        if tip_side is None:
            return Selection(**base, reason="No option on a HOLD tip: a call follows a BUY, a put a SELL.")
        try:
            chain = await source.chain(symbol, kind_for(tip_side), price=Decimal(str(price)), as_of=bar_time,
                                       candles=candles, min_days=rules.min_days, max_days=rules.max_days)
        except OptionsUnavailable as exc:
            return Selection(**base, side=tip_side, reason=str(exc))
        return select(chain, tip_side, bar_time, rules)


def _side(side: object) -> Side | None:
    """BUY/SELL (None for HOLD) from a word, a Recommendation (a str enum) or a base.py code."""
    if isinstance(side, str):
        key: object = side.strip().upper()
    elif isinstance(side, int | np.integer) and not isinstance(side, bool):
        key = int(side)
    else:
        key = side
    if key not in _SIDES:
        raise ValueError(f"side must be BUY, SELL or HOLD, not {side!r}")
    return _SIDES[key]


STRATEGY = OptionsStrategy()

__all__ = ["DEFAULTS", "OWN_DEFAULTS", "STRATEGY", "OptionsStrategy"]
