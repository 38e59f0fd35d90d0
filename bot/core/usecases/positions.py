"""Positions from chat (SPEC §4): quotes for a tip or for typed levels, opening a quote, a user's positions
with live PnL, closing one or all, performance over a period, the closed trades paged, resetting the paper
account, and what positions add to the daily summary, /stats and /health.

Every position and tip is checked to be the user's own here. Opening, closing and their atomicity are
bot.core.usecases.trading's; this module finds, checks and reads around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.core.args import check_levels, parse_id
from bot.core.context import ChatContext
from bot.core.errors import Refused, UserError
from bot.core.kernel import Core
from bot.core.usecases.paging import Page
from bot.core.usecases.tips import owned_signal
from bot.core.usecases.trading import CloseResult, ExitEstimate, OpenResult, Quote, Trading
from engine.brokers.base import Side
from engine.market.base import MarketError
from engine.models import Recommendation, Signal
from engine.positions import Position, gross_pnl, pnl_fraction
from storage.models import User

TRADES_PAGE = 10
# /pnl's periods, in market time (the replay's clock, or now); None: every closed position.
PERIODS: dict[str, timedelta | None] = {"today": timedelta(days=1), "7d": timedelta(days=7),
                                         "30d": timedelta(days=30), "all": None}
HELD = ("pending", "open", "closing")  # positions that hold cash or exposure


def trading(core: Core) -> Trading:
    if core.trading is None:
        raise UserError("Trading is not available in this process.")
    return core.trading


# ---- opening --------------------------------------------------------------------------------------------

def signal_side(signal: Signal) -> Side:
    return Side.LONG if signal.recommendation is Recommendation.BUY else Side.SHORT


async def tradeable_signal(core: Core, user: User, signal_id: int | str) -> Signal:
    """The user's own active BUY or SELL tip, the only kind a position opens from."""
    signal = await owned_signal(core, user, signal_id, owner_only=True)
    if signal.status != "active" or signal.recommendation is Recommendation.HOLD:
        raise UserError(f"Tip #{signal.id} is {signal.status} {signal.recommendation.value}: nothing to open.")
    return signal


async def quote_for_tip(core: Core, user: User, signal: Signal, notional: Decimal) -> Quote:
    """A position of `notional` dollars on a tip's side, with the tip's stop-loss and take-profit."""
    return await trading(core).quote(user, signal.symbol, signal_side(signal), notional, signal.stop_loss,
                                     signal.take_profit, signal.price_decimals, signal.id)


async def quote_for_text(core: Core, user: User, symbol: str, side: Side, notional: Decimal,
                         stop_loss: Decimal | None, take_profit: Decimal | None) -> Quote:
    """A position typed with /open: its levels must lie on the right sides of the price, within reach."""
    try:
        price = await core.services.market.last_price(symbol)
        decimals = await trading(core).price_decimals(symbol)  # the symbol's tick, not the quote's digits
    except MarketError as exc:
        raise UserError(str(exc)) from None
    below, above = (stop_loss, take_profit) if side is Side.LONG else (take_profit, stop_loss)
    if (below is not None and below >= price) or (above is not None and above <= price):
        raise UserError(f"For a {side.value} at {price}, the stop-loss must be on the losing side and the "
                        "take-profit on the winning side.")
    check_levels(price, stop_loss, take_profit)
    return await trading(core).quote(user, symbol, side, notional, stop_loss, take_profit, decimals, None)


def quote_state(quote: Quote) -> dict[str, Any]:
    """What a typed open's confirmation keeps, to quote it again when Confirm is pressed."""
    return {"symbol": quote.symbol, "side": quote.side.value, "notional": str(quote.notional),
            "sl": str(quote.stop_loss) if quote.stop_loss else None,
            "tp": str(quote.take_profit) if quote.take_profit else None, "decimals": quote.price_decimals}


async def requote(core: Core, user: User, state: dict[str, Any]) -> Quote:
    """The typed open again at the price now (the confirmation's numbers are advisory)."""
    return await trading(core).quote(user, state["symbol"], Side(state["side"]), Decimal(state["notional"]),
                                     Decimal(state["sl"]) if state["sl"] else None,
                                     Decimal(state["tp"]) if state["tp"] else None, int(state["decimals"]), None)


async def open_quote(core: Core, ctx: ChatContext, user: User, quote: Quote) -> OpenResult:
    """Open it from this chat: the checks run again, atomically, and the fill is recorded (usecases.trading)."""
    return await trading(core).open(user, ctx.platform, ctx.chat_id, quote)


# ---- reading --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LivePosition:
    """A position valued at `mark` (the price now, else its last known one). PnL only for a filled one."""

    position: Position
    mark: Decimal | None
    pnl_pct: float | None = None  # a fraction: 0.0123 is +1.23 %
    pnl_abs: Decimal | None = None  # dollars, net of the entry fee already paid (the exit fee is not yet)


def valued(position: Position, price: Decimal | None = None) -> LivePosition:
    mark = price or position.last_price
    if position.status not in ("open", "closing") or not position.entry_price or not mark:
        return LivePosition(position, mark)
    pct = float(pnl_fraction(position.side, position.entry_price, mark))
    dollars = None
    if position.quantity is not None:
        dollars = gross_pnl(position.side, position.entry_price, mark, position.quantity) - (
            position.entry_fee or Decimal(0))
    return LivePosition(position, mark, pct, dollars)


@dataclass(frozen=True)
class PositionsOverview:
    equity: Decimal
    cash: Decimal
    positions: list[LivePosition]  # pending, open and closing, at the prices now


async def positions_overview(core: Core, user: User) -> PositionsOverview:
    t = trading(core)
    held = await t.repo.with_status(*HELD, user_id=user.id)
    equity, cash = await t.equity(user)
    if not held:
        return PositionsOverview(equity, cash, [])
    prices, _ = await t.current_prices({p.symbol for p in held})
    return PositionsOverview(equity, cash, [valued(p, prices.get(p.symbol)) for p in held])


# ---- closing --------------------------------------------------------------------------------------------

async def own_position(core: Core, user: User, position_id: int) -> Position:
    """The user's own position by id, or a refusal that never shows another user's."""
    position = await trading(core).repo.get(position_id)
    if position is None:
        raise UserError(f"No position #{position_id}.")
    if position.user_id != user.id:
        raise Refused(f"Position #{position_id} is not yours.", reason=f"foreign position {position_id}")
    return position


async def own_position_arg(core: Core, user: User, raw: str) -> Position:
    """The same, named by a button's argument (parsed strictly first)."""
    return await own_position(core, user, parse_id(raw, "position", hint=" (see /positions)"))


async def open_positions(core: Core, user: User) -> list[Position]:
    return await trading(core).repo.with_status("open", user_id=user.id)


@dataclass(frozen=True)
class ClosePreview:
    position: LivePosition  # at the live price when there is one
    estimate: ExitEstimate | None  # closing at market now; None without a live price


async def close_preview(core: Core, position: Position) -> ClosePreview:
    estimate = await trading(core).exit_estimate(position)
    return ClosePreview(valued(position, estimate.price if estimate else None), estimate)


async def close_position(core: Core, position: Position) -> CloseResult:
    """A close the user pressed for: told in the reply that edits their message, so not queued as an alert."""
    return await trading(core).close(position, "manual", announce=False)


async def close_all(core: Core, user: User) -> list[CloseResult]:
    t = trading(core)
    return [await t.close(p, "manual", announce=False) for p in await t.repo.with_status("open", user_id=user.id)]


# ---- performance ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Group:
    key: str
    trades: int
    total: Decimal


@dataclass(frozen=True)
class Performance:
    """Closed positions summed up: count, wins, total and average net PnL, best and worst, by symbol and by
    exit reason (each sorted by key)."""

    trades: int
    wins: int
    total: Decimal
    best: Position
    worst: Position
    by_symbol: list[Group]
    by_exit_reason: list[Group]

    @property
    def average(self) -> Decimal:
        return self.total / self.trades


def performance(closed: list[Position]) -> Performance | None:
    if not closed:
        return None
    pnls = [p.pnl_abs or Decimal(0) for p in closed]

    def groups(key: str) -> list[Group]:
        found: dict[str, list[Decimal]] = {}
        for p in closed:
            found.setdefault(str(getattr(p, key)), []).append(p.pnl_abs or Decimal(0))
        return [Group(k, len(v), sum(v, Decimal(0))) for k, v in sorted(found.items())]

    return Performance(trades=len(closed), wins=sum(1 for v in pnls if v > 0), total=sum(pnls, Decimal(0)),
                       best=max(closed, key=lambda p: p.pnl_abs or 0), worst=min(closed, key=lambda p: p.pnl_abs or 0),
                       by_symbol=groups("symbol"), by_exit_reason=groups("exit_reason"))


async def trades_page(core: Core, user: User, number: int) -> Page[Position]:
    """A page of the user's closed positions, newest first; a page past the end is empty."""
    repo = trading(core).repo
    total = await repo.count_closed(user.id)
    items = await repo.closed(user.id, None, TRADES_PAGE, (number - 1) * TRADES_PAGE)
    return Page(items, number, Page.count(total, TRADES_PAGE), total)


# ---- the paper account ----------------------------------------------------------------------------------

def starting_equity(core: Core) -> Decimal:
    return Decimal(str(core.settings.paper.starting_equity))


async def check_reset(core: Core, user: User, owner: str) -> None:
    """A reset is its button's owner's, and only with nothing open (their cash is in those positions)."""
    if owner != str(user.id):
        raise Refused("This button is not yours.", reason="foreign resetpaper")
    if await trading(core).repo.with_status(*HELD, user_id=user.id):
        raise UserError("Close your open paper positions first (/close all).")


async def reset_paper(core: Core, user: User) -> Decimal:
    """Cash back to the starting equity; past trades stay. Returns the new cash."""
    amount = starting_equity(core)
    await trading(core).repo.reset_paper(user.id, amount)
    await core.storage.activity.log(user.id, "paper_reset", f"Paper account reset to {amount}")
    return amount


# ---- the daily summary, /stats and /health --------------------------------------------------------------

@dataclass(frozen=True)
class PositionsSummary:
    open_count: int
    closed: Performance | None  # of the trades closed in the summary's window


async def positions_summary(core: Core, user_id: int | None, since: datetime | None,
                            until: datetime | None, *, everyone: bool = False) -> PositionsSummary | None:
    """A private chat's positions for its daily summary (`everyone`: every user's, for a summary channel);
    None when there is nothing to say (or no user)."""
    if (user_id is None and not everyone) or core.trading is None:
        return None
    repo = core.trading.repo
    owner = None if everyone else user_id
    # The summary's window is wall-clock time; in replay, closes carry the market's (older) time.
    closed = await repo.closed_recorded_between(owner, since, until) if since and until else []
    still_open = await repo.with_status("open", user_id=owner)
    if not closed and not still_open:
        return None
    return PositionsSummary(len(still_open), performance(closed))


async def status_counts(core: Core) -> list[tuple[str, int]]:
    return await core.storage.positions.status_counts()


@dataclass(frozen=True)
class BrokerSummary:
    names: list[str]  # sorted
    default: str


def brokers(core: Core) -> BrokerSummary | None:
    if core.trading is None:
        return None
    return BrokerSummary(sorted(core.trading.brokers), core.trading.default_broker)
