"""/backtest: parse, run the backtest use case, render the report."""

from __future__ import annotations

import re

from bot.core.args import shorten
from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.backtest import MAX_DAYS, backtest
from bot.core.usecases.params import PARAMS_ARG, STRATEGY_ARG
from bot.core.views.backtest import backtest_reply

_PERIOD = re.compile(r"([0-9]{1,4})d")


def parse_period(text: str) -> int:
    """`90d`: a number of days, 1 to MAX_DAYS."""
    match = _PERIOD.fullmatch(text.strip().lower())
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_DAYS:
        raise UserError(f"PERIOD must be a number of days like 90d (1d to {MAX_DAYS}d), not {shorten(text)!r}.")
    return days


@registry.command("backtest", "replay a strategy over history: hit rate, returns and drawdown vs buy & hold",
                  expensive=True, group="Tips", args=(
    Arg("symbol", Kind.SYMBOL, "the market, e.g. BTC/USDT or AAPL", required=True),
    Arg("timeframe", Kind.TIMEFRAME, "the bar length (default: yours, see /settings)"),
    Arg("period", Kind.WORD, "how far back, e.g. 90d (default: every bar there is)", parser=parse_period,
        metavar="PERIOD"),
    STRATEGY_ARG,
    PARAMS_ARG,
))
async def backtest_cmd(core: Core, req: Request) -> list[Reply]:
    v = req.values
    report = await backtest(core, req.user, v["symbol"], v["timeframe"], v["period"], v["strategy"], v["params"])
    return [backtest_reply(report)]
