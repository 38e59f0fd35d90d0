"""Position replies: the size picker, the confirmation card, what an open or a close did, the positions list,
/pnl's performance lines (views/reports.py adds its figures), /trades, /resetpaper, the alerts a fill or an
exit queues, and positions' lines in the daily summary, /stats and /health."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.args import plain_decimal, size_arg, size_text
from bot.core.formatting import local_time, money
from bot.core.kernel import Core
from bot.core.replies import Prompt, Reply
from bot.core.usecases.paging import Page
from bot.core.usecases.positions import (
    BrokerSummary,
    ClosePreview,
    LivePosition,
    Performance,
    PositionsOverview,
    PositionsSummary,
    signal_side,
)
from bot.core.usecases.trading import CloseResult, CloseStatus, OpenResult, OpenStatus, Quote
from engine.brokers.base import OrderStatus
from engine.models import Signal
from engine.positions import Position
from storage.models import User

QUICK_SIZES = (100, 500, 1000)
PNL_NOTE = "Dollar PnL is net of the entry fee; closing pays the exit fee too."


# ---- opening --------------------------------------------------------------------------------------------

def size_picker(core: Core, signal: Signal, user: User) -> Reply:
    """Sizes in dollars for a tip's [Open position], the user's default size first when they set one."""
    sizes = [core.button(money(n, cents=False), "os", signal.id, n) for n in QUICK_SIZES]
    default = plain_decimal(str(user.settings.get("size") or ""))  # saved as 250 (older) or "250.50"
    rows = [sizes, [core.button("Custom…", "oc", signal.id), core.button("Cancel", "cx")]]
    if default:
        rows.insert(0, [core.button(f"My default {size_text(default)}", "os", signal.id, size_arg(default))])
    return Reply(title=f"Open {signal_side(signal).value} {signal.symbol}: what size?",
                 text=f"From tip #{signal.id} ({signal.recommendation.value}). Pick a size in dollars.",
                 buttons=rows, notice="Pick a size")


def size_question() -> Reply:
    return Reply(text="Type the size in dollars (e.g. 250), or /cancel.", notice="Type a size",
                 prompt=Prompt(label="Size in dollars", placeholder="250"))


def confirmation(core: Core, quote: Quote, action: str, *args: object) -> Reply:
    """The quote with every risk check; [Confirm] (pressing `action` with `args`) only when none refuses."""
    d = quote.price_decimals
    lines = [
        f"{quote.side.value.upper()} {quote.symbol} · size {money(quote.notional)} ≈ {quote.quantity.normalize():f}"
        f" at {quote.price:,.{d}f}",
        f"SL {quote.stop_loss:,.{d}f}" if quote.stop_loss else "SL —",
        f"TP {quote.take_profit:,.{d}f}" if quote.take_profit else "TP —",
        f"Est. fee {money(quote.fee)} · broker {quote.broker} · equity {money(quote.equity)} · "
        f"cash {money(quote.cash)}",
        "Risk checks:",
        *[f"  {'✔' if c.ok else '✖'} {c.name}: {c.message}" for c in quote.checks],
    ]
    if quote.refused:
        return Reply(title="A risk check refuses this position", text="\n".join(lines),
                     buttons=[[core.button("Close", "cx")]])
    return Reply(title="Open this position?", text="\n".join(lines),
                 buttons=[[core.button("Confirm", action, *args), core.button("Cancel", "cx")]])


def fill_text(position: Position, fill_quantity: Decimal, fill_price: Decimal, fee: Decimal) -> str:
    d = position.price_decimals
    sl = f"{position.stop_loss:,.{d}f}" if position.stop_loss else "—"
    tp = f"{position.take_profit:,.{d}f}" if position.take_profit else "—"
    return (f"{position.side.value} {fill_quantity.normalize():f} {position.symbol} at {fill_price:,.{d}f} · "
            f"fee {money(fee)} · broker {position.broker}\nSL {sl} · TP {tp}")


def open_reply(result: OpenResult) -> Reply:
    """What the Confirm did: opened with its fill, refused by a check or the broker, or pending."""
    number = f"Position #{result.position_id}"
    status = result.status
    if status is OpenStatus.OPENED:
        assert result.position is not None and result.fill is not None
        fill = result.fill
        return Reply(title=f"{number} opened", text=fill_text(result.position, fill.quantity, fill.price, fill.fee))
    if status is OpenStatus.REFUSED:
        return Reply(title="Not opened: a risk check refused",
                     text="\n".join(f"✖ {r.name}: {r.message}" for r in result.refused))
    if status is OpenStatus.REJECTED:
        return Reply(title=f"{number} not opened", text=f"The broker refused the order: {result.detail}")
    if status is OpenStatus.BROKER_ERROR:
        return Reply(title=f"{number} not opened", text=f"Broker error: {result.detail}")
    if status is OpenStatus.UNCONFIRMED:
        return Reply(title=f"{number} is pending",
                     text=f"The broker did not confirm in time ({result.detail}). I will check with it and tell "
                          "you when it is filled or refused.")
    if status is OpenStatus.ACCEPTED:
        return Reply(title=f"{number} is pending",
                     text="The broker accepted the order but has not filled it yet; I will tell you when it "
                          "is filled.")
    return Reply(title=f"{number} not opened", text=f"Order {result.detail}.")


# ---- closing --------------------------------------------------------------------------------------------

def close_title(result: CloseResult) -> str:
    reason = result.reason
    icon = "🎯" if reason == "take_profit" else "🛑" if reason in ("stop_loss", "trailing_stop") else "✋"
    return f"{icon} Closed #{result.position.id} {result.position.symbol} ({reason.replace('_', ' ')})"


def close_reply(result: CloseResult) -> Reply:
    """What a close did: closed with its PnL, or why the position stays open or is still closing."""
    p = result.position
    status = result.status
    if status is CloseStatus.CLOSED:
        assert p.entry_price is not None and p.quantity is not None and result.fill is not None
        assert result.pnl_abs is not None and result.pnl_pct is not None and result.fees is not None
        d = p.price_decimals
        text = (f"{p.side.value} {p.quantity.normalize():f} · entry {p.entry_price:,.{d}f} → "
                f"exit {result.fill.price:,.{d}f}\nPnL {result.pnl_pct * 100:+.2f}% · "
                f"{money(result.pnl_abs, signed=True)} net of {money(result.fees)} fees")
        return Reply(title=close_title(result), text=text)
    if status is CloseStatus.NOT_OPEN:
        return Reply(text=f"Position #{p.id} is not open (it is {p.status}).")
    if status is CloseStatus.REJECTED:
        return Reply(text=f"Position #{p.id} stays open: the broker refused the exit ({result.detail}).")
    if status is CloseStatus.UNCONFIRMED:
        return Reply(text=f"Closing position #{p.id}: the broker did not confirm in time ({result.detail}); "
                          "I will check with it.")
    if status is CloseStatus.ACCEPTED:
        return Reply(text=f"Closing position #{p.id}: the exit order is accepted but not filled yet; "
                          "I will tell you when it is.")
    if status is CloseStatus.NOT_FILLED:
        return Reply(text=f"Position #{p.id} stays open: exit order {result.detail}.")
    return Reply(text=f"Position #{p.id} was already closed.")


def close_all_reply(results: list[CloseResult]) -> Reply:
    text = "\n".join(close_reply(r).plain() for r in results) or "Nothing was open."
    return Reply(title="Closed", text=text, edit=True, notice="Closed")


def no_open_positions() -> Reply:
    return Reply(text="You have no open positions.")


def close_all_question(core: Core, count: int, nonce: str) -> Reply:
    return Reply(title=f"Close all {count} open position(s)?", text="At market, now.",
                 buttons=[[core.button("Close all", "pa", nonce), core.button("Cancel", "cx")]])


def not_open(position: Position) -> Reply:
    return Reply(text=f"Position #{position.id} is {position.status}.")


def close_question(core: Core, user: User, preview: ClosePreview, nonce: str) -> Reply:
    """The position at the live price, and what closing now would give after slippage and fees."""
    position, estimate = preview.position.position, preview.estimate
    line = position_line(preview.position, core.user_tz(user))
    if estimate is None:
        text = line + "\nNo live price right now: it closes at market."
    else:
        d = position.price_decimals
        text = (line + f"\nAt market now: exit at ≈{estimate.fill:,.{d}f} · est. net PnL "
                f"{money(estimate.net_pnl, signed=True)} after {money(estimate.fees)} fees")
    return Reply(title=f"Close position #{position.id}?", text=text,
                 buttons=[[core.button("Close", "px", position.id, nonce), core.button("Cancel", "cx")]])


# ---- reading --------------------------------------------------------------------------------------------

def position_line(live: LivePosition, tz: str) -> str:
    p = live.position
    d = p.price_decimals
    if live.pnl_pct is not None and live.mark is not None:
        dollars = money(live.pnl_abs, signed=True) if live.pnl_abs is not None else ""
        state = f"now {live.mark:,.{d}f} · PnL {live.pnl_pct * 100:+.2f}%" + (f" · {dollars}" if dollars else "")
    else:
        state = p.status

    def shown(value: Decimal | None) -> str:
        return f"{value:,.{d}f}" if value else "—"

    return (f"#{p.id} {p.side.value} {p.symbol} · {money(p.notional)} · entry {shown(p.entry_price)} · {state} · "
            f"SL {shown(p.stop_loss)} · TP {shown(p.take_profit)}")


def positions_reply(core: Core, user: User, overview: PositionsOverview, open_usage: str) -> Reply:
    """Equity, cash and every held position at the price now, with [Close #id]; with none, how to open one
    (`open_usage`: /open's usage line)."""
    head = f"Paper equity {money(overview.equity)} · cash {money(overview.cash)}"
    if not overview.positions:
        return Reply(title="No open positions", text=f"{head}\nOpen one from a BUY/SELL tip or with {open_usage}.")
    tz = core.user_tz(user)
    held = [live.position for live in overview.positions]
    buttons = [[core.button(f"Close #{p.id}", "pc", p.id)] for p in held if p.status == "open"][:10]
    lines = [position_line(live, tz) for live in overview.positions]
    if any(p.quantity is not None for p in held):
        lines.append(PNL_NOTE)
    return Reply(title=f"Open positions ({len(held)})", text=head + "\n" + "\n".join(lines), buttons=buttons)


def performance_lines(perf: Performance) -> list[str]:
    lines = [
        f"Trades {perf.trades} · win rate {perf.wins / perf.trades * 100:.0f}% · total {money(perf.total)} · "
        f"average {money(perf.average)}",
        f"Best #{perf.best.id} {perf.best.symbol} {money(perf.best.pnl_abs or Decimal(0))} · "
        f"worst #{perf.worst.id} {perf.worst.symbol} {money(perf.worst.pnl_abs or Decimal(0))}",
    ]
    for label, groups in (("By symbol", perf.by_symbol), ("By exit reason", perf.by_exit_reason)):
        lines.append(f"{label}: " + ", ".join(f"{g.key} {g.trades} · {money(g.total)}" for g in groups))
    return lines


def trades_reply(core: Core, user: User, page: Page[Position]) -> Reply:
    if not page.items:
        return Reply(text="No closed positions yet." if page.total == 0 else f"No page {page.number}.")
    tz = core.user_tz(user)
    lines = [f"#{p.id} {p.side.value} {p.symbol} · {p.exit_reason} · {(p.pnl_pct or 0) * 100:+.2f}% · "
             f"{money(p.pnl_abs or Decimal(0))} · {local_time(p.closed_at, tz)}" for p in page.items]
    lines.append(f"\nPage {page.number} of {page.pages}")
    return Reply(title=f"Closed positions ({page.total})", text="\n".join(lines))


# ---- the paper account ----------------------------------------------------------------------------------

def reset_question(core: Core, user: User, amount: Decimal, nonce: str) -> Reply:
    return Reply(title="Reset your paper account?",
                 text=f"Cash goes back to {money(amount)}. Your past trades stay: /trades and /pnl keep "
                      "counting them.",
                 buttons=[[core.button("Reset", "rp", user.id, nonce), core.button("Cancel", "cx")]])


def reset_done(amount: Decimal) -> Reply:
    return Reply(text=f"Paper account reset: cash {money(amount)}. Past trades stay in /trades and /pnl.",
                 edit=True, notice="Reset")


# ---- alerts queued with a fill, an exit or a failed entry -----------------------------------------------

def fill_alert(result: OpenResult) -> Reply:
    assert result.position is not None and result.fill is not None
    p, fill = result.position, result.fill
    return Reply(title=f"✅ Filled: position #{p.id} {p.side.value} {p.symbol}",
                 text=fill_text(p, fill.quantity, fill.price, fill.fee))


def entry_failed_alert(position: Position, status: OrderStatus) -> Reply:
    why = ("the order never reached the broker" if status is OrderStatus.NOT_FOUND
           else f"the broker reports the order {status.value}")
    return Reply(title=f"✖ Position #{position.id} not opened",
                 text=f"{position.side.value} {position.symbol} · {money(position.notional)}: {why}. Nothing "
                      "was bought or sold and no cash moved.")


class PositionAlertPayloads:
    """bot.core.usecases.trading.PositionAlerts: the alerts above as the outbox stores them. An exit's alert reads as
    the reply to a close does."""

    def filled(self, result: OpenResult) -> dict[str, Any]:
        return fill_alert(result).model_dump(mode="json")

    def closed(self, result: CloseResult) -> dict[str, Any]:
        return close_reply(result).model_dump(mode="json")

    def entry_failed(self, position: Position, status: OrderStatus) -> dict[str, Any]:
        return entry_failed_alert(position, status).model_dump(mode="json")


# ---- the daily summary, /stats and /health --------------------------------------------------------------

def summary_lines(summary: PositionsSummary | None) -> list[str]:
    """Trades closed in the summary's window (count, win rate, PnL, best and worst) and what is still open."""
    if summary is None:
        return []
    lines = [f"Positions: {summary.open_count} open"]
    if summary.closed is not None:
        lines += performance_lines(summary.closed)[:2]
    return lines


def stats_lines(counts: list[tuple[str, int]]) -> list[str]:
    return ["Positions: " + (", ".join(f"{s} {n}" for s, n in counts) or "none")]


def health_lines(brokers: BrokerSummary | None) -> list[str]:
    if brokers is None:
        return []
    return [f"Brokers: {', '.join(brokers.names)} (default {brokers.default})"]
