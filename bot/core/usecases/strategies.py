"""Which strategy a request uses and with which parameters: the request's `strategy=`, else the user's
/settings strategy, else `strategies.default`; parameters from config (`strategies.<name>`), then — for the
fused rule and those built on it — the user's thresholds and weights, then the request's own key=values."""

from __future__ import annotations

from typing import Any

from bot.core.errors import UserError
from bot.core.kernel import Core
from engine.strategies import registry
from engine.strategies.base import Strategy
from storage.models import User


def chosen_strategy(core: Core, user: User, asked: str | None) -> Strategy:
    name = asked or str(user.settings.get("strategy") or core.settings.strategies.default)
    try:
        return registry.get(name)
    except ValueError as exc:
        raise UserError(f"{exc}.") from None


def strategy_params(core: Core, user: User, strategy: Strategy, overrides: dict[str, float] | None,
                    given: dict[str, str]) -> dict[str, Any]:
    """The strategy's checked parameters; a bad one is a one-line UserError naming it."""
    params: dict[str, Any] = core.settings.strategies.params(strategy.name)
    if strategy.name == "fused" or getattr(strategy, "extends", None) == "fused":
        p = core.user_params(user, overrides)
        params = {"buy": p.buy_threshold, "sell": p.sell_threshold, "tw": p.technical_weight,
                  "sw": p.sentiment_weight, "macd_scale": core.settings.scoring.macd_scale,
                  "sl_atr": core.settings.risk.sl_atr, "tp_atr": core.settings.risk.tp_atr, **params}
    params.update(given)
    try:
        return strategy.check_params(params)
    except ValueError as exc:
        raise UserError(f"{exc}.") from None
