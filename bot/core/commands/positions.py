"""Positions from chat: [Open position] → size → confirmation → fill; /open, /positions, /close, /pnl,
/trades, /resetpaper (SPEC §4). Parse, call the positions use cases, render the view. Every button re-checks
ownership and role (in the use cases); amounts in buttons are signed."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from bot.core.args import parse_id, plain_decimal, shorten, size_arg
from bot.core.context import ChatContext
from bot.core.errors import UserError
from bot.core.flows import already_done, ask_confirmation, take_confirmation
from bot.core.formatting import money
from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.positions import (
    PERIODS,
    check_reset,
    close_all,
    close_position,
    close_preview,
    open_positions,
    open_quote,
    own_position,
    own_position_arg,
    positions_overview,
    quote_for_text,
    quote_for_tip,
    quote_state,
    requote,
    reset_paper,
    starting_equity,
    tradeable_signal,
    trades_page,
)
from bot.core.usecases.reports import pnl_report
from bot.core.views.positions import (
    close_all_question,
    close_all_reply,
    close_question,
    close_reply,
    confirmation,
    no_open_positions,
    not_open,
    open_reply,
    positions_reply,
    reset_done,
    reset_question,
    size_picker,
    size_question,
    trades_reply,
)
from bot.core.views.reports import pnl_report_reply
from engine.brokers.base import Side
from storage.models import Flow, User

TRADE = Permission.TRADE
MAX_SIZE = Decimal(10_000_000)


def parse_size(text: str, usage: str | None = None) -> Decimal:
    """Dollars as traders type them ($1,500 or 1500), from $1 to MAX_SIZE, to the cent."""
    value = plain_decimal(text.strip().lstrip("$").replace(",", ""))
    if value is None:
        raise UserError(f"{shorten(text)!r} is not an amount in dollars: give a plain number between $1 and "
                        f"{money(MAX_SIZE)} (e.g. 500).", usage)
    if value < 1 or value > MAX_SIZE:
        raise UserError(f"The size must be between $1 and {money(MAX_SIZE)}.", usage)
    return value.quantize(Decimal("0.01"))


# A size as the bot writes it into a button: whole dollars (every button made before cents were kept, and the
# quick sizes) or dollars and cents. Only that form is read back: no sign, exponent, NaN or second point.
_BUTTON_SIZE_RE = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?")


def button_size(text: str) -> Decimal | None:
    """The size a button carries (see size_arg), from $1 to MAX_SIZE; None for anything else."""
    value = plain_decimal(text) if _BUTTON_SIZE_RE.fullmatch(text) else None
    if value is None or not 1 <= value <= MAX_SIZE:
        return None
    return value.quantize(Decimal("0.01"))


def price_parser(name: str) -> Callable[[str], Decimal]:
    """A stop-loss or take-profit level: a plain positive price (how far from the market is the use case's)."""
    def parse(text: str) -> Decimal:
        value = plain_decimal(text)
        if value is None:
            raise UserError(f"{name} must be a price, not {shorten(text)!r}.")
        if value <= 0:
            raise UserError(f"{name} must be a positive price.")
        return value
    return parse


OPEN_ARGS = (
    Arg("symbol", Kind.SYMBOL, "the market, e.g. BTC/USDT or AAPL", required=True),
    Arg("side", Kind.CHOICE, "long or short (buy and sell say the same)", required=True, choices=("long", "short"),
        words=("buy", "sell")),
    Arg("size", Kind.MONEY, f"the size in dollars, $1 to {money(MAX_SIZE, cents=False)}", required=True, low=1,
        high=MAX_SIZE, parser=parse_size),
    Arg("sl", Kind.MONEY, "the stop-loss price", keyed=True, low=0, metavar="PRICE", parser=price_parser("sl")),
    Arg("tp", Kind.MONEY, "the take-profit price", keyed=True, low=0, metavar="PRICE", parser=price_parser("tp")),
)


def _pressed(reply: Reply, notice: str | None = None) -> Reply:
    """A button's answer edits the message that carried it; its toast repeats the title unless told."""
    reply.edit = True
    reply.notice = notice or reply.title
    return reply


# ---- from a tip's button ----------------------------------------------------------------------------

@registry.button("op", permission=TRADE)
async def open_button(core: Core, press: Press) -> list[Reply]:
    signal = await tradeable_signal(core, press.user, press.args[0] if press.args else "")
    return [size_picker(core, signal, press.user)]


@registry.button("os", permission=TRADE)
async def size_button(core: Core, press: Press) -> list[Reply]:
    notional = button_size(press.args[1]) if len(press.args) == 2 else None
    if notional is None:
        return [Reply(notice="This button is not valid.")]
    signal = await tradeable_signal(core, press.user, press.args[0])
    quote = await quote_for_tip(core, press.user, signal, notional)
    nonce = await ask_confirmation(core, press.user.id, press.ctx.chat_key, "open_tip")
    reply = confirmation(core, quote, "oy", signal.id, size_arg(notional), nonce)
    reply.edit = True
    return [reply]


@registry.button("oc", permission=TRADE)
async def custom_size_button(core: Core, press: Press) -> list[Reply]:
    signal = await tradeable_signal(core, press.user, press.args[0] if press.args else "")
    await core.storage.flows.start(press.user.id, press.ctx.chat_key, "open_size", {"signal_id": signal.id})
    return [size_question()]


@registry.flow("open_size")
async def continue_open_size(core: Core, req: Request, flow: Flow) -> list[Reply]:
    notional = parse_size(req.text, "a size in dollars, or /cancel")
    signal = await tradeable_signal(core, req.user, str(flow.state["signal_id"]))
    quote = await quote_for_tip(core, req.user, signal, notional)
    # The confirmation's flow replaces the size question's.
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "open_tip")
    return [confirmation(core, quote, "oy", signal.id, size_arg(notional), nonce)]


@registry.button("oy", permission=TRADE, expensive=True)
async def confirm_button(core: Core, press: Press) -> list[Reply]:
    # The size is read before the confirmation is taken: a bad button consumes nothing.
    notional = button_size(press.args[1]) if len(press.args) == 3 else None
    if notional is None:
        return [Reply(notice="This button is not valid.")]
    signal = await tradeable_signal(core, press.user, press.args[0])
    if await take_confirmation(core, press, "open_tip") is None:
        return already_done()
    quote = await quote_for_tip(core, press.user, signal, notional)
    return [_pressed(open_reply(await open_quote(core, press.ctx, press.user, quote)))]


# ---- from text --------------------------------------------------------------------------------------

@registry.command("open", "open a position from text", permission=TRADE, expensive=True, group="Positions",
                  private=True, args=OPEN_ARGS)
async def open_cmd(core: Core, req: Request) -> list[Reply]:
    values = req.values
    side = Side.LONG if values["side"] in ("long", "buy") else Side.SHORT
    quote = await quote_for_text(core, req.user, values["symbol"], side, values["size"], values["sl"], values["tp"])
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "open_confirm", quote_state(quote))
    return [confirmation(core, quote, "of", nonce)]


@registry.button("of", permission=TRADE, expensive=True)
async def confirm_text_open(core: Core, press: Press) -> list[Reply]:
    state = await take_confirmation(core, press, "open_confirm")
    if state is None:
        return already_done()
    quote = await requote(core, press.user, state)
    return [_pressed(open_reply(await open_quote(core, press.ctx, press.user, quote)))]


# ---- reading and closing ----------------------------------------------------------------------------

@registry.command("positions", "your open positions with live PnL", permission=TRADE, group="Positions",
                  private=True, args=())
async def positions_cmd(core: Core, req: Request) -> list[Reply]:
    overview = await positions_overview(core, req.user)
    return [positions_reply(core, req.user, overview, registry.commands["open"].usage)]


async def ask_close(core: Core, ctx: ChatContext, user: User, target: int | str) -> list[Reply]:
    """Ask to confirm closing one position (shown at the live price) or all open ones."""
    chat_key = ctx.chat_key
    if target == "all":
        held = await open_positions(core, user)
        if not held:
            return [no_open_positions()]
        nonce = await ask_confirmation(core, user.id, chat_key, "close_all")
        return [close_all_question(core, len(held), nonce)]
    position = await own_position(core, user, int(target))
    if position.status != "open":
        return [not_open(position)]
    nonce = await ask_confirmation(core, user.id, chat_key, "close")
    return [close_question(core, user, await close_preview(core, position), nonce)]


@registry.command("close", "close a position (asks to confirm)", permission=TRADE, group="Positions", private=True,
                  args=(Arg("id", Kind.ID, "the position's id (see /positions), or all", required=True,
                            words=("all",), what="position"),))
async def close_cmd(core: Core, req: Request) -> list[Reply]:
    return await ask_close(core, req.ctx, req.user, req.values["id"])


@registry.button("pc", permission=TRADE)
async def close_ask_button(core: Core, press: Press) -> list[Reply]:
    raw = press.args[0] if press.args else "?"
    target = "all" if raw.lower() == "all" else parse_id(raw, "position", hint=" (see /positions)")
    return await ask_close(core, press.ctx, press.user, target)


@registry.button("px", permission=TRADE, expensive=True)
async def close_confirm(core: Core, press: Press) -> list[Reply]:
    position = await own_position_arg(core, press.user, press.args[0] if press.args else "")
    if len(press.args) != 2 or await take_confirmation(core, press, "close") is None:
        return already_done()
    return [_pressed(close_reply(await close_position(core, position)), "Closing")]


@registry.button("pa", permission=TRADE, expensive=True)
async def close_all_confirm(core: Core, press: Press) -> list[Reply]:
    if await take_confirmation(core, press, "close_all") is None:
        return already_done()
    return [close_all_reply(await close_all(core, press.user))]


@registry.command("pnl", "performance of your closed positions: profit %, profit factor, expectancy, drawdown",
                  permission=TRADE, group="Positions", private=True,
                  args=(Arg("period", Kind.CHOICE, "the last 24 hours, 7 or 30 days, or all (the default)",
                            choices=tuple(PERIODS), default="all"),))
async def pnl_cmd(core: Core, req: Request) -> list[Reply]:
    period: str = req.values["period"]
    return [pnl_report_reply(period, await pnl_report(core, req.user, period))]


@registry.command("trades", "your closed positions, paged", permission=TRADE, group="Positions", private=True,
                  args=(Arg("page", Kind.PAGE, "which page (1 is the newest)", default=1),))
async def trades_cmd(core: Core, req: Request) -> list[Reply]:
    return [trades_reply(core, req.user, await trades_page(core, req.user, req.values["page"]))]


@registry.command("resetpaper", "reset your paper account (asks to confirm)", permission=TRADE, group="Positions",
                  private=True, args=())
async def resetpaper_cmd(core: Core, req: Request) -> list[Reply]:
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "resetpaper")
    return [reset_question(core, req.user, starting_equity(core), nonce)]


@registry.button("rp", permission=TRADE)
async def resetpaper_confirm(core: Core, press: Press) -> list[Reply]:
    await check_reset(core, press.user, press.args[0] if press.args else "")
    if len(press.args) != 2 or await take_confirmation(core, press, "resetpaper") is None:
        return already_done()
    return [reset_done(await reset_paper(core, press.user))]
