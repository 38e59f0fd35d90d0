"""Positions from chat: [Open position] → size → confirmation → fill; /open, /positions, /close, /pnl,
/trades, /resetpaper (SPEC §4). Every button re-checks ownership and role; amounts in buttons are signed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.core.args import (
    ascii_int,
    check_levels,
    parse_id,
    parse_page,
    parse_symbol,
    plain_decimal,
    shorten,
    split_key_values,
)
from bot.core.errors import Refused, UserError
from bot.core.flows import already_done, ask_confirmation, take_confirmation
from bot.core.formatting import local_time
from bot.core.permissions import Permission
from bot.core.registry import Press, Request, registry
from bot.core.replies import Button, Reply
from bot.core.trading import Quote, Trading, money
from bot.core.usecases.tips import owned_signal
from engine.brokers.base import Side
from engine.market.base import MarketError
from engine.models import Recommendation, Signal
from engine.positions import Position, gross_pnl, pnl_fraction
from storage.models import Flow, User

if TYPE_CHECKING:
    from bot.core.kernel import Core

TRADE = Permission.TRADE
QUICK_SIZES = (100, 500, 1000)
MAX_SIZE = Decimal(10_000_000)
OPEN_USAGE = "/open SYMBOL long|short SIZE [sl=PRICE] [tp=PRICE]"
PAGE = 10


def trading(core: Core) -> Trading:
    if core.trading is None:
        raise UserError("Trading is not available in this process.")
    return core.trading


def parse_size(text: str, usage: str | None = None) -> Decimal:
    value = plain_decimal(text.strip().lstrip("$").replace(",", ""))
    if value is None:
        raise UserError(f"{shorten(text)!r} is not an amount in dollars: give a plain number between $1 and "
                        f"{money(MAX_SIZE)} (e.g. 500).", usage)
    if value < 1 or value > MAX_SIZE:
        raise UserError(f"The size must be between $1 and {money(MAX_SIZE)}.", usage)
    return value.quantize(Decimal("0.01"))


def parse_price(text: str, name: str, usage: str) -> Decimal:
    value = plain_decimal(text)
    if value is None:
        raise UserError(f"{name} must be a price, not {shorten(text)!r}.", usage)
    if value <= 0:
        raise UserError(f"{name} must be a positive price.", usage)
    return value


async def _tradeable_signal(core: Core, user: User, raw_id: str) -> Signal:

    signal = await owned_signal(core, user, raw_id, owner_only=True)
    if signal.status != "active" or signal.recommendation is Recommendation.HOLD:
        raise UserError(f"Tip #{signal.id} is {signal.status} {signal.recommendation.value}: nothing to open.")
    return signal


def _side(signal: Signal) -> Side:
    return Side.LONG if signal.recommendation is Recommendation.BUY else Side.SHORT


def confirmation(core: Core, quote: Quote, confirm: Button) -> Reply:
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
    buttons = [[confirm, core.button("Cancel", "cx")]] if not quote.refused else [[core.button("Close", "cx")]]
    title = "Open this position?" if not quote.refused else "A risk check refuses this position"
    return Reply(title=title, text="\n".join(lines), buttons=buttons)


# ---- from a tip's button ----------------------------------------------------------------------------

@registry.button("op", permission=TRADE)
async def open_button(core: Core, press: Press) -> list[Reply]:
    signal = await _tradeable_signal(core, press.user, press.args[0] if press.args else "")
    sizes = [core.button(money(n, cents=False), "os", signal.id, n) for n in QUICK_SIZES]
    default = press.user.settings.get("size")
    rows = [sizes, [core.button("Custom…", "oc", signal.id), core.button("Cancel", "cx")]]
    if default:
        rows.insert(0, [core.button(f"My default {money(default, cents=False)}", "os", signal.id, int(default))])
    return [Reply(title=f"Open {_side(signal).value} {signal.symbol}: what size?",
                  text=f"From tip #{signal.id} ({signal.recommendation.value}). Pick a size in dollars.",
                  buttons=rows, notice="Pick a size")]


async def _quote_for_signal(core: Core, user: User, signal: Signal, notional: Decimal) -> Quote:
    return await trading(core).quote(user, signal.symbol, _side(signal), notional, signal.stop_loss,
                                     signal.take_profit, signal.price_decimals, signal.id)


@registry.button("os", permission=TRADE)
async def size_button(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 2 or ascii_int(press.args[1]) is None:
        return [Reply(notice="This button is not valid.")]
    signal = await _tradeable_signal(core, press.user, press.args[0])
    notional = parse_size(press.args[1])
    quote = await _quote_for_signal(core, press.user, signal, notional)
    nonce = await ask_confirmation(core, press.user.id, press.ctx.chat_key, "open_tip")
    reply = confirmation(core, quote, core.button("Confirm", "oy", signal.id, int(notional), nonce))
    reply.edit = True
    return [reply]


@registry.button("oc", permission=TRADE)
async def custom_size_button(core: Core, press: Press) -> list[Reply]:
    signal = await _tradeable_signal(core, press.user, press.args[0] if press.args else "")
    await core.storage.flows.start(press.user.id, press.ctx.chat_key, "open_size", {"signal_id": signal.id})
    return [Reply(text="Type the size in dollars (e.g. 250), or /cancel.", notice="Type a size")]


@registry.flow("open_size")
async def continue_open_size(core: Core, req: Request, flow: Flow) -> list[Reply]:
    state = flow.state
    notional = parse_size(req.text, "a size in dollars, or /cancel")
    signal = await _tradeable_signal(core, req.user, str(state["signal_id"]))
    quote = await _quote_for_signal(core, req.user, signal, notional)
    # The confirmation's flow replaces the size question's.
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "open_tip")
    return [confirmation(core, quote, core.button("Confirm", "oy", signal.id, int(notional), nonce))]


@registry.button("oy", permission=TRADE, expensive=True)
async def confirm_button(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 3 or ascii_int(press.args[1]) is None:
        return [Reply(notice="This button is not valid.")]
    signal = await _tradeable_signal(core, press.user, press.args[0])
    if await take_confirmation(core, press, "open_tip") is None:
        return already_done()
    quote = await _quote_for_signal(core, press.user, signal, parse_size(press.args[1]))
    reply = await trading(core).open(press.user, press.ctx.platform, press.ctx.chat_id, quote)
    reply.edit = True
    reply.notice = reply.title
    return [reply]


# ---- from text --------------------------------------------------------------------------------------

@registry.command("open", OPEN_USAGE, "open a position from text", permission=TRADE, expensive=True,
                  group="Positions")
async def open_cmd(core: Core, req: Request) -> list[Reply]:
    positional, pairs = split_key_values(req.args, OPEN_USAGE)
    if len(positional) != 3:
        raise UserError("Give a symbol, a side and a size.", OPEN_USAGE)
    symbol = parse_symbol(positional[0], OPEN_USAGE)
    side_word = positional[1].lower()
    if side_word not in ("long", "short", "buy", "sell"):
        raise UserError(f"Side must be long or short, not {shorten(positional[1])!r}.", OPEN_USAGE)
    side = Side.LONG if side_word in ("long", "buy") else Side.SHORT
    notional = parse_size(positional[2], OPEN_USAGE)
    unknown = set(pairs) - {"sl", "tp"}
    if unknown:
        raise UserError(f"Unknown option {shorten(unknown.pop())!r}; options are sl= and tp=.", OPEN_USAGE)
    sl = parse_price(pairs["sl"], "sl", OPEN_USAGE) if "sl" in pairs else None
    tp = parse_price(pairs["tp"], "tp", OPEN_USAGE) if "tp" in pairs else None
    try:
        price = await core.services.market.last_price(symbol)
        decimals = await trading(core).price_decimals(symbol)  # the symbol's tick, not the quote's digits
    except MarketError as exc:
        raise UserError(str(exc), OPEN_USAGE) from None
    below, above = (sl, tp) if side is Side.LONG else (tp, sl)
    if (below is not None and below >= price) or (above is not None and above <= price):
        raise UserError(f"For a {side.value} at {price}, the stop-loss must be on the losing side and the "
                        "take-profit on the winning side.", OPEN_USAGE)
    check_levels(price, sl, tp, OPEN_USAGE)
    quote = await trading(core).quote(req.user, symbol, side, notional, sl, tp, decimals, None)
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "open_confirm", {
        "symbol": symbol, "side": side.value, "notional": str(notional), "sl": str(sl) if sl else None,
        "tp": str(tp) if tp else None, "decimals": quote.price_decimals})
    return [confirmation(core, quote, core.button("Confirm", "of", nonce))]


@registry.button("of", permission=TRADE, expensive=True)
async def confirm_text_open(core: Core, press: Press) -> list[Reply]:
    s = await take_confirmation(core, press, "open_confirm")
    if s is None:
        return already_done()
    quote = await trading(core).quote(press.user, s["symbol"], Side(s["side"]), Decimal(s["notional"]),
                                      Decimal(s["sl"]) if s["sl"] else None, Decimal(s["tp"]) if s["tp"] else None,
                                      int(s["decimals"]), None)
    reply = await trading(core).open(press.user, press.ctx.platform, press.ctx.chat_id, quote)
    reply.edit = True
    reply.notice = reply.title
    return [reply]


# ---- reading and closing ----------------------------------------------------------------------------

def position_line(p: Position, tz: str, price: Decimal | None = None) -> str:
    d = p.price_decimals
    mark = price or p.last_price
    if p.status in ("open", "closing") and p.entry_price and mark:
        live = float(pnl_fraction(p.side, p.entry_price, mark)) * 100
        dollars = money(open_pnl(p, mark), signed=True) if p.quantity is not None else ""
        state = f"now {mark:,.{d}f} · PnL {live:+.2f}%" + (f" · {dollars}" if dollars else "")
    else:
        state = p.status
    def shown(value: Decimal | None) -> str:
        return f"{value:,.{d}f}" if value else "—"

    return (f"#{p.id} {p.side.value} {p.symbol} · {money(p.notional)} · entry {shown(p.entry_price)} · {state} · "
            f"SL {shown(p.stop_loss)} · TP {shown(p.take_profit)}")


def open_pnl(p: Position, mark: Decimal) -> Decimal:
    """Dollar PnL of a filled position at `mark`, net of the entry fee already paid (the exit fee is not yet)."""
    assert p.entry_price is not None and p.quantity is not None
    return gross_pnl(p.side, p.entry_price, mark, p.quantity) - (p.entry_fee or Decimal(0))


PNL_NOTE = "Dollar PnL is net of the entry fee; closing pays the exit fee too."


@registry.command("positions", "/positions", "your open positions with live PnL", permission=TRADE,
                  group="Positions")
async def positions_cmd(core: Core, req: Request) -> list[Reply]:
    open_ = await trading(core).repo.with_status("pending", "open", "closing", user_id=req.user.id)
    equity, cash = await trading(core).equity(req.user)
    head = f"Paper equity {money(equity)} · cash {money(cash)}"
    if not open_:
        return [Reply(title="No open positions", text=f"{head}\nOpen one from a BUY/SELL tip or with {OPEN_USAGE}.")]
    tz = core.user_tz(req.user)
    prices, _ = await trading(core).current_prices({p.symbol for p in open_})
    buttons = [[core.button(f"Close #{p.id}", "pc", p.id)] for p in open_ if p.status == "open"][:10]
    lines = [position_line(p, tz, prices.get(p.symbol)) for p in open_]
    if any(p.quantity is not None for p in open_):
        lines.append(PNL_NOTE)
    return [Reply(title=f"Open positions ({len(open_)})", text=head + "\n" + "\n".join(lines), buttons=buttons)]


async def _own_position(core: Core, user: User, raw: str) -> Position:
    raw = str(parse_id(raw, "position", "/close ID|all", " (see /positions)"))
    position = await trading(core).repo.get(int(raw))
    if position is None:
        raise UserError(f"No position #{raw}.", "/close ID|all")
    if position.user_id != user.id:
        raise Refused(f"Position #{raw} is not yours.", reason=f"foreign position {raw}")
    return position


@registry.command("close", "/close ID|all", "close a position (asks to confirm)", permission=TRADE,
                  group="Positions")
async def close_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) != 1:
        raise UserError("Name one position, or all.", "/close ID|all")
    if req.args[0].lower() == "all":
        open_ = await trading(core).repo.with_status("open", user_id=req.user.id)
        if not open_:
            return [Reply(text="You have no open positions.")]
        nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "close_all")
        return [Reply(title=f"Close all {len(open_)} open position(s)?", text="At market, now.",
                      buttons=[[core.button("Close all", "pa", nonce), core.button("Cancel", "cx")]])]
    position = await _own_position(core, req.user, req.args[0])
    if position.status != "open":
        return [Reply(text=f"Position #{position.id} is {position.status}.")]
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "close")
    return [Reply(title=f"Close position #{position.id}?", text=await close_preview(core, position, req.user),
                  buttons=[[core.button("Close", "px", position.id, nonce), core.button("Cancel", "cx")]])]


async def close_preview(core: Core, position: Position, user: User) -> str:
    """The position at the live price, and what closing now would give after slippage and fees."""
    estimate = await trading(core).exit_estimate(position)
    if estimate is None:
        return position_line(position, core.user_tz(user)) + "\nNo live price right now: it closes at market."
    d = position.price_decimals
    return (position_line(position, core.user_tz(user), estimate.price) +
            f"\nAt market now: exit at ≈{estimate.fill:,.{d}f} · est. net PnL {money(estimate.net_pnl, signed=True)}"
            f" after {money(estimate.fees)} fees")


@registry.button("pc", permission=TRADE)
async def close_ask_button(core: Core, press: Press) -> list[Reply]:
    return await close_cmd(core, Request(ctx=press.ctx, user=press.user, args=press.args[:1] or ["?"]))


@registry.button("px", permission=TRADE, expensive=True)
async def close_confirm(core: Core, press: Press) -> list[Reply]:
    position = await _own_position(core, press.user, press.args[0] if press.args else "")
    if len(press.args) != 2 or await take_confirmation(core, press, "close") is None:
        return already_done()
    reply = await trading(core).close(position, "manual", announce=False)
    reply.edit = True
    reply.notice = "Closing"
    return [reply]


@registry.button("pa", permission=TRADE, expensive=True)
async def close_all_confirm(core: Core, press: Press) -> list[Reply]:
    if await take_confirmation(core, press, "close_all") is None:
        return already_done()
    replies = []
    for position in await trading(core).repo.with_status("open", user_id=press.user.id):
        replies.append(await trading(core).close(position, "manual", announce=False))
    text = "\n".join(r.plain() for r in replies) or "Nothing was open."
    return [Reply(title="Closed", text=text, edit=True, notice="Closed")]


PERIODS = {"today": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "all": None}


@registry.command("pnl", "/pnl [today|7d|30d|all]", "performance of your closed positions", permission=TRADE,
                  group="Positions")
async def pnl_cmd(core: Core, req: Request) -> list[Reply]:
    period = req.args[0].lower() if req.args else "all"
    if len(req.args) > 1 or period not in PERIODS:
        raise UserError("Say today, 7d, 30d or all.", "/pnl [today|7d|30d|all]")
    closed = await trading(core).closed_within(req.user.id, PERIODS[period])  # on the market's clock
    if not closed:
        return [Reply(text=f"No closed positions ({period}).")]
    lines = performance_lines(closed)
    return [Reply(title=f"Performance ({period})", text="\n".join(lines))]


def performance_lines(closed: list[Position]) -> list[str]:
    pnls = [p.pnl_abs or Decimal(0) for p in closed]
    wins = sum(1 for v in pnls if v > 0)
    total = sum(pnls, Decimal(0))
    best = max(closed, key=lambda p: p.pnl_abs or 0)
    worst = min(closed, key=lambda p: p.pnl_abs or 0)
    lines = [
        f"Trades {len(closed)} · win rate {wins / len(closed) * 100:.0f}% · total {money(total)} · "
        f"average {money(total / len(closed))}",
        f"Best #{best.id} {best.symbol} {money(best.pnl_abs or Decimal(0))} · "
        f"worst #{worst.id} {worst.symbol} {money(worst.pnl_abs or Decimal(0))}",
    ]
    for label, key in (("By symbol", "symbol"), ("By exit reason", "exit_reason")):
        groups: dict[str, list[Decimal]] = {}
        for p in closed:
            groups.setdefault(str(getattr(p, key)), []).append(p.pnl_abs or Decimal(0))
        lines.append(f"{label}: " + ", ".join(f"{k} {len(v)} · {money(sum(v, Decimal(0)))}"
                                              for k, v in sorted(groups.items())))
    return lines


@registry.command("trades", "/trades [PAGE]", "your closed positions, paged", permission=TRADE, group="Positions")
async def trades_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) > 1:
        raise UserError("Give at most a page number.", "/trades [PAGE]")
    page = parse_page(req.args[0], "/trades [PAGE]") if req.args else 1
    repo = trading(core).repo
    total = await repo.count_closed(req.user.id)
    items = await repo.closed(req.user.id, None, PAGE, (page - 1) * PAGE)
    if not items:
        return [Reply(text="No closed positions yet." if total == 0 else f"No page {page}.")]
    tz = core.user_tz(req.user)
    lines = [f"#{p.id} {p.side.value} {p.symbol} · {p.exit_reason} · {(p.pnl_pct or 0) * 100:+.2f}% · "
             f"{money(p.pnl_abs or Decimal(0))} · {local_time(p.closed_at, tz)}" for p in items]
    pages = max(1, -(-total // PAGE))
    lines.append(f"\nPage {page} of {pages}")
    return [Reply(title=f"Closed positions ({total})", text="\n".join(lines))]


@registry.command("resetpaper", "/resetpaper", "reset your paper account (asks to confirm)", permission=TRADE,
                  group="Positions")
async def resetpaper_cmd(core: Core, req: Request) -> list[Reply]:
    amount = Decimal(str(core.settings.paper.starting_equity))
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "resetpaper")
    return [Reply(title="Reset your paper account?",
                  text=f"Cash goes back to {money(amount)}. Your past trades stay: /trades and /pnl keep "
                       "counting them.",
                  buttons=[[core.button("Reset", "rp", req.user.id, nonce), core.button("Cancel", "cx")]])]


@registry.button("rp", permission=TRADE)
async def resetpaper_confirm(core: Core, press: Press) -> list[Reply]:
    if press.args[:1] != [str(press.user.id)]:
        raise Refused("This button is not yours.", reason="foreign resetpaper")
    repo = trading(core).repo
    if await repo.with_status("pending", "open", "closing", user_id=press.user.id):
        raise UserError("Close your open paper positions first (/close all).")
    if len(press.args) != 2 or await take_confirmation(core, press, "resetpaper") is None:
        return already_done()
    amount = Decimal(str(core.settings.paper.starting_equity))
    await repo.reset_paper(press.user.id, amount)
    await core.storage.activity.log(press.user.id, "paper_reset", f"Paper account reset to {amount}")
    return [Reply(text=f"Paper account reset: cash {money(amount)}. Past trades stay in /trades and /pnl.",
                  edit=True, notice="Reset")]


# ---- what positions add to the daily summary, /stats and /health -------------------------------------

async def summary_section(core: Core, scope: object) -> list[str]:
    """Trades closed in the summary's window, win rate and PnL, and what is still open (private chats)."""
    user_id = getattr(scope, "user_id", None)
    if user_id is None or core.trading is None:
        return []
    repo = core.trading.repo
    # The summary's window is wall-clock time; in replay, closes carry the market's (older) time.
    since, until = getattr(scope, "since", None), getattr(scope, "until", None)
    closed = await repo.closed_recorded_between(user_id, since, until) if since and until else []
    still_open = await repo.with_status("open", user_id=user_id)
    if not closed and not still_open:
        return []
    lines = [f"Positions: {len(still_open)} open"]
    if closed:
        lines += performance_lines(closed)[:2]
    return lines


async def stats_lines(core: Core) -> list[str]:
    counts = await core.storage.positions.status_counts()
    return ["Positions: " + (", ".join(f"{s} {n}" for s, n in counts) or "none")]


async def health_lines(core: Core) -> list[str]:
    if core.trading is None:
        return []
    return [f"Brokers: {', '.join(sorted(core.trading.brokers))} (default {core.trading.default_broker})"]
