"""What every market-data source offers, and the errors it raises.

A `MarketError`'s message is shown to the user as it is (SPEC §10: a one-line reason), so it names what
*is* available instead of only what went wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from engine.models import Candles


class MarketError(Exception):
    """A market-data request that cannot be served; `str(exc)` is a user-facing one-liner."""


class UnknownSymbol(MarketError):
    def __init__(self, symbol: str, available: Iterable[str]) -> None:
        self.symbol = symbol
        self.available = list(available)
        super().__init__(f"Unknown symbol {symbol}. Available: {', '.join(self.available) or 'none'}")


class UnknownTimeframe(MarketError):
    def __init__(self, symbol: str, timeframe: str, available: Iterable[str], where: str = "") -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.available = list(available)
        where_text = f" {where}" if where else ""
        super().__init__(
            f"{symbol} has no {timeframe} data{where_text}; available: {', '.join(self.available) or 'none'}"
        )


class NoData(MarketError):
    """No usable candles: empty, too few, or stale. The chat offers [Retry] with it."""


class StaleData(NoData):
    """The last closed bar is older than two timeframes (of trading session, for stocks): no tip on old data."""

    def __init__(self, symbol: str, timeframe: str, last_close: datetime, now: datetime, limit: str) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.last_close = last_close
        age = age_text(now - last_close)
        super().__init__(
            f"Stale data: the last closed {symbol} {timeframe} bar closed {last_close:%Y-%m-%d %H:%M} UTC, "
            f"{age} ago (more than {limit}). No tip is given on old prices; try again later."
        )


class MarketUnavailable(NoData):
    """The source failed (timeouts, 5xx after retries, refused keys, a malformed answer)."""

    def __init__(self, message: str, *, auth: bool = False, source: str = "") -> None:
        self.auth = auth
        self.source = source
        super().__init__(message)


def age_text(delta: timedelta) -> str:
    """A duration as a person says it: 45 min, 5 h, 3 days (the chat's cards use the same words)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


@runtime_checkable
class MarketData(Protocol):
    """A source of candles (bundled replay, ccxt, Alpaca, or a cache around one of them)."""

    name: str
    demo: bool  # True when served from bundled data: everything shown from it is labelled DEMO

    def symbols(self) -> list[str]: ...

    def timeframes(self, symbol: str) -> list[str]:
        """Timeframes this source can serve for `symbol`; raises UnknownSymbol."""
        ...

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        """The latest `bars` bars, oldest first; raises UnknownSymbol, UnknownTimeframe, NoData."""
        ...

    async def last_price(self, symbol: str) -> Decimal:
        """The latest traded price, at the symbol's tick precision."""
        ...

    async def as_of(self, symbol: str) -> datetime | None:
        """The market time a request sees now: the replay's virtual clock; None for a live source (now)."""
        ...

    async def bars_since(self, symbol: str, since: datetime) -> Candles:
        """Bars at the finest resolution the source has (replay: its base bars, closed ones only; live crypto:
        1m; Alpaca: 1Min) that opened at or after `since`, oldest first, up to now. A live source's last bar
        may still be forming (`forming` says so): its high and low so far are trades that happened. Possibly
        empty. The position monitor reads them so that a level touched between two of its looks is seen.
        Raises UnknownSymbol, MarketUnavailable; never served from a cache older than a moment."""
        ...

    def status(self) -> dict[str, str]:
        """One human-readable line per item worth showing on /health (e.g. replay position per symbol)."""
        ...
