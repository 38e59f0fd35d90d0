"""What the configured market offers: its symbols and, per symbol, the timeframes tips can use."""

from __future__ import annotations

from bot.core.args import parse_symbol
from bot.core.errors import UserError
from bot.core.kernel import Core
from engine.market.base import MarketError, UnknownSymbol
from engine.market.resample import TIMEFRAMES
from storage.models import User


def market_symbol(core: Core, raw: str) -> str:
    """A symbol the configured market actually serves, or a one-line error naming the ones it does."""
    symbol = parse_symbol(raw)
    available = core.services.market.symbols()
    if symbol not in available:
        raise UserError(f"{UnknownSymbol(symbol, available)}.")
    return symbol


def market_timeframes(core: Core, symbol: str) -> list[str]:
    """The tip timeframes the market serves for `symbol` (the market may know finer ones tips do not use)."""
    try:
        served = core.services.market.timeframes(symbol)
    except MarketError:
        return []
    return [tf for tf in TIMEFRAMES if tf in served]


def default_timeframe(core: Core, user: User, symbol: str) -> str:
    """The user's default timeframe, or the symbol's finest one when it has no bars of the default (daily-only
    stocks against the 1h default). A symbol the market does not know keeps the default, so the tip's own
    error names it with its close matches."""
    default = str(user.settings.get("timeframe", core.settings.market.default_timeframe))
    offered = market_timeframes(core, symbol)
    return default if not offered or default in offered else offered[0]


def fitting_timeframe(core: Core, user: User, symbol: str, asked: str | None) -> tuple[str, str]:
    """(timeframe, note): the one asked for, else the user's default, else the symbol's first one.

    Only an explicit timeframe the symbol lacks is an error; a default that does not fit (1h for daily
    stock data) falls back to what the symbol has, and the note says so.
    """
    offered = market_timeframes(core, symbol)
    if asked is not None:
        if asked not in offered:
            raise UserError(f"{symbol} has no {asked} data; available: {', '.join(offered) or 'none'}.")
        return asked, ""
    default = str(user.settings.get("timeframe", core.settings.market.default_timeframe))
    if default in offered:
        return default, ""
    if not offered:
        raise UserError(f"{symbol} has no data for tips right now.")
    return offered[0], f" ({symbol} has no {default} data, so {offered[0]})"
