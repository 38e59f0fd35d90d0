"""/chart and the tip card's [Chart] button: parse, call the charts use case, render the view."""

from __future__ import annotations

from bot.core.kernel import Core
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.charts import market_chart, tip_chart
from bot.core.views.charts import chart_reply


@registry.command("chart", "a price chart with EMA, Bollinger, volume, RSI and MACD", expensive=True, args=(
    Arg("symbol", Kind.SYMBOL, "the market, e.g. BTC/USDT or AAPL", required=True),
    Arg("timeframe", Kind.TIMEFRAME, "the bar length (default: yours, see /settings)"),
))
async def chart_cmd(core: Core, req: Request) -> list[Reply]:
    chart = await market_chart(core, req.user, req.values["symbol"], req.values["timeframe"])
    return [chart_reply(core, chart, req.user)]


@registry.button("ch", expensive=True)
async def chart_button(core: Core, press: Press) -> list[Reply]:
    """The tip's market now, with the tip's entry, stop-loss and take-profit drawn across it."""
    reply = chart_reply(core, await tip_chart(core, press.user, press.args[0] if press.args else ""), press.user)
    reply.notice = "Chart"
    return [reply]
