"""What a chat follows (SPEC §5): its watchlist (scanned for tips) and its subscriptions (alerts).

Follows belong to the chat, not to the user typing: in a group they are the group's, so changing them needs
the group's admin rights (asked live by `may_change`). Looking at them is open to every member. Normal use
goes to the activity log, never to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.context import ChatContext
from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.usecases.chats import may_change, remember_chat
from bot.core.usecases.markets import fitting_timeframe, market_symbol
from bot.core.usecases.tips import owned_signal
from storage.follows import ALL, WatchEntry
from storage.models import User

MAX_WATCHES = 20  # per chat: each watch costs a computation every scan interval


@dataclass(frozen=True)
class Watched:
    """A watch asked for: added now, or there already."""

    symbol: str
    timeframe: str
    added: bool
    note: str = ""  # why the timeframe is not the user's default (the symbol lacks it)


@dataclass(frozen=True)
class Unwatched:
    symbol: str
    timeframe: str | None  # None: every timeframe of the symbol
    removed: int  # how many watches ended


@dataclass(frozen=True)
class TipWatch:
    """[👁 Watch] on a tip card: the watch, or None when the market is no longer offered."""

    symbol: str
    watched: Watched | None


@dataclass(frozen=True)
class Subscribed:
    symbol: str  # a symbol, or ALL
    added: bool
    through_all: bool = False  # already covered by the chat's subscription to every symbol


@dataclass(frozen=True)
class Unsubscribed:
    symbol: str  # a symbol, or ALL (every subscription of the chat ended)
    removed: int
    kept_by_all: bool = False  # the symbol is covered by "all", which one symbol cannot be cut out of


# ---- watchlist ----------------------------------------------------------------------------------------


async def add_watch(core: Core, ctx: ChatContext, user: User, symbol: str, timeframe: str) -> bool:
    """Add a watch to the chat; False when it was there already."""
    await may_change(core, ctx, "watchlist")
    watches = core.storage.watches
    existing = await watches.for_chat(ctx.platform, ctx.chat_id)
    if any(w.symbol == symbol and w.timeframe == timeframe for w in existing):
        return False
    if len(existing) >= MAX_WATCHES:
        where = "This chat" if ctx.is_private else "This group"
        raise UserError(f"{where} already watches {MAX_WATCHES} markets, the limit. "
                        "Remove one with /unwatch first.")
    await remember_chat(core, ctx)
    await watches.add(ctx.platform, ctx.chat_id, user.id, symbol, timeframe)
    await core.storage.activity.log(user.id, "watch_added", f"Watching {symbol} {timeframe} in {ctx.chat_key}",
                                     symbol=symbol, timeframe=timeframe, chat=ctx.chat_key)
    return True


async def watch(core: Core, ctx: ChatContext, user: User, symbol: str, timeframe: str | None) -> Watched:
    """/watch: a market the configured source serves, on the timeframe asked for or the one that fits."""
    symbol = market_symbol(core, symbol)
    timeframe, note = fitting_timeframe(core, user, symbol, timeframe)
    return Watched(symbol, timeframe, await add_watch(core, ctx, user, symbol, timeframe), note)


async def watch_tip(core: Core, ctx: ChatContext, user: User, signal_id: str) -> TipWatch:
    """Watch a tip's market in the chat where its [👁 Watch] is pressed."""
    # Like Refresh and Dismiss: the owner's button, even for admins.
    signal = await owned_signal(core, user, signal_id, owner_only=True)
    if signal.symbol not in core.services.market.symbols():
        return TipWatch(signal.symbol, None)
    added = await add_watch(core, ctx, user, signal.symbol, signal.timeframe)
    return TipWatch(signal.symbol, Watched(signal.symbol, signal.timeframe, added))


async def unwatch(core: Core, ctx: ChatContext, user: User, symbol: str, timeframe: str | None) -> Unwatched:
    """End a watch (no timeframe: all of the symbol's). No market check: a symbol the market dropped since
    must still be removable."""
    await may_change(core, ctx, "watchlist")
    removed = await core.storage.watches.remove(ctx.platform, ctx.chat_id, symbol, timeframe)
    if removed:
        what = f"{symbol} {timeframe}" if timeframe else symbol
        await core.storage.activity.log(user.id, "watch_removed", f"Stopped watching {what} in {ctx.chat_key}",
                                         symbol=symbol, timeframe=timeframe, chat=ctx.chat_key)
    return Unwatched(symbol, timeframe, removed)


async def watchlist(core: Core, ctx: ChatContext) -> list[WatchEntry]:
    return await core.storage.watches.for_chat(ctx.platform, ctx.chat_id)


# ---- subscriptions ------------------------------------------------------------------------------------


def _label(symbol: str) -> str:
    return "all symbols" if symbol == ALL else symbol


async def subscribe(core: Core, ctx: ChatContext, user: User, symbol: str | None) -> Subscribed:
    """Status-change alerts in this chat for one symbol the market serves, or (None) for every symbol."""
    target = ALL if symbol is None else market_symbol(core, symbol)
    await may_change(core, ctx, "subscriptions")
    current = await core.storage.subscriptions.for_chat(ctx.platform, ctx.chat_id)
    if target in current or (ALL in current and target != ALL):
        return Subscribed(target, added=False, through_all=target not in current)
    await remember_chat(core, ctx)
    await core.storage.subscriptions.add(ctx.platform, ctx.chat_id, target, user.id)
    await core.storage.activity.log(user.id, "subscribed", f"Subscribed {ctx.chat_key} to {_label(target)}",
                                     symbol=target, chat=ctx.chat_key)
    return Subscribed(target, added=True)


async def unsubscribe(core: Core, ctx: ChatContext, user: User, symbol: str | None) -> Unsubscribed:
    """End one symbol's alerts, or (None) every subscription of the chat, the catch-all included. No market
    check, so a symbol the market dropped can still be ended."""
    await may_change(core, ctx, "subscriptions")
    subs = core.storage.subscriptions
    if symbol is None:
        removed = await subs.remove(ctx.platform, ctx.chat_id, None)
        target, what = ALL, "everything"
    else:
        removed = await subs.remove(ctx.platform, ctx.chat_id, symbol)
        target, what = symbol, symbol
        if not removed and ALL in await subs.for_chat(ctx.platform, ctx.chat_id):
            return Unsubscribed(symbol, 0, kept_by_all=True)
    if removed:
        await core.storage.activity.log(user.id, "unsubscribed", f"Unsubscribed {ctx.chat_key} from {what}",
                                         symbol=target, chat=ctx.chat_key)
    return Unsubscribed(target, removed)


async def subscriptions(core: Core, ctx: ChatContext) -> list[str]:
    """The chat's subscribed symbols (ALL for every symbol)."""
    return await core.storage.subscriptions.for_chat(ctx.platform, ctx.chat_id)
