"""Charts: a market's recent candles drawn with their indicators, or a tip's market with the tip's entry, SL and
TP levels. The drawing is engine.charts, run in a thread: it is a second of CPU that must not stall the chat."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.usecases.markets import fitting_timeframe
from bot.core.usecases.tips import owned_signal
from engine.charts import MIN_BARS, WINDOW_BARS, ChartLevels, render_chart
from engine.market.base import MarketError, NoData
from engine.models import Candles, Signal
from storage.models import User


@dataclass(frozen=True)
class Chart:
    """A drawn chart and what it shows (the view words it; `png` is the image itself)."""

    symbol: str
    timeframe: str
    source: str
    demo: bool
    bars: int  # bars drawn
    first_bar: datetime  # open times of the first and last bar drawn
    last_bar: datetime
    price_decimals: int
    png: bytes
    note: str = ""  # why the timeframe is not the one a user may expect (daily-only stocks)
    tip: Signal | None = None  # when drawn from a tip: its levels are on the chart


def _known_symbol(core: Core, symbol: str) -> None:
    """An unknown symbol is refused before any fetch, naming the ones the market serves."""
    try:
        core.services.market.timeframes(symbol)
    except MarketError as exc:
        raise UserError(f"{exc}.") from None


async def _candles(core: Core, symbol: str, timeframe: str) -> Candles:
    try:
        candles = await core.services.market.fetch_ohlcv(symbol, timeframe, core.settings.market.bars)
    except NoData as exc:
        await core.source_alerts.failed(exc)  # refused keys reach the admins, once
        raise UserError(str(exc)) from None
    except MarketError as exc:
        raise UserError(str(exc)) from None
    if len(candles) < MIN_BARS:
        raise UserError(f"Only {len(candles)} {symbol} {timeframe} bars so far; a chart needs {MIN_BARS}.")
    return candles


async def _draw(candles: Candles, levels: ChartLevels | None, note: str = "", tip: Signal | None = None) -> Chart:
    png = await asyncio.to_thread(render_chart, candles, levels)
    shown = min(len(candles), WINDOW_BARS)
    first = datetime.fromtimestamp(int(candles.timestamps[-shown]), tz=candles.last_time.tzinfo)
    return Chart(candles.symbol, candles.timeframe, candles.source, candles.demo, shown, first, candles.last_time,
                 candles.price_decimals, png, note, tip)


async def market_chart(core: Core, user: User, symbol: str, timeframe: str | None) -> Chart:
    """The chart of `symbol` at `timeframe` (none: the user's default, or the symbol's own when it lacks it)."""
    _known_symbol(core, symbol)
    chosen, note = fitting_timeframe(core, user, symbol, timeframe)
    return await _draw(await _candles(core, symbol, chosen), None, note)


async def tip_chart(core: Core, user: User, signal_id: int | str) -> Chart:
    """The chart of a tip's market and timeframe now, with the tip's entry, stop-loss and take-profit drawn."""
    signal = await owned_signal(core, user, signal_id)
    levels = ChartLevels(signal.price, signal.stop_loss, signal.take_profit)
    return await _draw(await _candles(core, signal.symbol, signal.timeframe), levels, tip=signal)
