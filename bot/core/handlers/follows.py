"""What a chat follows (SPEC §5): its watchlist (scanned for tips) and its subscriptions (alerts).

Follows belong to the chat, not to the user typing: in a group they are the group's, so changing them
needs the group's admin rights (checked live with the platform by `core.is_chat_admin`). Looking at them
is open to every member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.args import parse_symbol, parse_timeframe, shorten
from bot.core.errors import Refused, UserError
from bot.core.registry import Press, Request, registry
from bot.core.replies import Button, Reply
from bot.core.usecases.tips import owned_signal
from engine.market.base import MarketError, UnknownSymbol
from engine.market.resample import TIMEFRAMES
from storage.follows import ALL
from storage.models import User

if TYPE_CHECKING:
    from bot.core.context import ChatContext
    from bot.core.kernel import Core

WATCH_USAGE = "/watch SYMBOL [TIMEFRAME]"
UNWATCH_USAGE = "/unwatch SYMBOL [TIMEFRAME]"
SUBSCRIBE_USAGE = "/subscribe [SYMBOL|all]"
UNSUBSCRIBE_USAGE = "/unsubscribe [SYMBOL|all]"
MAX_WATCHES = 20  # per chat: each watch costs a computation every scan interval
GROUP = "Follow"


# ---- shared helpers (also used by the scan and summary jobs) -------------------------------------------


def market_symbol(core: Core, raw: str, usage: str) -> str:
    """A symbol the configured market actually serves, or a one-line error naming the ones it does."""
    symbol = parse_symbol(raw, usage)
    available = core.services.market.symbols()
    if symbol not in available:
        raise UserError(f"{UnknownSymbol(symbol, available)}.", usage)
    return symbol


def market_timeframes(core: Core, symbol: str) -> list[str]:
    """The tip timeframes the market serves for `symbol` (the market may know finer ones tips do not use)."""
    try:
        served = core.services.market.timeframes(symbol)
    except MarketError:
        return []
    return [tf for tf in TIMEFRAMES if tf in served]


def pick_timeframe(core: Core, user: User, symbol: str, raw: str | None, usage: str) -> tuple[str, str]:
    """(timeframe, note): the one asked for, else the user's default, else the symbol's first one.

    Only an explicit timeframe the symbol lacks is an error; a default that does not fit (1h for daily
    stock data) falls back to what the symbol has, and the note says so.
    """
    offered = market_timeframes(core, symbol)
    if raw is not None:
        tf = parse_timeframe(raw, usage)
        if tf not in offered:
            raise UserError(f"{symbol} has no {tf} data; available: {', '.join(offered) or 'none'}.", usage)
        return tf, ""
    default = str(user.settings.get("timeframe", core.settings.market.default_timeframe))
    if default in offered:
        return default, ""
    if not offered:
        raise UserError(f"{symbol} has no data for tips right now.", usage)
    return offered[0], f" ({symbol} has no {default} data, so {offered[0]})"


async def chat_timezone(core: Core, platform: str, chat_id: str) -> str:
    """A chat's timezone: its own setting (groups), else its user's (a private chat), else UTC."""
    tz = (await core.storage.chat_settings.get(platform, chat_id)).get("timezone")
    if tz:
        return str(tz)
    user = await private_chat_user(core, platform, chat_id)
    return core.user_tz(user) if user is not None else "UTC"


async def private_chat_user(core: Core, platform: str, chat_id: str) -> User | None:
    """The user whose private chat this is (on every platform we serve, a DM's chat id is the user id)."""
    chat = await core.storage.chats.get(platform, chat_id)
    if chat is not None and chat.chat_type not in (None, "private"):
        return None
    return await core.storage.users.by_identity(f"{platform}:{chat_id}")


async def _may_change(core: Core, ctx: ChatContext, what: str) -> None:
    """A group's follows are the group's: only its administrators change them."""
    if not await core.is_chat_admin(ctx):
        raise Refused(f"Changing this group's {what} needs the group's admin rights.", reason="not chat admin")


async def _remember(core: Core, ctx: ChatContext) -> None:
    # Jobs push to chats long after the message that set them up: the chat's type must be on record.
    await core.storage.chats.upsert(ctx.platform, ctx.chat_id, ctx.chat_type)


def _where(ctx: ChatContext) -> str:
    return "this chat" if ctx.is_private else "this group"


# ---- watchlist ----------------------------------------------------------------------------------------


async def add_watch(core: Core, ctx: ChatContext, user: User, symbol: str, timeframe: str) -> str:
    """Add a watch to the chat; returns what to tell the user."""
    await _may_change(core, ctx, "watchlist")
    watches = core.storage.watches
    existing = await watches.for_chat(ctx.platform, ctx.chat_id)
    if any(w.symbol == symbol and w.timeframe == timeframe for w in existing):
        return f"Already watching {symbol} {timeframe} in {_where(ctx)}."
    if len(existing) >= MAX_WATCHES:
        raise UserError(f"{_where(ctx).capitalize()} already watches {MAX_WATCHES} markets, the limit. "
                        "Remove one with /unwatch first.")
    await _remember(core, ctx)
    await watches.add(ctx.platform, ctx.chat_id, user.id, symbol, timeframe)
    await core.storage.activity.log(user.id, "watch_added", f"Watching {symbol} {timeframe} in {ctx.chat_key}",
                                     symbol=symbol, timeframe=timeframe, chat=ctx.chat_key)
    return f"Watching {symbol} {timeframe} in {_where(ctx)}."


@registry.command("watch", WATCH_USAGE, "scan a market for tips in this chat", group=GROUP)
async def watch_cmd(core: Core, req: Request) -> list[Reply]:
    if not req.args or len(req.args) > 2:
        raise UserError("Give a symbol and optionally a timeframe.", WATCH_USAGE)
    symbol = market_symbol(core, req.args[0], WATCH_USAGE)
    timeframe, note = pick_timeframe(core, req.user, symbol, req.args[1] if len(req.args) > 1 else None,
                                     WATCH_USAGE)
    done = await add_watch(core, req.ctx, req.user, symbol, timeframe)
    minutes = max(core.settings.monitor.scan_interval // 60, 1)
    return [Reply(text=f"{done}{note}\nEvery {minutes} min a BUY or SELL with confidence ≥ "
                       f"{core.settings.scan.min_confidence:.0%} is posted here. /watchlist shows them all.")]


@registry.command("unwatch", UNWATCH_USAGE, "stop scanning a market (no timeframe: all of its)", group=GROUP)
async def unwatch_cmd(core: Core, req: Request) -> list[Reply]:
    if not req.args or len(req.args) > 2:
        raise UserError("Give a symbol and optionally a timeframe.", UNWATCH_USAGE)
    # No market check: a symbol the market dropped since must still be removable.
    symbol = parse_symbol(req.args[0], UNWATCH_USAGE)
    timeframe = parse_timeframe(req.args[1], UNWATCH_USAGE) if len(req.args) > 1 else None
    return [Reply(text=await _remove_watch(core, req.ctx, req.user, symbol, timeframe))]


async def _remove_watch(core: Core, ctx: ChatContext, user: User, symbol: str,
                        timeframe: str | None) -> str:
    await _may_change(core, ctx, "watchlist")
    removed = await core.storage.watches.remove(ctx.platform, ctx.chat_id, symbol, timeframe)
    what = f"{symbol} {timeframe}" if timeframe else symbol
    if not removed:
        return f"{_where(ctx).capitalize()} does not watch {what}. See /watchlist."
    await core.storage.activity.log(user.id, "watch_removed", f"Stopped watching {what} in {ctx.chat_key}",
                                     symbol=symbol, timeframe=timeframe, chat=ctx.chat_key)
    return f"Stopped watching {what}" + (f" ({removed} timeframes)." if removed > 1 else ".")


async def watchlist_reply(core: Core, ctx: ChatContext, *, edit: bool = False) -> Reply:
    watches = await core.storage.watches.for_chat(ctx.platform, ctx.chat_id)
    if not watches:
        return Reply(text=f"{_where(ctx).capitalize()} watches nothing. Try /watch BTC/USDT 1h, or the "
                          "👁 Watch button on a tip.", edit=edit)
    lines = []
    for w in watches:
        last = f" · last pushed {w.last_pushed_rec}" if w.last_pushed_rec else ""
        lines.append(f"{w.symbol} {w.timeframe}{last}")
    lines.append(f"\n{len(watches)} of {MAX_WATCHES} · scanned every {core.settings.monitor.scan_interval} s; "
                 f"BUY/SELL with confidence ≥ {core.settings.scan.min_confidence:.0%} is posted.")
    buttons = [core.button(f"✖ {w.symbol} {w.timeframe}", "uw", w.symbol, w.timeframe) for w in watches]
    rows: list[list[Button]] = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    return Reply(title=f"Watchlist ({len(watches)})", text="\n".join(lines), buttons=rows, edit=edit)


@registry.command("watchlist", "/watchlist", "what this chat watches, with buttons to remove", group=GROUP)
async def watchlist_cmd(core: Core, req: Request) -> list[Reply]:
    if req.args:
        raise UserError("/watchlist takes no arguments.", "/watchlist")
    return [await watchlist_reply(core, req.ctx)]


@registry.button("uw")
async def unwatch_button(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 2:
        return [Reply(notice="This button is not valid.")]
    # Signed data, but parsed again: the chat it acts on is always the chat where it is pressed.
    symbol, timeframe = parse_symbol(press.args[0]), parse_timeframe(press.args[1])
    done = await _remove_watch(core, press.ctx, press.user, symbol, timeframe)
    reply = await watchlist_reply(core, press.ctx, edit=True)
    reply.notice = done
    return [reply]


@registry.button("wa")
async def watch_button(core: Core, press: Press) -> list[Reply]:
    """[👁 Watch] on a tip card: watch the tip's market in the chat where it is pressed."""

    # Like Refresh and Dismiss: the owner's button, even for admins.
    signal = await owned_signal(core, press.user, press.args[0] if press.args else "", owner_only=True)
    if signal.symbol not in core.services.market.symbols():
        return [Reply(notice=f"{signal.symbol} is no longer offered; it cannot be watched.")]
    done = await add_watch(core, press.ctx, press.user, signal.symbol, signal.timeframe)
    return [Reply(notice=done)]


# ---- subscriptions ------------------------------------------------------------------------------------


def _subscription_target(core: Core, args: list[str], usage: str, *, check_market: bool) -> str:
    """ALL for `all` or no argument; else a symbol (checked against the market when subscribing)."""
    if len(args) > 1:
        raise UserError(f"Too many arguments ({shorten(' '.join(args[1:]))!r}).", usage)
    if not args or args[0].lower() == "all":
        return ALL
    return market_symbol(core, args[0], usage) if check_market else parse_symbol(args[0], usage)


def _label(symbol: str) -> str:
    return "all symbols" if symbol == ALL else symbol


@registry.command("subscribe", SUBSCRIBE_USAGE, "status-change alerts here (no symbol: all)", group=GROUP)
async def subscribe_cmd(core: Core, req: Request) -> list[Reply]:
    symbol = _subscription_target(core, req.args, SUBSCRIBE_USAGE, check_market=True)
    await _may_change(core, req.ctx, "subscriptions")
    current = await core.storage.subscriptions.for_chat(req.ctx.platform, req.ctx.chat_id)
    if symbol in current or (ALL in current and symbol != ALL):
        return [Reply(text=f"{_where(req.ctx).capitalize()} is already subscribed to {_label(symbol)}"
                           f"{'' if symbol in current else ' (through all)'}.")]
    await _remember(core, req.ctx)
    await core.storage.subscriptions.add(req.ctx.platform, req.ctx.chat_id, symbol, req.user.id)
    await core.storage.activity.log(req.user.id, "subscribed", f"Subscribed {req.ctx.chat_key} to {_label(symbol)}",
                                     symbol=symbol, chat=req.ctx.chat_key)
    return [Reply(text=f"Subscribed {_where(req.ctx)} to {_label(symbol)}: when a monitored tip changes "
                       "its recommendation, an alert is posted here. /subscriptions lists them.")]


@registry.command("unsubscribe", UNSUBSCRIBE_USAGE, "stop alerts (no symbol: all)", group=GROUP)
async def unsubscribe_cmd(core: Core, req: Request) -> list[Reply]:
    symbol = _subscription_target(core, req.args, UNSUBSCRIBE_USAGE, check_market=False)
    await _may_change(core, req.ctx, "subscriptions")
    subs = core.storage.subscriptions
    if symbol == ALL:  # "all" (or nothing) ends every subscription of the chat, the catch-all included
        removed = await subs.remove(req.ctx.platform, req.ctx.chat_id, None)
        what = "everything"
    else:
        removed = await subs.remove(req.ctx.platform, req.ctx.chat_id, symbol)
        what = symbol
        if not removed and ALL in await subs.for_chat(req.ctx.platform, req.ctx.chat_id):
            return [Reply(text=f"{_where(req.ctx).capitalize()} is subscribed to all symbols, which includes "
                               f"{what}; /unsubscribe all ends that.")]
    if not removed:
        return [Reply(text=f"{_where(req.ctx).capitalize()} was not subscribed to {what}. See /subscriptions.")]
    await core.storage.activity.log(req.user.id, "unsubscribed", f"Unsubscribed {req.ctx.chat_key} from {what}",
                                     symbol=symbol, chat=req.ctx.chat_key)
    return [Reply(text=f"Unsubscribed {_where(req.ctx)} from {what}.")]


@registry.command("subscriptions", "/subscriptions", "what this chat gets alerts for", group=GROUP)
async def subscriptions_cmd(core: Core, req: Request) -> list[Reply]:
    if req.args:
        raise UserError("/subscriptions takes no arguments.", "/subscriptions")
    symbols = await core.storage.subscriptions.for_chat(req.ctx.platform, req.ctx.chat_id)
    if not symbols:
        return [Reply(text=f"{_where(req.ctx).capitalize()} has no subscriptions. Try /subscribe BTC/USDT, "
                           "or /subscribe for all symbols.")]
    lines = [f"• {_label(s)}" for s in symbols]
    lines.append("\nAlerts when a monitored tip changes its recommendation · /unsubscribe [SYMBOL|all]")
    return [Reply(title=f"Subscriptions ({len(symbols)})", text="\n".join(lines))]
