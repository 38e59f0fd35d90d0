"""What the scheduled jobs queue: a tip's status change (its owner's card, and one line for each subscribed
chat), a watchlist scan's tip card, the daily summary, and an open position's PnL-move and near-target notes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.core import cards
from bot.core.formatting import local_time
from bot.core.kernel import Core
from bot.core.replies import Reply
from bot.core.usecases.summary import ChatSummary
from bot.core.views.tips import card_reply
from engine.models import Recommendation, Signal
from engine.positions import Position
from storage.follows import ALL
from storage.models import User

SCAN_TITLE_PREFIX = "👁 Watchlist: "
MAX_CHANGE_LINES = 10  # a busy group's summary lists the latest changes, then counts the rest


def _transition(old: Recommendation, new: Recommendation) -> str:
    return f"{old.value} → {new.value}"


# ---- the signal monitor ----------------------------------------------------------------------------------


def status_change_card(core: Core, tip: Signal, old: Recommendation, owner: User | None) -> Reply:
    """The owner's alert: the tip's updated card (`tip` carries its own id and creation time), in the owner's
    timezone, under a title naming the change."""
    reply = card_reply(core, tip, owner)
    reply.title = f"🔁 Tip #{tip.id} changed: {_transition(old, tip.recommendation)} · {tip.symbol} {tip.timeframe}"
    return reply


def market_change_line(tip: Signal, old: Recommendation) -> Reply:
    """A subscribed chat's alert: the market's transition in one line, no card (the tip is someone else's)."""
    p = tip.params
    fused = cards.fmt.score(tip.fused_score, cards.fmt.decisive_decimals(tip.fused_score, p.buy_threshold,
                                                                         p.sell_threshold))
    return Reply(title=f"🔁 {tip.symbol} {tip.timeframe}: {_transition(old, tip.recommendation)}",
                 text=f"A monitored tip turned {tip.recommendation.value} · fused {fused} · "
                      f"price {cards.fmt.price(tip.price, tip.price_decimals)}"
                      f"{' · DEMO' if tip.demo else ''}\n"
                      f"/signal {tip.symbol} {tip.timeframe} for a fresh tip.")


# ---- the watchlist scan ----------------------------------------------------------------------------------


def scan_card(core: Core, tip: Signal, tz: str, owner: User | None) -> Reply:
    """A watched market's new tip, as a card with its buttons, in the watching chat's timezone."""
    reply = card_reply(core, tip, owner, tz=tz)
    reply.title = SCAN_TITLE_PREFIX + cards.tip_title(tip)
    return reply


# ---- the daily summary -----------------------------------------------------------------------------------


def daily_summary(summary: ChatSummary) -> Reply:
    """Tips, changes, follows, then every extension section, each after a blank line."""
    scope = summary.scope
    lines = _tip_lines(summary) + _change_lines(summary) + _follow_lines(summary)
    for extra in summary.sections:
        lines += ["", *extra]
    lines += ["", "Change the time or turn this off: /settings summary=HH:MM or summary=off"]
    day = scope.until.astimezone(ZoneInfo(scope.tz) if scope.tz != "UTC" else UTC).date()
    where = " · all chats" if scope.everywhere else ""
    return Reply(title=f"📊 Daily summary · {day.isoformat()}{where}", text="\n".join(lines))


def _tip_lines(summary: ChatSummary) -> list[str]:
    counts = Counter(summary.tips)
    total = sum(counts.values())
    if not total:
        return ["No tips in the last 24 h."]
    parts = [f"{cards.ICONS[rec]} {rec.value} {counts[rec.value]}" for rec in Recommendation if counts[rec.value]]
    return [f"Tips in the last 24 h: {total} ({' · '.join(parts)})"]


def _change_lines(summary: ChatSummary) -> list[str]:
    rows, tz = summary.changes, summary.scope.tz
    if not rows:
        return []
    lines = [f"Status changes: {len(rows)}"]
    for r in rows[:MAX_CHANGE_LINES]:
        lines.append(f"  #{r.signal_id} {r.symbol} {r.timeframe}: {r.data.get('old', '?')} → "
                     f"{r.data.get('new', '?')} · {local_time(r.created_at, tz)}")
    if len(rows) > MAX_CHANGE_LINES:
        lines.append(f"  … and {len(rows) - MAX_CHANGE_LINES} more")
    return lines


def _follow_lines(summary: ChatSummary) -> list[str]:
    watches, subs = summary.watches, summary.subscriptions
    if not watches and not subs:
        return []
    subscribed = ", ".join("all symbols" if s == ALL else s for s in subs) or "nothing"
    return [f"Watching {watches} market{'s' if watches != 1 else ''} (/watchlist) · "
            f"subscribed to {subscribed} (/subscriptions)"]


# ---- the position monitor --------------------------------------------------------------------------------


def pnl_move_alert(p: Position, price: Decimal, pnl: float) -> Reply:
    """An open position's PnL (a fraction: 0.05 is +5%) moved past `alerts.pnl_move_pct` since its last note."""
    return Reply(title=f"📈 #{p.id} {p.symbol} PnL {pnl * 100:+.2f}%", text=_position_line(p, price))


def near_target_alert(p: Position, price: Decimal) -> Reply:
    return Reply(title=f"🎯 #{p.id} {p.symbol} is near its take-profit", text=_position_line(p, price))


def _position_line(p: Position, price: Decimal) -> str:
    d = p.price_decimals
    tp = f"{p.take_profit:,.{d}f}" if p.take_profit else "—"
    sl = f"{p.stop_loss:,.{d}f}" if p.stop_loss else "—"
    return f"{p.side.value} {p.symbol} · entry {p.entry_price:,.{d}f} · now {price:,.{d}f} · TP {tp} · SL {sl}"
