"""/market: the configured symbols at a glance (SPEC §7) — price, 24 h change, RSI and your last tip."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from bot.core import cards
from bot.core import formatting as fmt
from bot.core.args import shorten
from bot.core.errors import UserError
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from engine import indicators
from engine.market.base import MarketError
from engine.market.resample import timeframe_seconds
from engine.models import Candles, Signal
from engine.signals import quoted_price

if TYPE_CHECKING:
    from bot.core.kernel import Core

log = logging.getLogger(__name__)

MARKET_USAGE = "/market"
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


def render_row(row: MarketRow, tz: str) -> str:
    if row.error:
        return f"{row.symbol}: {row.error}"
    change = "24h —" if row.change_24h is None else f"24h {row.change_24h * 100:+.2f}%"
    rsi = "RSI —" if row.rsi is None else f"RSI {row.rsi:.1f}"
    tip = "no tip yet"
    if row.last_tip is not None:
        t = row.last_tip
        tip = f"last tip #{t.id} {cards.ICONS[t.recommendation]} {t.recommendation.value} {t.timeframe} " \
              f"{fmt.local_time(t.created_at, tz)}"
    return f"{row.symbol} {fmt.price(row.price, row.decimals)} · {change} · {rsi} ({row.timeframe}) · {tip}"


@registry.command("market", MARKET_USAGE, "price, 24 h change, RSI and your last tip per symbol", expensive=True)
async def market_cmd(core: Core, req: Request) -> list[Reply]:
    if req.args:
        raise UserError("/market takes no arguments; use /signal SYMBOL for one market.", MARKET_USAGE)
    symbols = core.settings.market.symbols
    gate = asyncio.Semaphore(PARALLEL_FETCHES)

    async def bounded(symbol: str) -> MarketRow:
        async with gate:
            return await market_row(core, symbol)

    rows, tips = await asyncio.gather(asyncio.gather(*(bounded(s) for s in symbols)),
                                      core.storage.signals.latest_by_symbol(req.user.id, symbols))
    tz = core.user_tz(req.user)
    lines = [render_row(replace(r, last_tip=tips.get(r.symbol)), tz) for r in rows]
    demo = any(r.demo for r in rows)
    source = core.services.market.name
    lines.append("")
    lines.append(f"Source: {source}" + (" · DEMO: bundled historical data, not live prices" if demo else ""))
    lines.append("/signal SYMBOL for a full tip.")
    title = "Market overview" + (" · DEMO" if demo else "")
    return [Reply(title=title, text="\n".join(lines))]

