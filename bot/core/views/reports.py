"""Report replies: /pnl with freqtrade's figures, /daily, /weekly, /monthly and /performance as paged tables
(‹ › buttons press the `rep` action: a table is paged, never cut). Each figure sits on a line with its name
and number (`Profit factor: 1.85`, `Max drawdown: 2.10% ($210.00)`)."""

from __future__ import annotations

from decimal import Decimal

from bot.core.formatting import money
from bot.core.kernel import Core
from bot.core.replies import Button, Reply
from bot.core.usecases.paging import Page
from bot.core.usecases.reports import Bucket, Figures, PeriodTable, PnlReport, SymbolTable, Unit
from bot.core.views.positions import performance_lines

NOUNS = {Unit.DAY: ("day", "days"), Unit.WEEK: ("week", "weeks"), Unit.MONTH: ("month", "months")}
TITLES = {Unit.DAY: "Daily", Unit.WEEK: "Weekly", Unit.MONTH: "Monthly"}


def percent(fraction: Decimal, *, signed: bool = False) -> str:
    """A fraction as a percentage to two places (0.0123 → 1.23%); one that reads as zero has no minus."""
    shown = f"{fraction * 100:.2f}"
    if Decimal(shown) == 0:
        shown = "0.00"
    return f"+{shown}%" if signed and not shown.startswith("-") else f"{shown}%"


def trades_word(n: int) -> str:
    return f"{n} trade" if n == 1 else f"{n} trades"


# ---- /pnl -----------------------------------------------------------------------------------------------

def figure_lines(f: Figures) -> list[str]:
    if f.profit_factor is not None:
        factor = f"{f.profit_factor:.2f}"
    else:
        factor = "∞ (no losing trade)" if f.gross_profit > 0 else "— (no winning or losing trade)"
    ratio = f" (ratio {f.expectancy_ratio:+.2f})" if f.expectancy_ratio is not None else ""
    dd = f.drawdown
    return [
        f"Profit: {money(f.total, signed=True)} ({percent(f.profit_fraction, signed=True)} of "
        f"{money(f.starting_equity)} starting equity)",
        f"Profit factor: {factor}",
        f"Expectancy: {money(f.expectancy, signed=True)} per trade{ratio}",
        f"Max drawdown: {percent(dd.fraction)} ({money(dd.amount)})"
        + (f" from a peak of {money(dd.peak)}" if dd.amount > 0 else ""),
    ]


def pnl_report_reply(period: str, report: PnlReport | None) -> Reply:
    """/pnl: the trades line, freqtrade's figures, best and worst, by symbol and by exit reason."""
    if report is None:
        return Reply(text=f"No closed positions ({period}).")
    first, *rest = performance_lines(report.performance)
    lines = [first, *figure_lines(report.figures), *rest,
             "Equity curve: the starting equity, then each close's net PnL in close order."]
    return Reply(title=f"Performance ({period})", text="\n".join(lines))


# ---- paging ---------------------------------------------------------------------------------------------

def nav(core: Core, page: Page[object], back: str, forward: str, *args: object) -> list[list[Button]]:
    """‹ and › for the neighbouring pages; none on a table of one page."""
    row: list[Button] = []
    if page.has_prev:
        row.append(core.button(back, "rep", *args, page.number - 1))
    if page.has_next:
        row.append(core.button(forward, "rep", *args, page.number + 1))
    return [row] if row else []


# ---- /daily, /weekly, /monthly --------------------------------------------------------------------------

def bucket_label(bucket: Bucket, unit: Unit) -> str:
    if unit is Unit.MONTH:
        return f"{bucket.start:%Y-%m}"
    if unit is Unit.WEEK:
        return f"Week of {bucket.start:%Y-%m-%d}"
    return f"{bucket.start:%Y-%m-%d}"


def bucket_line(bucket: Bucket, unit: Unit) -> str:
    rate = f"win rate {bucket.win_rate * 100:.0f}%" if bucket.win_rate is not None else "win rate —"
    return f"{bucket_label(bucket, unit)} · {money(bucket.total, signed=True)} · {trades_word(bucket.trades)} · {rate}"


def period_reply(core: Core, table: PeriodTable, *, edit: bool = False) -> Reply:
    one, many = NOUNS[table.unit]
    page = table.page
    head = (f"Last {table.count} {one if table.count == 1 else many} in {table.tz}, newest first · "
            f"{trades_word(table.trades)} · {money(table.total, signed=True)} in all")
    lines = [head, *(bucket_line(b, table.unit) for b in page.items)]
    if table.unit is Unit.WEEK:
        lines.append("Weeks start on Monday.")
    if page.pages > 1:
        lines.append(f"\nPage {page.number} of {page.pages}")
    return Reply(title=f"{TITLES[table.unit]} PnL", text="\n".join(lines),
                 buttons=nav(core, page, "‹ Newer", "Older ›", table.unit.value, table.count), edit=edit,
                 notice=f"Page {page.number}" if edit else None)


# ---- /performance ---------------------------------------------------------------------------------------

def symbol_reply(core: Core, table: SymbolTable, *, edit: bool = False) -> Reply:
    page = table.page
    if not page.items:
        return Reply(text="No closed positions yet.", edit=edit)
    lines = [f"{page.total} symbol(s) · {trades_word(table.trades)} · {money(table.total, signed=True)} in all, "
             "best total first"]
    lines += [f"{r.symbol} · {trades_word(r.trades)} · total {money(r.total, signed=True)} · average "
              f"{money(r.average, signed=True)} · win rate {r.win_rate * 100:.0f}%" for r in page.items]
    if page.pages > 1:
        lines.append(f"\nPage {page.number} of {page.pages}")
    return Reply(title="Performance by symbol", text="\n".join(lines),
                 buttons=nav(core, page, "‹ Prev", "Next ›", "sym"), edit=edit,
                 notice=f"Page {page.number}" if edit else None)
