"""Paper grids (issue 11): a grid tip's levels as resting paper orders, filled by the grid strategy's own rule.

[Start paper grid] on a grid tip plans the card's levels (the same anchor and lines, `paper_levels`) at the
user's usual position size per level, with the risk budget checked for the grid's bigger side as a whole (all
of its levels filled at once is the most it can hold); Confirm stores the grid and its orders in one
transaction that checks the budget again on the account it reads. Each closed bar of the grid's market is
then stepped by `engine.strategies.grid.step_grid` (the strategy's `_Grid.step`): a level the close crossed
fills at that close through the paper broker's limit fill, and opens a paper position with its take-profit one
level on and the grid's stop, which the position monitor follows like any other; every fill is risk-checked
like an open. When that position closes the level is open again. Stopping a grid cancels its open orders; its
held positions stay open as normal positions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from bot.core.args import parse_id, plain_decimal
from bot.core.context import ChatContext
from bot.core.errors import Refused, UserError
from bot.core.kernel import Core
from bot.core.usecases.paging import Page
from bot.core.usecases.positions import trading
from bot.core.usecases.tips import owned_signal
from bot.core.usecases.trading import Trading
from engine.brokers.base import ExitTrigger, OrderRequest, Side
from engine.brokers.paper import QUANTITY_DECIMALS, fee_for, position_quantity
from engine.market.base import MarketError
from engine.market.resample import timeframe_seconds
from engine.models import Signal
from engine.risk_checks import CheckResult, failures
from engine.strategies.grid import STRATEGY, GridFill, fill_levels, paper_levels, step_grid
from engine.strategies.levels import to_decimal
from storage.grids import LevelFill, PaperGrid
from storage.models import User
from storage.positions import AccountState

log = logging.getLogger(__name__)

DEFAULT_LEVEL_SIZE = Decimal(100)  # [Open position]'s first quick size, when the user has saved no default size
GRIDS_PAGE = 5


@dataclass(frozen=True)
class PlannedLevel:
    k: int
    side: str  # "buy" or "sell"
    price: Decimal
    take_profit: Decimal
    quantity: Decimal  # the size at the level's price


@dataclass(frozen=True)
class GridPlan:
    """What [Start paper grid] will place: every level at `size` dollars, and the risk checks of the budget."""

    signal: Signal
    anchor: float  # the line the levels are computed from (unrounded)
    anchor_price: Decimal
    params: dict[str, Any]
    decimals: int
    size: Decimal
    levels: list[PlannedLevel]  # highest price first
    checks: list[CheckResult]

    @property
    def buy_total(self) -> Decimal:
        return self.size * sum(1 for lv in self.levels if lv.side == "buy")

    @property
    def sell_total(self) -> Decimal:
        return self.size * sum(1 for lv in self.levels if lv.side == "sell")

    @property
    def budget(self) -> Decimal:
        """The most the grid holds at once: a close is below the anchor or above it, so one side's levels."""
        return max(self.buy_total, self.sell_total)

    @property
    def refused(self) -> list[CheckResult]:
        return failures(self.checks)


@dataclass(frozen=True)
class StartResult:
    plan: GridPlan
    grid_id: int | None = None  # None: refused (`refused`), or the tip's grid already runs (`existing`)
    refused: list[CheckResult] | None = None
    existing: int | None = None


@dataclass(frozen=True)
class StopResult:
    grid: PaperGrid
    stopped: bool  # False: it had stopped already
    held: list[int]  # ids of its positions that stay open as normal positions


# ---- planning and starting ------------------------------------------------------------------------------

def level_size(user: User) -> Decimal:
    """The user's usual position size ([Open position]'s "My default"), else its first quick size."""
    saved = plain_decimal(str(user.settings.get("size") or ""))
    return saved.quantize(Decimal("0.01")) if saved and saved > 0 else DEFAULT_LEVEL_SIZE


async def grid_signal(core: Core, user: User, signal_id: int | str) -> Signal:
    """The user's own active grid tip (a grid card, whatever its side: most grid bars are HOLD)."""
    signal = await owned_signal(core, user, signal_id, owner_only=True)
    if signal.extra.get("strategy") != "grid" or not isinstance(signal.extra.get("grid"), dict):
        raise UserError(f"Tip #{signal.id} is not a grid tip: a paper grid starts from a strategy=grid card.")
    if signal.status != "active":
        raise UserError(f"Tip #{signal.id} is {signal.status}: make a new grid tip to start a paper grid.")
    return signal


def grid_params(signal: Signal) -> dict[str, Any]:
    try:
        return STRATEGY.check_params(dict(signal.extra.get("strategy_params") or {}))
    except ValueError as exc:
        raise UserError(f"{exc}.") from None


def card_anchor(signal: Signal) -> float:
    """The anchor the card's lines were computed from (older cards kept only its rounded price)."""
    grid = signal.extra["grid"]
    return float(grid.get("anchor_exact") or grid["anchor"])


def _limit_cost(core: Core, quantity: Decimal, price: Decimal) -> Decimal:
    """Cash a resting order's fill takes: a limit fills at its price (no slippage), plus the fee."""
    return quantity * price + fee_for(quantity * price, Decimal(str(core.settings.paper.fee_pct)))


def _quantity(size: Decimal, price: Decimal) -> Decimal:
    return position_quantity(size, price, QUANTITY_DECIMALS)


def _budget_checks(t: Trading, plan_symbol: str, size: Decimal, per_cost: Decimal, budget: Decimal,
                   budget_cost: Decimal, state: AccountState, prices: dict[str, Decimal]) -> list[CheckResult]:
    """A level's size against the position limit; the grid's bigger side as a whole against the symbol's
    exposure limit and the cash (every fill is checked again like an open when it happens)."""
    one = {c.name: c for c in t.entry_checks(plan_symbol, size, per_cost, state, prices)}
    whole = {c.name: c for c in t.entry_checks(plan_symbol, budget, budget_cost, state, prices)}
    return [one["position size"], whole["symbol exposure"], whole["cash"]]


def _costs(core: Core, levels: list[PlannedLevel]) -> tuple[Decimal, Decimal]:
    """(the dearest level's cost, the bigger side's cost)."""
    costs = {"buy": Decimal(0), "sell": Decimal(0)}
    dearest = Decimal(0)
    for lv in levels:
        cost = _limit_cost(core, lv.quantity, lv.price)
        costs[lv.side] += cost
        dearest = max(dearest, cost)
    return dearest, max(costs.values())


async def _plan_inputs(core: Core, user: User, signal_id: int | str,
                       size: Decimal | None) -> tuple[GridPlan, dict[str, Decimal], dict[str, datetime]]:
    signal = await grid_signal(core, user, signal_id)
    t = trading(core)
    params = grid_params(signal)
    anchor = card_anchor(signal)
    decimals = signal.price_decimals
    size = size or level_size(user)
    levels = [PlannedLevel(lv.k, lv.side, lv.price, lv.take_profit, _quantity(size, lv.price))
              for lv in paper_levels(anchor, params, decimals)]
    try:
        price = await core.services.market.last_price(signal.symbol)
    except MarketError as exc:
        raise UserError(str(exc)) from None
    prices, days = await t.risk_inputs(user.id, signal.symbol, price)
    plan = GridPlan(signal, anchor, Decimal(str(signal.extra["grid"]["anchor"])), params, decimals, size, levels, [])
    return plan, prices, days


async def plan_grid(core: Core, user: User, signal_id: int | str) -> GridPlan:
    """What [Start paper grid] would place now, with its risk checks (advisory: Confirm checks again)."""
    plan, prices, days = await _plan_inputs(core, user, signal_id, None)
    existing = await core.storage.grids.for_signal(plan.signal.id or 0)
    if existing is not None:
        raise UserError(f"Tip #{plan.signal.id} already runs paper grid #{existing.id} (see /grids).")
    t = trading(core)
    state = await t.repo.account_state(user.id, t.starting_equity, None, days, plan.signal.symbol)
    per_cost, budget_cost = _costs(core, plan.levels)
    checks = _budget_checks(t, plan.signal.symbol, plan.size, per_cost, plan.budget, budget_cost, state, prices)
    return GridPlan(plan.signal, plan.anchor, plan.anchor_price, plan.params, plan.decimals, plan.size,
                    plan.levels, checks)


async def _newest_closed_bar(core: Core, symbol: str, timeframe: str) -> tuple[datetime, float]:
    """Where the grid's watcher starts: the newest closed bar now (bars after it are the grid's)."""
    try:
        candles = await core.services.market.fetch_ohlcv(symbol, timeframe, core.settings.market.bars)
    except MarketError as exc:
        raise UserError(str(exc)) from None
    last = len(candles) - (2 if candles.forming else 1)
    if last < 0:
        raise UserError(f"No closed {timeframe} bar of {symbol} yet: try again later.")
    return datetime.fromtimestamp(int(candles.timestamps[last]), tz=UTC), float(candles.close[last])


async def start_grid(core: Core, ctx: ChatContext, user: User, signal_id: int | str, size: Decimal) -> StartResult:
    """Store the grid and its resting orders in one transaction, if its budget passes the risk checks on the
    account as that transaction reads it; a tip runs one grid at a time."""
    plan, prices, days = await _plan_inputs(core, user, signal_id, size)
    signal = plan.signal
    t = trading(core)
    per_cost, budget_cost = _costs(core, plan.levels)
    bar_at, close = await _newest_closed_bar(core, signal.symbol, signal.timeframe)

    def check(state: AccountState) -> list[CheckResult]:
        return failures(_budget_checks(t, signal.symbol, plan.size, per_cost, plan.budget, budget_cost, state, prices))

    grid_id, refused = await core.storage.grids.create(
        user_id=user.id, signal_id=signal.id, platform=ctx.platform, chat_id=ctx.chat_id, symbol=signal.symbol,
        timeframe=signal.timeframe, anchor=plan.anchor, params=plan.params, size=plan.size,
        price_decimals=plan.decimals, levels=[(lv.k, lv.side, lv.price) for lv in plan.levels],
        last_bar_at=bar_at, last_close=close, check=check, starting_equity=t.starting_equity, day_starts=days)
    if grid_id is None:
        if refused:
            return StartResult(plan, refused=list(refused))
        existing = await core.storage.grids.for_signal(signal.id or 0)
        return StartResult(plan, existing=existing.id if existing else None)
    await core.storage.activity.log(user.id, "grid_started", f"Paper grid #{grid_id} on {signal.symbol} "
                                    f"{signal.timeframe} from tip #{signal.id}")
    await core.audit(user, "grid_start", f"grid:{grid_id}", levels=len(plan.levels), size=str(plan.size))
    return StartResult(plan, grid_id=grid_id)


# ---- reading and stopping ------------------------------------------------------------------------------

async def own_grid(core: Core, user: User, grid_id: int | str) -> PaperGrid:
    """The user's own paper grid, or a refusal that never shows another user's."""
    if isinstance(grid_id, str):
        grid_id = parse_id(grid_id, "grid", hint=" (see /grids)")
    grid = await core.storage.grids.get(grid_id)
    if grid is None:
        raise UserError(f"No paper grid #{grid_id} (see /grids).")
    if grid.user_id != user.id:
        raise Refused(f"Paper grid #{grid_id} is not yours.", reason=f"foreign grid {grid_id}")
    return grid


async def grids_page(core: Core, user: User, number: int) -> Page[PaperGrid]:
    """A page of the user's paper grids, newest first, each level's state as its position leaves it."""
    repo = core.storage.grids
    total = await repo.count_for_user(user.id)
    pages = Page.count(total, GRIDS_PAGE)
    number = min(max(number, 1), pages)
    items = await repo.for_user(user.id, GRIDS_PAGE, (number - 1) * GRIDS_PAGE)
    fresh = []
    for grid in items:
        if any(lv.status == "filled" for lv in grid.levels) and await repo.release_closed(grid.id):
            grid = await repo.get(grid.id) or grid
        fresh.append(grid)
    return Page(fresh, number, pages, total)


async def stop_grid(core: Core, user: User, grid_id: int | str) -> StopResult:
    grid = await own_grid(core, user, grid_id)
    stopped = await core.storage.grids.stop(grid.id)
    await core.storage.grids.release_closed(grid.id)
    grid = await core.storage.grids.get(grid.id) or grid
    held = [lv.position_id for lv in grid.levels if lv.status == "filled" and lv.position_id is not None]
    if stopped:
        await core.storage.activity.log(user.id, "grid_stopped", f"Paper grid #{grid.id} stopped")
        await core.audit(user, "grid_stop", f"grid:{grid.id}", held=len(held))
    return StopResult(grid, stopped, held)


# ---- the watcher: each new closed bar by the strategy's rule --------------------------------------------

class GridAlerts(Protocol):
    """Alert payloads (a Reply's JSON) queued with a bar's fills; bot.core.views.grids renders them."""

    def filled(self, grid: PaperGrid, fill: LevelFill, position_id: int) -> dict[str, Any]: ...

    def refused(self, grid: PaperGrid, fill: LevelFill, refusals: list[CheckResult]) -> dict[str, Any]: ...


@dataclass
class AdvanceResult:
    bars: int = 0
    fills: int = 0
    refused: int = 0


async def _level_fill(core: Core, grid: PaperGrid, fill: GridFill, market_at: datetime, bar_ts: int) -> LevelFill:
    """The paper broker's limit fill of a crossed level at the bar's close, with the level's stop and target."""
    t = trading(core)
    decimals = grid.price_decimals
    price = to_decimal(fill.price, decimals)
    assert price is not None
    stop, target = fill_levels(fill, decimals)
    side = Side.LONG if fill.side == "buy" else Side.SHORT
    quantity = _quantity(grid.size, price)
    order = OrderRequest(client_order_id=f"grid-{grid.id}-{fill.k}-{bar_ts}", symbol=grid.symbol, side=side,
                         quantity=quantity, price=price, stop_loss=stop, take_profit=target, price_decimals=decimals,
                         trigger=ExitTrigger(kind="limit", price=price))
    paper = t.broker("paper")
    filled = await paper.submit(order)
    return LevelFill(k=fill.k, side=side, notional=grid.size, stop_loss=stop, take_profit=target, fill=filled,
                     entry=fill.price, market_at=market_at)


async def advance_grid(core: Core, grid: PaperGrid, alerts: GridAlerts) -> AdvanceResult:
    """Apply every closed bar of the grid's market after its mark, one transaction per bar."""
    repo = core.storage.grids
    t = trading(core)
    result = AdvanceResult()
    await repo.release_closed(grid.id)
    current = await repo.get(grid.id)
    if current is None or current.status != "active":
        return result
    candles = await core.services.market.fetch_ohlcv(current.symbol, current.timeframe, core.settings.market.bars)
    closed = len(candles) - (1 if candles.forming else 0)
    stamps = candles.timestamps[:closed]
    first = int(np.searchsorted(stamps, int(current.last_bar_at.timestamp()), side="right"))
    span = timedelta(seconds=timeframe_seconds(current.timeframe))
    c0 = current.last_close
    for i in range(first, closed):
        bar_ts = int(stamps[i])
        bar_at = datetime.fromtimestamp(bar_ts, tz=UTC)
        c1 = float(candles.close[i])
        step = step_grid(current.params, current.anchor, current.held, c0, c1, c1)
        # A fill happens when its bar closes: the monitor then follows the position from the next bar on.
        specs = [await _level_fill(core, current, f, bar_at + span, bar_ts) for f in step.fills]
        new_prices = None
        if step.recentred and not current.held:
            new_prices = {lv.k: lv.price for lv in paper_levels(step.anchor, current.params, current.price_decimals)}
        prices, days = await t.risk_inputs(current.user_id, current.symbol, Decimal(repr(c1)))

        def check(state: AccountState, spec: LevelFill, symbol: str = current.symbol,
                  prices: dict[str, Decimal] = prices) -> list[CheckResult]:
            # The checks of an open, for what this fill takes: its size, and its cash at the limit price.
            cost = spec.fill.price * spec.fill.quantity + spec.fill.fee
            return failures(t.entry_checks(symbol, spec.notional, cost, state, prices))

        outcome = await repo.apply_bar(
            current.id, bar_at, c1, specs, check=check,
            on_fill=lambda g, spec, pid: [(g.platform, g.chat_id, "fill", alerts.filled(g, spec, pid),
                                           f"fill:{spec.fill.client_order_id}")],
            on_refused=lambda g, spec, why: [(g.platform, g.chat_id, "fill", alerts.refused(g, spec, why),
                                              f"grid-refused:{spec.fill.client_order_id}")],
            starting_equity=t.starting_equity, day_starts=days,
            new_anchor=step.anchor if new_prices is not None else None, new_prices=new_prices)
        if not outcome.applied:  # stopped meanwhile, or another process applied this bar
            break
        result.bars += 1
        result.fills += len(outcome.opened)
        result.refused += len(outcome.refused)
        c0 = c1
        current = await repo.get(current.id)
        if current is None:
            break
    return result


async def advance_all(core: Core, alerts: GridAlerts) -> AdvanceResult:
    """Every running grid, each on its own market; one failing grid never stops the others."""
    total = AdvanceResult()
    if core.trading is None:
        return total
    for grid in await core.storage.grids.active():
        try:
            one = await advance_grid(core, grid, alerts)
        except Exception:
            log.exception("paper grid #%s: this cycle failed", grid.id)
            continue
        total.bars += one.bars
        total.fills += one.fills
        total.refused += one.refused
    return total
