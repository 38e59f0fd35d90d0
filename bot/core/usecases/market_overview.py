"""/market's data (SPEC §7): per configured symbol its price, 24 h change, RSI(14) and the user's last tip."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

import numpy as np

from bot.core.args import shorten
from bot.core.kernel import Core
from engine import indicators
from engine.market.base import MarketError
from engine.market.resample import timeframe_seconds
from engine.models import Candles, Signal
from engine.signals import quoted_price
from storage.models import User

log = logging.getLogger(__name__)

PARALLEL_FETCHES = 4  # bound on concurrent upstream requests: exchanges rate-limit bursts
DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class MarketRow:
    symbol: str
    timeframe: str = ""
    price: Decimal | None = None
    change_24h: float | None = None  # fraction, e.g. 0.0123
    rsi: float | None = None
    decimals: int = 2
    demo: bool = False
    error: str | None = None
    last_tip: Signal | None = None


@dataclass(frozen=True)
class MarketOverview:
    rows: list[MarketRow]  # in the configured order
    source: str  # the market data source's name

    @property
    def demo(self) -> bool:
        return any(r.demo for r in self.rows)


def overview_timeframe(available: list[str], preferred: str) -> str:
    """1h reads a day of change and RSI well; a symbol without it uses its finest timeframe."""
    for choice in ("1h", preferred):
        if choice in available:
            return choice
    return available[0]


def change_over_day(candles: Candles, price: float) -> float | None:
    """`price` against the close of the last bar that closed at least 24 h before the newest bar's close."""
    closes_at = candles.timestamps + timeframe_seconds(candles.timeframe)
    cutoff = closes_at[-1] - int(DAY.total_seconds())
    index = int(np.searchsorted(closes_at, cutoff, side="right")) - 1
    if index < 0 or candles.close[index] <= 0:
        return None
    return price / float(candles.close[index]) - 1.0


async def market_row(core: Core, symbol: str) -> MarketRow:
    market = core.services.market
    try:
        timeframe = overview_timeframe(market.timeframes(symbol), core.settings.market.default_timeframe)
        candles = await market.fetch_ohlcv(symbol, timeframe, core.settings.market.bars)
        price = quoted_price(candles)
        rsi_values = await asyncio.to_thread(indicators.rsi, candles.close, 14)
        rsi = float(rsi_values[-1]) if len(rsi_values) and np.isfinite(rsi_values[-1]) else None
        return MarketRow(symbol, timeframe, Decimal(repr(price)), change_over_day(candles, price), rsi,
                         candles.price_decimals, candles.demo)
    except MarketError as exc:
        return MarketRow(symbol, error=shorten(str(exc), 90))
    except Exception:  # one broken symbol must not sink the overview
        log.exception("market overview: %s failed", symbol)
        return MarketRow(symbol, error="unavailable (see the log)")


async def market_overview(core: Core, user: User) -> MarketOverview:
    """Every configured symbol, fetched a few at a time, each with the user's last tip on it."""
    symbols = core.settings.market.symbols
    gate = asyncio.Semaphore(PARALLEL_FETCHES)

    async def bounded(symbol: str) -> MarketRow:
        async with gate:
            return await market_row(core, symbol)

    rows, tips = await asyncio.gather(asyncio.gather(*(bounded(s) for s in symbols)),
                                      core.storage.signals.latest_by_symbol(user.id, symbols))
    return MarketOverview([replace(r, last_tip=tips.get(r.symbol)) for r in rows], core.services.market.name)
