"""/backtest: a strategy replayed over a market's history up to now (the replay clock in the demo), through
the same decisions live tips make (engine.strategies), followed to SL/TP/expiry by the paper broker's fill
rules (engine.backtest), with the bundled dated headlines as sentiment where the period has them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.progress import Run
from bot.core.usecases.markets import fitting_timeframe
from bot.core.usecases.strategies import chosen_strategy, strategy_params
from engine.backtest.plot import equity_png
from engine.backtest.run import BacktestResult, run_backtest
from engine.backtest.sentiment import BarSentiment, plan_bar_sentiment
from engine.market.base import MarketError, NoData
from engine.market.symbols import asset_class
from engine.models import Candles
from storage.models import User

MAX_BARS = 100_000  # every bar the source has, up to this many
MAX_DAYS = 3650
SCORE_BATCH = 32  # headlines per model call: progress and cancellation are checked between batches


@dataclass(frozen=True)
class BacktestStage:
    """How far a backtest is, for its progress message."""

    step: Literal["fetching", "scoring", "deciding", "replaying", "drawing"]
    symbol: str
    timeframe: str
    done: int = 0  # for "scoring": headlines scored so far, of total
    total: int = 0


StageReport = Callable[[BacktestStage], Awaitable[None]]


async def _no_report(stage: BacktestStage) -> None:
    return None


@dataclass(frozen=True)
class BacktestReport:
    result: BacktestResult
    strategy: str
    params: dict[str, Any]
    sentiment: BarSentiment | None  # None: the strategy reads no sentiment (its weight is 0)
    note: str  # e.g. the timeframe a daily-only stock fell back to
    png: bytes  # the equity curve next to buy-and-hold


async def backtest(core: Core, user: User, symbol: str, timeframe: str | None, days: int | None,
                   strategy_name: str | None, given: dict[str, str], *, run: Run | None = None,
                   report: StageReport = _no_report) -> BacktestReport:
    """The backtest; `report` hears each stage, and `run` (when given) is checked between stages and between
    batches of headlines, so a cancelled run stops there (raising progress.Cancelled)."""
    check = run.check if run is not None else (lambda: None)
    strategy = chosen_strategy(core, user, strategy_name)
    params = strategy_params(core, user, strategy, None, given)
    tf, note = fitting_timeframe(core, user, symbol, timeframe)
    await report(BacktestStage("fetching", symbol, tf))
    candles = await _history(core, symbol, tf)
    check()
    end = len(candles) - 2 if candles.forming else len(candles) - 1  # closed bars only, up to the clock
    if end < 1:
        raise UserError(f"Not enough closed {symbol} {tf} bars to test.")
    sentiment = None
    if float(params.get("sw", 0.0) or 0.0) > 0:
        model = getattr(core.services.sentiment, "model", None)
        if model is not None:
            sentiment = await _bar_sentiment(core, symbol, tf, candles, model, check, report)
    scores = sentiment.scores if sentiment is not None else np.zeros(len(candles))
    await report(BacktestStage("deciding", symbol, tf))
    decisions = await asyncio.to_thread(strategy.decide, candles, scores, params)
    check()
    start = decisions.first
    if days is not None:
        since = int(candles.timestamps[end]) - days * 86_400
        start = max(start, int(np.searchsorted(candles.timestamps, since, side="left")))
    if start >= end:
        raise UserError(f"{symbol} {tf} has too few bars in that period for the strategy's indicators "
                        f"({len(candles)} bars, the first {decisions.first} warm them up).")
    paper, monitor = core.settings.paper, core.settings.monitor
    await report(BacktestStage("replaying", symbol, tf))
    try:
        result = await asyncio.to_thread(run_backtest, candles, decisions, fee_pct=str(paper.fee_pct),
                                         slippage_pct=str(paper.slippage_pct), ttl_bars=monitor.signal_ttl_bars,
                                         start=start, end=end)
    except ValueError as exc:
        raise UserError(f"{exc}.") from None
    check()
    await report(BacktestStage("drawing", symbol, tf))
    title = f"{symbol} {tf} · {strategy.name}{' · DEMO' if candles.demo else ''}"
    png = await asyncio.to_thread(equity_png, result, candles.close[result.start:result.end + 1], title)
    return BacktestReport(result, strategy.name, params, sentiment, note, png)


async def _bar_sentiment(core: Core, symbol: str, tf: str, candles: Candles, model: Any,
                         check: Callable[[], None], report: StageReport) -> BarSentiment:
    """Each bar's sentiment from the dated headlines, the model run in batches (off the event loop) so that a
    long scoring pass (FinBERT over a year of news) shows progress and stops when cancelled."""
    settings = core.settings.sentiment
    plan = await asyncio.to_thread(plan_bar_sentiment, symbol, asset_class(symbol), candles.timestamps,
                                   model.name, max_texts=settings.max_texts, max_age_hours=settings.max_age_hours)
    scores: list[float] = []
    total = len(plan.unscored)
    for at in range(0, total, SCORE_BATCH):
        await report(BacktestStage("scoring", symbol, tf, at, total))
        batch = plan.unscored[at:at + SCORE_BATCH]
        scores.extend(float(v) for v in await asyncio.to_thread(model.score, batch))
        check()
    return plan.finish(scores)


async def _history(core: Core, symbol: str, timeframe: str) -> Candles:
    try:
        return await core.services.market.fetch_ohlcv(symbol, timeframe, MAX_BARS)
    except NoData as exc:
        await core.source_alerts.failed(exc)
        raise UserError(str(exc)) from None
    except MarketError as exc:
        raise UserError(str(exc)) from None
