"""The per-request overrides of SPEC §2 step 5 (thresholds and weights), declared once: /signal takes them for
one tip, /settings saves them as the user's defaults, and both read them the same way."""

from __future__ import annotations

from typing import Any

from bot.core.signature import Arg, Kind
from engine.strategies import registry as strategies

OVERRIDE_ARGS = (
    Arg("buy", Kind.NUMBER, "BUY when the fused score reaches this (-1 to 1)", keyed=True, low=-1, high=1,
        aliases=("buy_threshold",), example="0.3"),
    Arg("sell", Kind.NUMBER, "SELL when the fused score falls to this (-1 to 1)", keyed=True, low=-1, high=1,
        aliases=("sell_threshold",), example="-0.3"),
    Arg("tw", Kind.NUMBER, "weight of the technical score (0 to 1; sw becomes 1 − it)", keyed=True, low=0, high=1,
        aliases=("technical_weight",), example="0.6"),
    Arg("sw", Kind.NUMBER, "weight of the sentiment score (0 to 1; tw becomes 1 − it)", keyed=True, low=0, high=1,
        aliases=("sentiment_weight",), example="0.4"),
)
# A strategy by name, and its own key=values: /signal and /backtest declare them alike.
STRATEGY_ARG = Arg("strategy", Kind.CHOICE, "the rules to use (default: yours, see /settings)", keyed=True,
                   choices=tuple(strategies.names()), example="NAME")
PARAMS_ARG = Arg("params", Kind.PARAMS, "the strategy's own parameters as key=value, e.g. rsi_length=10",
                 keyed=True)
_OVERRIDE_FIELDS = {"buy": "buy_threshold", "sell": "sell_threshold", "tw": "technical_weight",
                    "sw": "sentiment_weight"}


def overrides_of(values: dict[str, Any]) -> dict[str, float]:
    """The overrides given, by their parameter names; one weight alone sets the other to 1 − it."""
    out = {field: float(values[key]) for key, field in _OVERRIDE_FIELDS.items() if values.get(key) is not None}
    tw, sw = out.get("technical_weight"), out.get("sentiment_weight")
    if tw is not None and sw is None:
        out["sentiment_weight"] = round(1.0 - tw, 10)
    elif sw is not None and tw is None:
        out["technical_weight"] = round(1.0 - sw, 10)
    return out
