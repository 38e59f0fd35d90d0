"""Reports from chat: /daily, /weekly, /monthly (PnL per period in the user's timezone) and /performance
(PnL per symbol), each paged with ‹ › buttons. Parse, call the reports use cases, render the view. /pnl lives
with the other position commands (bot.core.commands.positions)."""

from __future__ import annotations

from bot.core.args import MAX_PAGE, ascii_int
from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.reports import Unit, period_table, symbol_table
from bot.core.views.reports import period_reply, symbol_reply

TRADE = Permission.TRADE
PAGE = Arg("page", Kind.PAGE, "which page of the table (1 is the first)", default=1)

# How far back each table may reach: a year of days, two years of weeks, five years of months.
MOST_BACK = {Unit.DAY: 365, Unit.WEEK: 104, Unit.MONTH: 60}


def period_args(unit: Unit, noun: str, default: int) -> tuple[Arg, Arg]:
    high = MOST_BACK[unit]
    return (Arg(noun, Kind.INT, f"how many {noun} back, 1 to {high} (default {default})", low=1, high=high,
                default=default), PAGE)


async def period(core: Core, req: Request, unit: Unit, noun: str) -> list[Reply]:
    return [period_reply(core, await period_table(core, req.user, unit, req.values[noun], req.values["page"]))]


@registry.command("daily", "realised PnL, trades and win rate per day in your timezone", permission=TRADE,
                  group="Positions", private=True, args=period_args(Unit.DAY, "days", 7))
async def daily_cmd(core: Core, req: Request) -> list[Reply]:
    return await period(core, req, Unit.DAY, "days")


@registry.command("weekly", "realised PnL, trades and win rate per week (from Monday) in your timezone",
                  permission=TRADE, group="Positions", private=True, args=period_args(Unit.WEEK, "weeks", 4))
async def weekly_cmd(core: Core, req: Request) -> list[Reply]:
    return await period(core, req, Unit.WEEK, "weeks")


@registry.command("monthly", "realised PnL, trades and win rate per month in your timezone", permission=TRADE,
                  group="Positions", private=True, args=period_args(Unit.MONTH, "months", 6))
async def monthly_cmd(core: Core, req: Request) -> list[Reply]:
    return await period(core, req, Unit.MONTH, "months")


@registry.command("performance", "PnL per symbol: trades, total, average and win rate", permission=TRADE,
                  group="Positions", private=True, args=(PAGE,))
async def performance_cmd(core: Core, req: Request) -> list[Reply]:
    return [symbol_reply(core, await symbol_table(core, req.user, req.values["page"]))]


@registry.button("rep", permission=TRADE)
async def report_page_button(core: Core, press: Press) -> list[Reply]:
    """‹ › of a report: `rep:sym:PAGE` (/performance) or `rep:UNIT:COUNT:PAGE` (/daily, /weekly, /monthly)."""
    args = press.args
    if len(args) == 2 and args[0] == "sym" and (page := ascii_int(args[1], 1, MAX_PAGE)) is not None:
        return [symbol_reply(core, await symbol_table(core, press.user, page), edit=True)]
    if len(args) == 3 and args[0] in {u.value for u in Unit}:
        unit = Unit(args[0])
        count = ascii_int(args[1], 1, MOST_BACK[unit])
        page = ascii_int(args[2], 1, MAX_PAGE)
        if count is not None and page is not None:
            table = await period_table(core, press.user, unit, count, page)
            return [period_reply(core, table, edit=True)]
    return [Reply(notice="This button is not valid.")]
