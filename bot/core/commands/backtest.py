"""/backtest: parse, run the backtest use case, render the report."""

from __future__ import annotations

import re

from bot.core.args import shorten
from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.progress import Cancelled, Progress
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.backtest import MAX_DAYS, BacktestStage, backtest
from bot.core.usecases.params import PARAMS_ARG, STRATEGY_ARG
from bot.core.views.backtest import backtest_reply, finished_line, stage_line

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
    what = f"backtest of {v['symbol']}"
    with core.runs.start(req.user.id, what) as run:  # one long run per user; /cancel and [Cancel] stop it
        progress = Progress(req.progress, run, core.button("⏹ Cancel", "rc", run.id))

        async def report_stage(stage: BacktestStage) -> None:
            await progress.report(stage_line(stage, run.elapsed))

        try:
            report = await backtest(core, req.user, v["symbol"], v["timeframe"], v["period"], v["strategy"],
                                    v["params"], run=run, report=report_stage)
        except Cancelled:
            await progress.finish(finished_line(what, run.elapsed, "cancelled"))
            if run.shutdown:
                return [Reply(text=f"Backtest of {v['symbol']} stopped: the bot is restarting. Run it again in a "
                                   "minute.")]
            return [Reply(text=f"Backtest of {v['symbol']} cancelled.")]
        except BaseException:
            await progress.finish(finished_line(what, run.elapsed, "stopped"))
            raise
        await progress.finish(finished_line(what, run.elapsed, "done"))
    return [backtest_reply(report)]
