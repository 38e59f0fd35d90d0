"""/track: parse, run the track use case, render the record."""

from __future__ import annotations

from bot.core.kernel import Core
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.track import DEFAULT_DAYS, MAX_DAYS, track
from bot.core.views.track import track_reply


@registry.command("track", "what the bot's live tips did: hit rate and returns per market and side vs buy & hold",
                  expensive=True, group="Tips", args=(
    Arg("symbol", Kind.SYMBOL, "one market, e.g. BTC/USDT (default: every market)"),
    Arg("timeframe", Kind.TIMEFRAME, "one bar length (default: every timeframe)"),
    Arg("days", Kind.INT, "how many days back", keyed=True, low=1, high=MAX_DAYS, default=DEFAULT_DAYS),
))
async def track_cmd(core: Core, req: Request) -> list[Reply]:
    v = req.values
    return [track_reply(await track(core, v["symbol"], v["timeframe"], v["days"]))]
