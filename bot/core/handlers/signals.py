"""/signal, /signals, /history and the tip card's buttons."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.core import cards
from bot.core.args import (
    ascii_int,
    parse_id,
    parse_overrides,
    parse_page,
    parse_symbol,
    parse_timeframe,
    shorten,
    split_key_values,
)
from bot.core.errors import Refused, UserError
from bot.core.flows import already_done
from bot.core.handlers.follows import market_timeframes
from bot.core.permissions import Permission, allowed
from bot.core.registry import Press, Request, registry
from bot.core.replies import Button, Reply
from engine.market.base import MarketError, NoData
from engine.market.resample import TIMEFRAMES
from engine.models import Recommendation, Signal
from engine.signals import generate_signal
from storage.models import Flow, User

if TYPE_CHECKING:
    from bot.core.context import ChatContext
    from bot.core.kernel import Core

log = logging.getLogger(__name__)

SIGNAL_USAGE = "/signal [SYMBOL] [TIMEFRAME] [buy=0.3] [sell=-0.3] [tw=0.6] [sw=0.4]"
PAGE_SIZE = 10


def card_buttons(core: Core, signal: Signal, viewer: User | None = None) -> list[list[Button]]:
    """The card's buttons; [Open position] only for BUY/SELL tips shown to someone allowed to trade."""
    if signal.status != "active":
        return [[core.button("History", "hi", signal.id)]]
    # [Watch] gets a row of its own: three buttons is as wide as a phone shows comfortably.
    second = [core.button("👁 Watch", "wa", signal.id)]
    if signal.news:
        second.append(core.button("📰 News", "nw", signal.id))
    if (viewer is not None and allowed(viewer.role, Permission.TRADE)
            and signal.recommendation is not Recommendation.HOLD):
        second.insert(0, core.button("💰 Open position", "op", signal.id))
    return [[core.button("🔄 Refresh", "rf", signal.id), core.button("📜 History", "hi", signal.id),
             core.button("✖ Dismiss", "dm", signal.id)], second]


def card_reply(core: Core, signal: Signal, user: User, *, edit: bool = False) -> Reply:
    return Reply(title=cards.tip_title(signal), text=cards.tip_card(signal, core.user_tz(user)),
                 buttons=card_buttons(core, signal, user), edit=edit)


async def make_tip(core: Core, ctx: ChatContext, user: User, symbol: str, timeframe: str,
                   overrides: dict[str, float] | None = None, *, edit: bool = False) -> list[Reply]:
    """Generate, store, then show a tip. The tip is stored before its card is returned for sending."""
    params = core.user_params(user, overrides)
    settings = core.settings
    try:
        signal = await generate_signal(
            symbol, timeframe, params, core.services.market, core.services.sentiment,
            bars=settings.market.bars, sl_atr=settings.risk.sl_atr, tp_atr=settings.risk.tp_atr,
        )
    except NoData as exc:  # stale, unavailable or too little data: one line and [Retry], never a tip
        await core.source_alerts.failed(exc)
        retry = [[core.button("🔁 Retry", "rt", symbol, timeframe)]]
        return [Reply(text=f"{exc}", buttons=retry, edit=edit)]
    except MarketError as exc:
        raise UserError(str(exc), SIGNAL_USAGE) from None
    except ValueError as exc:  # thresholds/weights that do not fit together
        raise UserError(f"{exc}.", SIGNAL_USAGE) from None
    stored = await core.storage.signals.create(signal, user.id, ctx.platform, ctx.chat_id)
    log.info("tip #%s %s %s %s for %s", stored.id, stored.recommendation.value, stored.symbol,
             stored.timeframe, user.identity)
    return [card_reply(core, stored, user, edit=edit)]


@registry.command("signal", SIGNAL_USAGE, "a tip for a market (no symbol: pick one)", expensive=True)
async def signal_cmd(core: Core, req: Request) -> list[Reply]:
    positional, pairs = split_key_values(req.args, SIGNAL_USAGE)
    overrides = parse_overrides(pairs, SIGNAL_USAGE)
    if len(positional) > 2:
        raise UserError(f"Too many arguments ({shorten(' '.join(positional[2:]))!r}).", SIGNAL_USAGE)
    if not positional:
        return await _ask_symbol(core, req, overrides)
    symbol = parse_symbol(positional[0], SIGNAL_USAGE)
    timeframe = (parse_timeframe(positional[1], SIGNAL_USAGE) if len(positional) > 1
                 else default_timeframe(core, req.user, symbol))
    # Check the combination now so a bad mix is refused before any data is fetched.
    try:
        params = core.user_params(req.user, overrides)
        from engine.scoring import validate_params

        validate_params(params.technical_weight, params.sentiment_weight, params.buy_threshold,
                        params.sell_threshold)
    except ValueError as exc:
        raise UserError(f"{exc}.", SIGNAL_USAGE) from None
    await core.storage.flows.end(req.user.id, req.ctx.chat_key)
    return await make_tip(core, req.ctx, req.user, symbol, timeframe, overrides)


async def _ask_symbol(core: Core, req: Request, overrides: dict[str, float]) -> list[Reply]:
    symbols = core.settings.market.symbols
    await core.storage.flows.start(req.user.id, req.ctx.chat_key, "pick_signal",
                                    {"overrides": overrides, "symbols": symbols})
    rows: list[list[Button]] = []
    for i in range(0, len(symbols), 3):
        rows.append([core.button(sym, "ps", j) for j, sym in enumerate(symbols[i:i + 3], start=i)])
    rows.append([core.button("Cancel", "cx")])
    return [Reply(title="Which market?", text="Pick a market below, or type a symbol (e.g. BTC/USDT).",
                  buttons=rows)]


def default_timeframe(core: Core, user: User, symbol: str) -> str:
    """The user's default timeframe, or the symbol's finest one when it has no bars of the default (daily-only
    stocks against the 1h default). A symbol the market does not know keeps the default, so the tip's own
    error names it with its close matches."""
    default = str(user.settings.get("timeframe", core.settings.market.default_timeframe))
    offered = market_timeframes(core, symbol)
    return default if not offered or default in offered else offered[0]


def _timeframe_buttons(core: Core, index: int, symbol: str) -> list[list[Button]]:
    """Only the timeframes the symbol has (all of them if the market cannot say)."""
    offered = market_timeframes(core, symbol) or list(TIMEFRAMES)
    return [[core.button(tf, "pt", index, tf) for tf in offered], [core.button("Cancel", "cx")]]


@registry.button("ps")
async def pick_symbol(core: Core, press: Press) -> list[Reply]:
    flow = await core.storage.flows.get(press.user.id, press.ctx.chat_key)
    if flow is None or flow.kind != "pick_signal":
        return [Reply(notice="This menu has expired; send /signal again.")]
    symbols: list[str] = flow.state["symbols"]
    index = _index(press.args, len(symbols))
    return [Reply(title=f"{symbols[index]}: which timeframe?", text="Pick a timeframe.",
                  buttons=_timeframe_buttons(core, index, symbols[index]), edit=True)]


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
    return await make_tip(core, press.ctx, press.user, symbols[index], press.args[1],
                          flow.state.get("overrides") or {}, edit=True)


@registry.flow("pick_signal")
async def continue_pick(core: Core, req: Request, flow: Flow) -> list[Reply]:
    """A symbol typed while the market picker is open."""
    overrides: dict[str, float] = flow.state.get("overrides") or {}
    positional, _ = split_key_values(req.args, SIGNAL_USAGE)
    if not positional or len(positional) > 2:
        raise UserError("Type a symbol (and optionally a timeframe), or /cancel.", SIGNAL_USAGE)
    symbol = parse_symbol(positional[0], SIGNAL_USAGE)
    timeframe = (parse_timeframe(positional[1], SIGNAL_USAGE) if len(positional) > 1
                 else default_timeframe(core, req.user, symbol))
    await core.storage.flows.end(req.user.id, req.ctx.chat_key)
    return await make_tip(core, req.ctx, req.user, symbol, timeframe, overrides)


def _index(args: list[str], size: int) -> int:
    index = ascii_int(args[0], 0, size - 1) if args else None
    if index is None:
        raise UserError("This button is out of date; send /signal again.")
    return index


async def owned_signal(core: Core, user: User, raw_id: str, *, owner_only: bool = False) -> Signal:
    """The user's own tip by id, or a refusal that never says whether another user's tip exists.

    Admins may read every tip; buttons that act on a tip (`owner_only`) are its owner's alone."""
    signal_id = parse_id(raw_id, "tip", "/history ID")
    signal = await core.storage.signals.get(signal_id)
    if signal is None:
        raise UserError(f"No tip #{signal_id} (it may have been deleted).")
    if signal.user_id != user.id and (owner_only or user.role != "admin"):
        raise Refused(f"Tip #{signal_id} is not yours.", reason=f"foreign signal {signal_id}")
    return signal


@registry.button("rf", expensive=True)
async def refresh(core: Core, press: Press) -> list[Reply]:
    old = await owned_signal(core, press.user, press.args[0] if press.args else "", owner_only=True)
    overrides = {
        "buy_threshold": old.params.buy_threshold, "sell_threshold": old.params.sell_threshold,
        "technical_weight": old.params.technical_weight, "sentiment_weight": old.params.sentiment_weight,
    }
    # Storing the new tip supersedes the old one (and any other active one of this chat, symbol and timeframe).
    replies = await make_tip(core, press.ctx, press.user, old.symbol, old.timeframe, overrides, edit=True)
    for reply in replies:
        reply.notice = "Refreshed"
    return replies


@registry.button("rt", expensive=True)
async def retry(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 2:
        return [Reply(notice="This button is not valid.")]
    symbol, timeframe = parse_symbol(press.args[0]), parse_timeframe(press.args[1])
    return await make_tip(core, press.ctx, press.user, symbol, timeframe, edit=True)


@registry.button("nw")
async def news_button(core: Core, press: Press) -> list[Reply]:
    """The texts a tip's sentiment was computed from, each with its score (SPEC §2 step 4)."""
    signal = await owned_signal(core, press.user, press.args[0] if press.args else "")
    reply = Reply(title=f"News behind tip #{signal.id} · {signal.symbol} {signal.timeframe}",
                  text=cards.news_list(signal, core.user_tz(press.user)))
    reply.notice = "News"
    return [reply]


@registry.button("dm")
async def dismiss(core: Core, press: Press) -> list[Reply]:
    signal = await owned_signal(core, press.user, press.args[0] if press.args else "", owner_only=True)
    if signal.status == "active":
        await core.storage.signals.set_status(signal.id or 0, "dismissed", "dismissed", "Dismissed by its owner")
        await core.storage.activity.log(press.user.id, "signal_dismissed", f"Dismissed tip #{signal.id}")
    signal = signal.model_copy(update={"status": "dismissed"})
    reply = card_reply(core, signal, press.user, edit=True)
    reply.notice = "Dismissed: it will no longer be monitored."
    return [reply]


async def history_replies(core: Core, user: User, raw_id: str) -> list[Reply]:
    signal = await owned_signal(core, user, raw_id)
    events = await core.storage.signals.history(signal.id or 0)
    tz = core.user_tz(user)
    from bot.core.formatting import local_time

    lines = [cards.tip_line(signal, tz), ""]
    lines += [f"{local_time(e.created_at, tz)} · {e.event} · {e.description}" for e in events]
    return [Reply(title=f"History of tip #{signal.id}", text="\n".join(lines))]


@registry.command("history", "/history ID", "the events of one of your tips")
async def history_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) != 1:
        raise UserError("Give one tip id (see /signals).", "/history ID")
    return await history_replies(core, req.user, req.args[0].lstrip("#"))


@registry.button("hi")
async def history_button(core: Core, press: Press) -> list[Reply]:
    replies = await history_replies(core, press.user, press.args[0] if press.args else "")
    replies[0].notice = "History"
    return replies


async def signals_page(core: Core, user: User, page: int) -> Reply:
    total = await core.storage.signals.count_for_user(user.id)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    items = await core.storage.signals.for_user(user.id, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    tz = core.user_tz(user)
    if not items:
        return Reply(text="You have no tips yet. Try /signal BTC/USDT 1h.")
    lines = [cards.tip_line(s, tz) for s in items]
    lines.append(f"\nPage {page} of {pages} · /history ID for a tip's events")
    nav: list[Button] = []
    if page > 1:
        nav.append(core.button("‹ Newer", "sp", page - 1))
    if page < pages:
        nav.append(core.button("Older ›", "sp", page + 1))
    return Reply(title=f"Your tips ({total})", text="\n".join(lines), buttons=[nav] if nav else [])


@registry.command("signals", "/signals [PAGE]", "your recent tips, paged")
async def signals_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) > 1:
        raise UserError("Give at most a page number.", "/signals [PAGE]")
    page = parse_page(req.args[0], "/signals [PAGE]") if req.args else 1
    return [await signals_page(core, req.user, page)]


@registry.button("sp")
async def signals_page_button(core: Core, press: Press) -> list[Reply]:
    page = ascii_int(press.args[0], 1) if press.args else None
    if page is None:
        return [Reply(notice="This button is not valid.")]
    reply = await signals_page(core, press.user, page)
    reply.edit = True
    return [reply]
