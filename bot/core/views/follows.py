"""Replies about what a chat follows: watches added and removed, the watchlist with its remove buttons, and
subscriptions."""

from __future__ import annotations

from bot.core.context import ChatContext
from bot.core.kernel import Core
from bot.core.replies import Button, Reply
from bot.core.usecases.follows import MAX_WATCHES, Subscribed, TipWatch, Unsubscribed, Unwatched, Watched
from storage.follows import ALL, WatchEntry


def _where(ctx: ChatContext) -> str:
    return "this chat" if ctx.is_private else "this group"


def _label(symbol: str) -> str:
    return "all symbols" if symbol == ALL else symbol


def watched_line(ctx: ChatContext, watched: Watched) -> str:
    what = f"{watched.symbol} {watched.timeframe}"
    return f"Watching {what} in {_where(ctx)}." if watched.added else f"Already watching {what} in {_where(ctx)}."


def watch_reply(core: Core, ctx: ChatContext, watched: Watched) -> Reply:
    minutes = max(core.settings.monitor.scan_interval // 60, 1)
    return Reply(text=f"{watched_line(ctx, watched)}{watched.note}\nEvery {minutes} min a BUY or SELL with "
                      f"confidence ≥ {core.settings.scan.min_confidence:.0%} is posted here. "
                      "/watchlist shows them all.")


def tip_watch_reply(ctx: ChatContext, outcome: TipWatch) -> Reply:
    """[👁 Watch] answers with a notice only: the card it was pressed on stays as it is."""
    if outcome.watched is None:
        return Reply(notice=f"{outcome.symbol} is no longer offered; it cannot be watched.")
    return Reply(notice=watched_line(ctx, outcome.watched))


def unwatched_line(ctx: ChatContext, outcome: Unwatched) -> str:
    what = f"{outcome.symbol} {outcome.timeframe}" if outcome.timeframe else outcome.symbol
    if not outcome.removed:
        return f"{_where(ctx).capitalize()} does not watch {what}. See /watchlist."
    return f"Stopped watching {what}" + (f" ({outcome.removed} timeframes)." if outcome.removed > 1 else ".")


def watchlist_reply(core: Core, ctx: ChatContext, watches: list[WatchEntry], *, edit: bool = False) -> Reply:
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


def subscribed_reply(ctx: ChatContext, outcome: Subscribed) -> Reply:
    where = _where(ctx)
    if not outcome.added:
        return Reply(text=f"{where.capitalize()} is already subscribed to {_label(outcome.symbol)}"
                          f"{' (through all)' if outcome.through_all else ''}.")
    return Reply(text=f"Subscribed {where} to {_label(outcome.symbol)}: when a monitored tip changes its "
                      "recommendation, an alert is posted here. /subscriptions lists them.")


def unsubscribed_reply(ctx: ChatContext, outcome: Unsubscribed) -> Reply:
    where = _where(ctx)
    what = "everything" if outcome.symbol == ALL else outcome.symbol
    if outcome.kept_by_all:
        return Reply(text=f"{where.capitalize()} is subscribed to all symbols, which includes {what}; "
                          "/unsubscribe all ends that.")
    if not outcome.removed:
        return Reply(text=f"{where.capitalize()} was not subscribed to {what}. See /subscriptions.")
    return Reply(text=f"Unsubscribed {where} from {what}.")


def subscriptions_reply(ctx: ChatContext, symbols: list[str]) -> Reply:
    if not symbols:
        return Reply(text=f"{_where(ctx).capitalize()} has no subscriptions. Try /subscribe BTC/USDT, "
                          "or /subscribe for all symbols.")
    lines = [f"• {_label(s)}" for s in symbols]
    lines.append("\nAlerts when a monitored tip changes its recommendation · /unsubscribe [SYMBOL|all]")
    return Reply(title=f"Subscriptions ({len(symbols)})", text="\n".join(lines))
