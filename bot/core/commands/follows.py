"""/watch, /unwatch, /watchlist, /subscribe, /unsubscribe, /subscriptions and the [✖ remove] and [👁 Watch]
buttons: parse, call the follows use cases, render the view."""

from __future__ import annotations

from bot.core.args import parse_symbol, parse_timeframe
from bot.core.kernel import Core
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases import follows
from bot.core.views.follows import (
    subscribed_reply,
    subscriptions_reply,
    tip_watch_reply,
    unsubscribed_reply,
    unwatched_line,
    watch_reply,
    watchlist_reply,
)

GROUP = "Follow"


def _symbol_or_all(value: str | None) -> str | None:
    """`all`, or no symbol at all, means every symbol (None for the use cases)."""
    return None if value in (None, "all") else value


@registry.command("watch", "scan a market for tips in this chat", group=GROUP, args=(
    Arg("symbol", Kind.SYMBOL, "the market to scan, e.g. BTC/USDT or AAPL", required=True),
    Arg("timeframe", Kind.TIMEFRAME, "the bar length (default: yours, or the market's own when it lacks it)"),
))
async def watch_cmd(core: Core, req: Request) -> list[Reply]:
    watched = await follows.watch(core, req.ctx, req.user, req.values["symbol"], req.values["timeframe"])
    return [watch_reply(core, req.ctx, watched)]


@registry.command("unwatch", "stop scanning a market (no timeframe: all of its)", group=GROUP, args=(
    Arg("symbol", Kind.SYMBOL, "the watched market", required=True),
    Arg("timeframe", Kind.TIMEFRAME, "which of its timeframes (none: every one)"),
))
async def unwatch_cmd(core: Core, req: Request) -> list[Reply]:
    outcome = await follows.unwatch(core, req.ctx, req.user, req.values["symbol"], req.values["timeframe"])
    return [Reply(text=unwatched_line(req.ctx, outcome))]


@registry.command("watchlist", "what this chat watches, with buttons to remove", group=GROUP)
async def watchlist_cmd(core: Core, req: Request) -> list[Reply]:
    return [watchlist_reply(core, req.ctx, await follows.watchlist(core, req.ctx))]


@registry.button("uw")
async def unwatch_button(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 2:
        return [Reply(notice="This button is not valid.")]
    # Signed data, but parsed again: the chat it acts on is always the chat where it is pressed.
    symbol, timeframe = parse_symbol(press.args[0]), parse_timeframe(press.args[1])
    outcome = await follows.unwatch(core, press.ctx, press.user, symbol, timeframe)
    reply = watchlist_reply(core, press.ctx, await follows.watchlist(core, press.ctx), edit=True)
    reply.notice = unwatched_line(press.ctx, outcome)
    return [reply]


@registry.button("wa")
async def watch_button(core: Core, press: Press) -> list[Reply]:
    """[👁 Watch] on a tip card: watch the tip's market in the chat where it is pressed."""
    outcome = await follows.watch_tip(core, press.ctx, press.user, press.args[0] if press.args else "")
    return [tip_watch_reply(press.ctx, outcome)]


@registry.command("subscribe", "status-change alerts here (no symbol: all)", group=GROUP, args=(
    Arg("symbol", Kind.SYMBOL, "the market, or all (none: all)", words=("all",)),
))
async def subscribe_cmd(core: Core, req: Request) -> list[Reply]:
    outcome = await follows.subscribe(core, req.ctx, req.user, _symbol_or_all(req.values["symbol"]))
    return [subscribed_reply(req.ctx, outcome)]


@registry.command("unsubscribe", "stop alerts (no symbol: all)", group=GROUP, args=(
    Arg("symbol", Kind.SYMBOL, "the market, or all (none: all)", words=("all",)),
))
async def unsubscribe_cmd(core: Core, req: Request) -> list[Reply]:
    outcome = await follows.unsubscribe(core, req.ctx, req.user, _symbol_or_all(req.values["symbol"]))
    return [unsubscribed_reply(req.ctx, outcome)]


@registry.command("subscriptions", "what this chat gets alerts for", group=GROUP)
async def subscriptions_cmd(core: Core, req: Request) -> list[Reply]:
    return [subscriptions_reply(req.ctx, await follows.subscriptions(core, req.ctx))]
