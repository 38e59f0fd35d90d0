"""/signal, /signals, /history and the tip card's buttons: parse, call the tips use cases, render the view."""

from __future__ import annotations

from bot.core.args import ascii_int, parse_symbol, parse_timeframe, split_key_values
from bot.core.errors import UserError
from bot.core.flows import already_done
from bot.core.kernel import Core
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.markets import default_timeframe, market_timeframes
from bot.core.usecases.params import OVERRIDE_ARGS, PARAMS_ARG, STRATEGY_ARG, overrides_of
from bot.core.usecases.tips import (
    checked_params,
    dismiss_tip,
    make_tip,
    owned_signal,
    refresh_tip,
    tip_history,
    tips_page,
)
from bot.core.views.tips import (
    card_reply,
    history_reply,
    news_reply,
    symbol_picker,
    timeframe_picker,
    tip_replies,
    tips_page_reply,
)
from engine.market.resample import TIMEFRAMES
from storage.models import Flow


@registry.command("signal", "a tip for a market (no symbol: pick one)", expensive=True, args=(
    Arg("symbol", Kind.SYMBOL, "the market, e.g. BTC/USDT or AAPL (none: pick one)"),
    Arg("timeframe", Kind.TIMEFRAME, "the bar length (default: yours, see /settings)"),
    *OVERRIDE_ARGS,
    STRATEGY_ARG,
    PARAMS_ARG,
))
async def signal_cmd(core: Core, req: Request) -> list[Reply]:
    overrides = overrides_of(req.values)
    checked_params(core, req.user, overrides)
    strategy, given = req.values["strategy"], req.values["params"] or {}
    symbol: str | None = req.values["symbol"]
    if symbol is None:
        symbols = core.settings.market.symbols
        await core.storage.flows.start(req.user.id, req.ctx.chat_key, "pick_signal",
                                       {"overrides": overrides, "symbols": symbols, "strategy": strategy,
                                        "params": given})
        return [symbol_picker(core, symbols)]
    timeframe = req.values["timeframe"] or default_timeframe(core, req.user, symbol)
    await core.storage.flows.end(req.user.id, req.ctx.chat_key)
    outcome = await make_tip(core, req.ctx, req.user, symbol, timeframe, overrides, strategy, given)
    return tip_replies(core, outcome, req.user)


@registry.button("ps")
async def pick_symbol(core: Core, press: Press) -> list[Reply]:
    flow = await core.storage.flows.get(press.user.id, press.ctx.chat_key)
    if flow is None or flow.kind != "pick_signal":
        return [Reply(notice="This menu has expired; send /signal again.")]
    symbols: list[str] = flow.state["symbols"]
    index = _index(press.args, len(symbols))
    offered = market_timeframes(core, symbols[index]) or list(TIMEFRAMES)  # all, if the market cannot say
    return [timeframe_picker(core, index, symbols[index], offered)]


@registry.button("pt", expensive=True)
async def pick_timeframe(core: Core, press: Press) -> list[Reply]:
    flow = await core.storage.flows.get(press.user.id, press.ctx.chat_key)
    if flow is None or flow.kind != "pick_signal":
        return [Reply(notice="This menu has expired; send /signal again.")]
    symbols: list[str] = flow.state["symbols"]
    index = _index(press.args[:1], len(symbols))
    if len(press.args) != 2 or press.args[1] not in TIMEFRAMES:
        return [Reply(notice="This button is not valid.")]
    # A timeframe pressed twice at once makes one tip: only the press that consumes the picker goes on.
    if await core.storage.flows.take(press.user.id, press.ctx.chat_key, "pick_signal") is None:
        return already_done()
    outcome = await make_tip(core, press.ctx, press.user, symbols[index], press.args[1],
                             flow.state.get("overrides") or {}, flow.state.get("strategy"),
                             flow.state.get("params") or {})
    return tip_replies(core, outcome, press.user, edit=True)


@registry.flow("pick_signal")
async def continue_pick(core: Core, req: Request, flow: Flow) -> list[Reply]:
    """A symbol (and maybe a timeframe) typed while the market picker is open."""
    usage = registry.commands["signal"].usage
    positional, _ = split_key_values(req.args, usage)
    if not positional or len(positional) > 2:
        raise UserError("Type a symbol (and optionally a timeframe), or /cancel.", usage)
    symbol = parse_symbol(positional[0], usage)
    timeframe = (parse_timeframe(positional[1], usage) if len(positional) > 1
                 else default_timeframe(core, req.user, symbol))
    await core.storage.flows.end(req.user.id, req.ctx.chat_key)
    outcome = await make_tip(core, req.ctx, req.user, symbol, timeframe, flow.state.get("overrides") or {},
                             flow.state.get("strategy"), flow.state.get("params") or {})
    return tip_replies(core, outcome, req.user)


def _index(args: list[str], size: int) -> int:
    index = ascii_int(args[0], 0, size - 1) if args else None
    if index is None:
        raise UserError("This button is out of date; send /signal again.")
    return index


def _tip_arg(press: Press) -> str:
    return press.args[0] if press.args else ""


@registry.button("rf", expensive=True)
async def refresh(core: Core, press: Press) -> list[Reply]:
    replies = tip_replies(core, await refresh_tip(core, press.ctx, press.user, _tip_arg(press)), press.user,
                          edit=True)
    for reply in replies:
        reply.notice = "Refreshed"
    return replies


@registry.button("rt", expensive=True)
async def retry(core: Core, press: Press) -> list[Reply]:
    if len(press.args) not in (2, 3):  # symbol, timeframe, and the strategy when one was asked for by name
        return [Reply(notice="This button is not valid.")]
    symbol, timeframe = parse_symbol(press.args[0]), parse_timeframe(press.args[1])
    strategy = press.args[2] if len(press.args) == 3 else None
    outcome = await make_tip(core, press.ctx, press.user, symbol, timeframe, strategy_name=strategy)
    return tip_replies(core, outcome, press.user, edit=True)


@registry.button("nw")
async def news_button(core: Core, press: Press) -> list[Reply]:
    return [news_reply(core, await owned_signal(core, press.user, _tip_arg(press)), press.user)]


@registry.button("dm")
async def dismiss(core: Core, press: Press) -> list[Reply]:
    reply = card_reply(core, await dismiss_tip(core, press.user, _tip_arg(press)), press.user, edit=True)
    reply.notice = "Dismissed: it will no longer be monitored."
    return [reply]


@registry.command("history", "the events of one of your tips", args=(
    Arg("id", Kind.ID, "the tip's id (see /signals)", required=True, what="tip", metavar="ID"),
))
async def history_cmd(core: Core, req: Request) -> list[Reply]:
    return [history_reply(core, await tip_history(core, req.user, req.values["id"]), req.user)]


@registry.button("hi")
async def history_button(core: Core, press: Press) -> list[Reply]:
    reply = history_reply(core, await tip_history(core, press.user, _tip_arg(press)), press.user)
    reply.notice = "History"
    return [reply]


@registry.command("signals", "your recent tips, paged", args=(
    Arg("page", Kind.PAGE, "which page (1 is the newest)", default=1),
))
async def signals_cmd(core: Core, req: Request) -> list[Reply]:
    return [tips_page_reply(core, await tips_page(core, req.user, req.values["page"]), req.user)]


@registry.button("sp")
async def signals_page_button(core: Core, press: Press) -> list[Reply]:
    page = ascii_int(press.args[0], 1) if press.args else None
    if page is None:
        return [Reply(notice="This button is not valid.")]
    reply = tips_page_reply(core, await tips_page(core, press.user, page), press.user)
    reply.edit = True
    return [reply]
