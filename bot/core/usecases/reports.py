"""The reports a trader expects (freqtrade's /profit, /daily, /weekly, /monthly, /performance): what the closed
positions earned, as typed figures the views word.

- `pnl_report`: /pnl's performance plus profit as a fraction of the paper account's starting equity, profit
  factor, expectancy and the max drawdown of the realised equity curve.
- `period_table`: realised PnL, trades and wins per calendar day, Monday-started week or month in the user's
  timezone, the newest period first, ending with the current one on the market's clock.
- `symbol_table`: PnL per symbol, the best total first.

Every figure is net PnL as stored with each close (`Position.pnl_abs`: both fees paid). Long tables come back
one `Page` at a time, never cut.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.core.kernel import Core
from bot.core.usecases.paging import Page
from bot.core.usecases.positions import PERIODS, Performance, performance, starting_equity, trading
from engine.positions import Position
from storage.models import User

ROWS_PER_PAGE = 10
ZERO = Decimal(0)
T = TypeVar("T")


def net(position: Position) -> Decimal:
    return position.pnl_abs or ZERO


def in_close_order(closed: Iterable[Position]) -> list[Position]:
    """Oldest close first; positions closed at the same moment in the order they were opened (by id)."""
    return sorted(closed, key=lambda p: (p.closed_at or datetime.min.replace(tzinfo=UTC), p.id or 0))


# ---- freqtrade's figures ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drawdown:
    """The deepest fall of the realised equity curve from a running peak: in dollars, and as a fraction of
    the peak it fell from (0.032 is 3.2 %)."""

    amount: Decimal
    fraction: Decimal
    peak: Decimal


def max_drawdown(start: Decimal, pnls: Iterable[Decimal]) -> Drawdown:
    """The curve begins at `start` and moves by each closed position's net PnL, in close order."""
    equity = peak = start
    worst = Drawdown(ZERO, ZERO, start)
    for pnl in pnls:
        equity += pnl
        peak = max(peak, equity)
        fall = peak - equity
        if fall > worst.amount:
            worst = Drawdown(fall, fall / peak if peak > 0 else ZERO, peak)
    return worst


@dataclass(frozen=True)
class Figures:
    """freqtrade's /profit figures over some closed positions.

    `profit_factor` is None without a losing trade (gross profit over no loss has no finite ratio);
    `expectancy` is freqtrade's: win rate × average win − loss rate × average loss, in dollars per trade;
    `expectancy_ratio` is freqtrade's (1 + average win ÷ average loss) × win rate − 1, None without a loss."""

    starting_equity: Decimal
    total: Decimal
    gross_profit: Decimal
    gross_loss: Decimal  # the sum of the losses, as a positive amount
    profit_factor: Decimal | None
    expectancy: Decimal
    expectancy_ratio: float | None
    drawdown: Drawdown

    @property
    def profit_fraction(self) -> Decimal:
        """Profit as a fraction of the starting equity (0.0123 is +1.23 %)."""
        return self.total / self.starting_equity


def figures(closed: list[Position], start: Decimal) -> Figures:
    ordered = in_close_order(closed)
    pnls = [net(p) for p in ordered]
    wins = [v for v in pnls if v > 0]
    losses = [-v for v in pnls if v < 0]
    gross_profit, gross_loss = sum(wins, ZERO), sum(losses, ZERO)
    count = len(pnls)
    average_win = gross_profit / len(wins) if wins else ZERO
    average_loss = gross_loss / len(losses) if losses else ZERO
    win_rate = Decimal(len(wins)) / count if count else ZERO
    loss_rate = Decimal(len(losses)) / count if count else ZERO
    ratio = float((1 + average_win / average_loss) * win_rate - 1) if losses else None
    return Figures(
        starting_equity=start, total=sum(pnls, ZERO), gross_profit=gross_profit, gross_loss=gross_loss,
        profit_factor=gross_profit / gross_loss if losses else None,
        expectancy=win_rate * average_win - loss_rate * average_loss, expectancy_ratio=ratio,
        drawdown=max_drawdown(start, pnls))


@dataclass(frozen=True)
class PnlReport:
    performance: Performance
    figures: Figures


async def account_start(core: Core, user: User) -> Decimal:
    """What the user's paper account started with, or was last reset to (paper.starting_equity when it is
    made): the base of profit % and of the equity curve. Past trades stay counted after a reset."""
    account = await trading(core).repo.paper_account(user.id, starting_equity(core))
    return account.starting_equity


async def all_closed(core: Core, user: User, since: datetime | None = None) -> list[Position]:
    """Every closed position of the user (since `since`), however many: a report is never cut."""
    repo = trading(core).repo
    return await repo.closed(user.id, since, max(1, await repo.count_closed(user.id)))


async def pnl_report(core: Core, user: User, period: str) -> PnlReport | None:
    """/pnl over `period` (a key of PERIODS, on the market's clock); None with no closed position in it."""
    closed = await trading(core).closed_within(user.id, PERIODS[period])
    perf = performance(closed)
    if perf is None:
        return None
    return PnlReport(perf, figures(closed, await account_start(core, user)))


# ---- per day, week or month -----------------------------------------------------------------------------

class Unit(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def period_start(day: date, unit: Unit) -> date:
    """The first local day of the period `day` falls in: the day, its week's Monday, its month's first."""
    if unit is Unit.DAY:
        return day
    if unit is Unit.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_before(start: date, unit: Unit) -> date:
    if unit is Unit.DAY:
        return start - timedelta(days=1)
    if unit is Unit.WEEK:
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


def zone(tz: str) -> ZoneInfo:
    return ZoneInfo("UTC" if tz.upper() == "UTC" else tz)


@dataclass(frozen=True)
class Bucket:
    """One period: its first local day, and the positions closed in it."""

    start: date
    trades: int
    wins: int
    total: Decimal

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None


def period_starts(unit: Unit, count: int, now: datetime, tz: str) -> list[date]:
    """The first local days of `count` periods in zone `tz`, the one `now` falls in first."""
    starts = [period_start(now.astimezone(zone(tz)).date(), unit)]
    while len(starts) < count:
        starts.append(period_before(starts[-1], unit))
    return starts


def buckets(closed: Iterable[Position], unit: Unit, count: int, now: datetime, tz: str) -> list[Bucket]:
    """`count` periods of `unit` in zone `tz`, the newest (the one `now` falls in) first, each with the positions
    whose close falls in it on the local calendar (DST-aware); empty periods are kept, with no trades."""
    local = zone(tz)
    found: dict[date, list[Decimal]] = {start: [] for start in period_starts(unit, count, now, tz)}
    for p in closed:
        if p.closed_at is None:
            continue
        key = period_start(p.closed_at.astimezone(local).date(), unit)
        if key in found:
            found[key].append(net(p))
    return [Bucket(start, len(v), sum(1 for x in v if x > 0), sum(v, ZERO)) for start, v in found.items()]


@dataclass(frozen=True)
class PeriodTable:
    unit: Unit
    count: int  # periods asked for
    tz: str
    page: Page[Bucket]  # newest first
    trades: int  # over all `count` periods
    total: Decimal


async def market_clock(core: Core, user: User) -> datetime:
    """Now on the market's clock: the newest of the user's traded symbols' clocks (replay symbols each keep
    their own; a live source's is the core's), so a demo's periods hold its trades."""
    t = trading(core)
    symbols = await t.repo.traded_symbols(user.id)
    if not symbols:
        return core.now()
    return max(await asyncio.gather(*(t.market_now(s) for s in symbols)))


def page_of(rows: list[T], number: int, size: int = ROWS_PER_PAGE) -> Page[T]:
    """Page `number` of `rows`; one past the end shows the last page."""
    pages = Page.count(len(rows), size)
    number = min(max(number, 1), pages)
    return Page(rows[(number - 1) * size:number * size], number, pages, len(rows))


async def period_table(core: Core, user: User, unit: Unit, count: int, number: int) -> PeriodTable:
    """/daily, /weekly, /monthly: the last `count` periods in the user's timezone, page `number` of them."""
    tz = core.user_tz(user)
    now = await market_clock(core, user)
    first_day = period_starts(unit, count, now, tz)[-1]
    # From a day before the oldest period's first local midnight: a midnight that DST skips still falls inside.
    oldest = datetime.combine(first_day, time(0), tzinfo=zone(tz)) - timedelta(days=1)
    rows = buckets(await all_closed(core, user, oldest.astimezone(UTC)), unit, count, now, tz)
    return PeriodTable(unit, count, tz, page_of(rows, number), sum(b.trades for b in rows),
                       sum((b.total for b in rows), ZERO))


# ---- per symbol -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SymbolRow:
    symbol: str
    trades: int
    wins: int
    total: Decimal

    @property
    def average(self) -> Decimal:
        return self.total / self.trades

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades


def by_symbol(closed: Iterable[Position]) -> list[SymbolRow]:
    """One row per symbol, the best total first (equal totals by symbol)."""
    found: dict[str, list[Decimal]] = {}
    for p in closed:
        found.setdefault(p.symbol, []).append(net(p))
    rows = [SymbolRow(s, len(v), sum(1 for x in v if x > 0), sum(v, ZERO)) for s, v in found.items()]
    return sorted(rows, key=lambda r: (-r.total, r.symbol))


@dataclass(frozen=True)
class SymbolTable:
    page: Page[SymbolRow]
    trades: int
    total: Decimal


async def symbol_table(core: Core, user: User, number: int) -> SymbolTable:
    """/performance: every closed position's PnL by symbol, page `number` of the rows."""
    closed = await all_closed(core, user)
    rows = by_symbol(closed)
    return SymbolTable(page_of(rows, number), len(closed), sum((net(p) for p in closed), ZERO))
