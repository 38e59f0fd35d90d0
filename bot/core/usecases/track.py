"""/track and the tip card's record line: what the bot's own live tips did.

Every BUY/SELL tip stored in the last `days` days (every user's; nobody is named) is followed from the bar
after the one it was made on (its bar_time) over the market's candles, by the backtest's own rules
(engine.backtest: exits.follow finds its stop, target or expiry after monitor.signal_ttl_bars bars, the
paper broker's fills and fees from Trades.fill on the tip's stored price, stop and target; hit rate and
average return are engine.backtest.metrics'). Nothing is kept by hand: the record is computed each time from
the stored tips and the candles. A tip with neither a touch nor its expiry yet (inside its window at the
last closed bar) is open: counted, but in neither the hit rate nor the average return.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from bot.core.errors import UserError
from bot.core.kernel import Core
from engine.backtest.exits import REASON_END, REASONS, TickBars, follow
from engine.backtest.fills import as_percent, level_ticks, price_ticks
from engine.backtest.metrics import metrics
from engine.backtest.trades import Trades
from engine.market.base import MarketError, NoData
from engine.market.resample import timeframe_seconds
from engine.models import Candles, Recommendation, Signal

MAX_BARS = 100_000
DEFAULT_DAYS = 30
MAX_DAYS = 365
RECORD_DAYS = 30  # the card's line
CACHE_SECONDS = 60  # the card's line is recomputed at most once a minute per market


@dataclass(frozen=True)
class TrackedTip:
    """One tip's outcome; `reason` is tp, sl, expiry or open, `net_return` None while open."""

    symbol: str
    timeframe: str
    side: str  # BUY or SELL
    bar_time: datetime
    reason: str
    net_return: float | None


@dataclass(frozen=True)
class TrackGroup:
    """The tips of one market and side (or a total): TP/SL/expired among the finished ones."""

    symbol: str
    timeframe: str
    side: str
    tips: int
    open: int
    take_profits: int
    stop_losses: int
    expiries: int
    hit_rate: float | None  # TP before SL, engine.backtest.metrics; None without either
    average_return: float | None  # mean net return of the finished tips; None without one


@dataclass(frozen=True)
class MarketHold:
    """Buy & hold on one market over the same window: the last closed bar's close ÷ the close of the first
    bar at or after (that bar's time − days) − 1; None with the reason when its candles are not to be had."""

    symbol: str
    timeframe: str
    buy_and_hold: float | None
    demo: bool
    unavailable: str | None = None


@dataclass(frozen=True)
class TrackReport:
    days: int
    symbol: str | None
    timeframe: str | None
    tips: list[TrackedTip]
    groups: list[TrackGroup]  # per market and side, in first-tip order
    sides: list[TrackGroup]  # all markets, per side (BUY, SELL)
    markets: list[MarketHold]


@dataclass(frozen=True)
class TipRecord:
    """The card's line: this market's tips of one side over the past `days` days."""

    symbol: str
    timeframe: str
    side: str
    days: int
    tips: int
    hit_rate: float | None


async def track(core: Core, symbol: str | None, timeframe: str | None, days: int = DEFAULT_DAYS) -> TrackReport:
    if not 1 <= days <= MAX_DAYS:
        raise UserError(f"days must be 1 to {MAX_DAYS}, not {days}.")
    since = core.now() - timedelta(days=days)
    signals = await core.storage.signals.tips_since(since, symbol, timeframe)
    by_market: dict[tuple[str, str], list[Signal]] = {}
    for signal in signals:
        by_market.setdefault((signal.symbol, signal.timeframe), []).append(signal)
    if symbol and timeframe:
        by_market.setdefault((symbol, timeframe), [])  # buy & hold even without a tip
    tips: list[TrackedTip] = []
    groups: list[TrackGroup] = []
    holds: list[MarketHold] = []
    for (sym, tf), market_tips in by_market.items():
        try:
            candles = await _candles(core, sym, tf, days, market_tips)
        except (NoData, MarketError) as exc:
            holds.append(MarketHold(sym, tf, None, False, unavailable=str(exc)))
            tips += [TrackedTip(s.symbol, s.timeframe, s.recommendation.value, s.bar_time, "open", None)
                     for s in market_tips]
            groups += _groups_of_unknown(sym, tf, market_tips)
            continue
        followed, market_groups, hold = await asyncio.to_thread(_follow_market, core, candles, market_tips, days)
        tips += followed
        groups += market_groups
        holds.append(hold)
    sides = [_total(side, [g for g in groups if g.side == side]) for side in ("BUY", "SELL")]
    return TrackReport(days, symbol, timeframe, tips, groups, sides, holds)


_RECORDS: weakref.WeakKeyDictionary[Core, dict[tuple[str, str], tuple[datetime, TrackReport]]] = \
    weakref.WeakKeyDictionary()


async def tip_record(core: Core, signal: Signal) -> TipRecord | None:
    """The card's line for a BUY/SELL tip (None for HOLD): the market's record over RECORD_DAYS, from a
    per-market report kept a minute by the core's clock, so a burst of tips reads the candles once."""
    if signal.recommendation is Recommendation.HOLD:
        return None
    key = (signal.symbol, signal.timeframe)
    cache = _RECORDS.setdefault(core, {})
    now = core.now()
    hit = cache.get(key)
    if hit is None or not timedelta(0) <= now - hit[0] < timedelta(seconds=CACHE_SECONDS):
        try:
            report = await track(core, signal.symbol, signal.timeframe, RECORD_DAYS)
        except UserError:
            return None  # the card goes out without the line rather than not at all
        cache[key] = hit = (now, report)
    side = signal.recommendation.value
    group = next((g for g in hit[1].groups if g.side == side), None)
    return TipRecord(signal.symbol, signal.timeframe, side, RECORD_DAYS, group.tips if group else 0,
                     group.hit_rate if group else None)


async def _candles(core: Core, symbol: str, timeframe: str, days: int, tips: list[Signal]) -> Candles:
    """Enough bars for the window and every tip's expiry; more when a tip's bar is older than the first read
    (in the demo a tip's bar is on the replay clock, not the wall clock its creation time is on)."""
    ttl = core.settings.monitor.signal_ttl_bars
    bars = min(MAX_BARS, days * 86_400 // timeframe_seconds(timeframe) + ttl + 2)
    candles = await core.services.market.fetch_ohlcv(symbol, timeframe, bars)
    oldest = min((s.bar_time.timestamp() for s in tips), default=math.inf)
    if bars < MAX_BARS and len(candles) and oldest < candles.timestamps[0]:
        candles = await core.services.market.fetch_ohlcv(symbol, timeframe, MAX_BARS)
    return candles


def _follow_market(core: Core, candles: Candles, signals: list[Signal],
                   days: int) -> tuple[list[TrackedTip], list[TrackGroup], MarketHold]:
    """Each tip on this market to its exit (CPU work: run off the event loop)."""
    end = len(candles) - (2 if candles.forming else 1)  # the last closed bar
    stamps = np.asarray(candles.timestamps, dtype=np.int64)
    hold = MarketHold(candles.symbol, candles.timeframe, None, candles.demo, unavailable="no closed bar yet")
    if end >= 0:
        first = int(np.searchsorted(stamps, int(stamps[end]) - days * 86_400, side="left"))
        hold = MarketHold(candles.symbol, candles.timeframe,
                          float(candles.close[end]) / float(candles.close[first]) - 1.0, candles.demo)
    if not signals:
        return [], [], hold
    d = candles.price_decimals
    bars = TickBars(open=price_ticks(candles.open, d), high=price_ticks(candles.high, d),
                    low=price_ticks(candles.low, d), close=price_ticks(candles.close, d), decimals=d)
    # The tip's own bar: the last bar opening at or before its bar_time (it is that bar unless the data moved).
    bar_times = np.array([int(s.bar_time.timestamp()) for s in signals], dtype=np.int64)
    entry = np.searchsorted(stamps, bar_times, side="right").astype(np.int64) - 1
    known = entry >= 0  # a tip older than every candle there is has no outcome to read
    entry = np.maximum(entry, 0)
    long = np.array([s.recommendation is Recommendation.BUY for s in signals])
    stop, has_stop = level_ticks(_levels([s.stop_loss for s in signals]), d, up=~long)
    target, has_target = level_ticks(_levels([s.take_profit for s in signals]), d, up=long)
    price = price_ticks(_levels([s.price for s in signals]), d)
    if end < 0:
        exits = None
    else:
        exits = follow(bars, entry, long, stop, has_stop, target, has_target,
                       ttl=core.settings.monitor.signal_ttl_bars, end=end)
    paper = core.settings.paper
    followed: list[TrackedTip] = []
    finished = np.zeros(len(signals), dtype=bool)
    trades = None
    if exits is not None:
        trades = Trades.fill(bars, stamps, entry, long, stop, has_stop, target, has_target, exits,
                             as_percent(str(paper.fee_pct)), as_percent(str(paper.slippage_pct)), entry_ticks=price)
        finished = known & (exits.reason != REASON_END) & (entry < end)
    for i, s in enumerate(signals):
        done = trades is not None and bool(finished[i])
        followed.append(TrackedTip(
            s.symbol, s.timeframe, s.recommendation.value, s.bar_time,
            REASONS[int(trades.reason[i])] if trades is not None and done else "open",
            float(trades.net_return[i]) if trades is not None and done else None))
    groups = []
    for side, is_long in (("BUY", True), ("SELL", False)):
        mine = long == is_long
        if not mine.any():
            continue
        closed = trades.select(mine & finished) if trades is not None else Trades.empty(d)
        m = metrics(closed, np.empty(0), None)  # only its per-trade figures: tips overlap, no account curve
        groups.append(TrackGroup(candles.symbol, candles.timeframe, side, int(mine.sum()),
                                 int((mine & ~finished).sum()), m.take_profits, m.stop_losses, m.expiries,
                                 m.hit_rate, m.average_return))
    return followed, groups, hold


def _levels(values: list) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _groups_of_unknown(symbol: str, timeframe: str, signals: list[Signal]) -> list[TrackGroup]:
    """Tips whose market cannot be read now: all open."""
    out = []
    for side in ("BUY", "SELL"):
        count = sum(1 for s in signals if s.recommendation.value == side)
        if count:
            out.append(TrackGroup(symbol, timeframe, side, count, count, 0, 0, 0, None, None))
    return out


def _total(side: str, groups: list[TrackGroup]) -> TrackGroup:
    """One side over every market: counts add; the hit rate is TP ÷ (TP + SL) of the sums, the average return
    the finished tips' mean (each group's mean weighted by its finished tips)."""
    tp, sl = sum(g.take_profits for g in groups), sum(g.stop_losses for g in groups)
    finished = [(g.tips - g.open, g.average_return) for g in groups if g.average_return is not None]
    count = sum(n for n, _ in finished)
    return TrackGroup("", "", side, sum(g.tips for g in groups), sum(g.open for g in groups), tp, sl,
                      sum(g.expiries for g in groups), tp / (tp + sl) if tp + sl else None,
                      sum(n * r for n, r in finished) / count if count else None)
