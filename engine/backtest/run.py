"""A strategy's decisions over a candle series, followed tip by tip: the backtest behind /backtest.

The rule, one position at a time: when flat, a BUY (SELL) decision at bar i opens a long (short) at bar i's
close with that bar's stop-loss and take-profit; it is followed from bar i+1 (engine.backtest.exits) to its
stop, its target, its expiry at bar i+ttl's close, or the last tested bar's close. The next trade may open
at the close of the bar the previous one ended on (flat by then). No trade opens on the last tested bar:
nothing could follow it. Fills and fees are the paper broker's (engine.backtest.fills).

Exits are found for every BUY/SELL bar at once, vectorised; only the chaining of trades (each starts at the
first decision at or after the previous exit) is a loop, over trades, not bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from engine.backtest.baseline import RULE, random_trades, side_streams
from engine.backtest.exits import TickBars, follow
from engine.backtest.fills import as_percent, level_ticks, price_ticks
from engine.backtest.metrics import Metrics, bars_per_year, equity_curve, metrics
from engine.backtest.trades import Trades
from engine.models import Candles
from engine.strategies.base import BUY, SELL, Decisions

DEFAULT_SEED = 11


@dataclass(frozen=True)
class SideBaseline:
    trades: Trades
    equity: np.ndarray
    metrics: Metrics


@dataclass(frozen=True)
class RandomBaseline:
    """Random entries per side (engine.backtest.baseline): as many as the strategy's trades on that side."""

    seed: int
    rule: str
    long: SideBaseline
    short: SideBaseline


@dataclass(frozen=True)
class BacktestResult:
    symbol: str
    timeframe: str
    source: str
    demo: bool
    start: int  # the first and last tested bars (indices into the candles)
    end: int
    first_time: datetime  # their open times: the period
    last_time: datetime
    fee_pct: Decimal
    slippage_pct: Decimal
    ttl_bars: int
    signals_buy: int  # BUY and SELL decisions among the tested bars (most come while a trade is open)
    signals_sell: int
    trades: Trades
    equity: np.ndarray  # per tested bar (start … end), engine.backtest.metrics
    equity_times: np.ndarray  # their open times, epoch seconds
    metrics: Metrics  # all trades
    long: Metrics  # the long trades alone, on their own account (compare with baseline.long)
    short: Metrics
    buy_and_hold: float  # the last tested close ÷ the first tested bar's close − 1
    baseline: RandomBaseline

    @property
    def bars(self) -> int:
        return self.end - self.start + 1


def run_backtest(candles: Candles, decisions: Decisions, *, fee_pct: Decimal | float | str,
                 slippage_pct: Decimal | float | str, ttl_bars: int, start: int | None = None,
                 end: int | None = None, seed: int = DEFAULT_SEED) -> BacktestResult:
    """Backtest `decisions` (made for `candles`) over bars start … end (default: decisions.first … the last
    bar). fee_pct and slippage_pct are percentages, as the paper broker takes them; ttl_bars is
    monitor.signal_ttl_bars. Raises ValueError on a range outside the data or the decisions' warm-up."""
    n = len(candles)
    if len(decisions.side) != n:
        raise ValueError(f"{len(decisions.side)} decisions for {n} bars")
    start = decisions.first if start is None else start
    end = n - 1 if end is None else end
    if start < decisions.first:
        raise ValueError(f"start bar {start} is before the decisions' first warmed-up bar {decisions.first}")
    if not 0 <= start <= end < n:
        raise ValueError(f"bars {start}…{end} are not within the {n} bars given")
    if candles.forming and end == n - 1:
        raise ValueError("the last bar is still forming: a backtest reads closed bars only")
    fee, slip = as_percent(fee_pct), as_percent(slippage_pct)
    if not (0 <= fee < 100 and 0 <= slip < 100):
        raise ValueError(f"fee_pct {fee} and slippage_pct {slip} must be percentages from 0 to under 100")
    d = candles.price_decimals
    bars = TickBars(open=price_ticks(candles.open, d), high=price_ticks(candles.high, d),
                    low=price_ticks(candles.low, d), close=price_ticks(candles.close, d), decimals=d)
    stamps = np.asarray(candles.timestamps, dtype=np.int64)

    tested = np.asarray(decisions.side)[start:end + 1]
    side = tested[:-1]  # the last bar opens nothing
    entry = (np.flatnonzero((side == BUY) | (side == SELL)) + start).astype(np.int64)
    long = np.asarray(decisions.side)[entry] == BUY
    stop, has_stop = level_ticks(np.asarray(decisions.stop_loss)[entry], d, up=~long)
    target, has_target = level_ticks(np.asarray(decisions.take_profit)[entry], d, up=long)
    exits = follow(bars, entry, long, stop, has_stop, target, has_target, ttl=ttl_bars, end=end)
    taken = _chain(entry, exits.bar)
    trades = Trades.fill(bars, stamps, entry[taken], long[taken], stop[taken], has_stop[taken], target[taken],
                         has_target[taken], exits.take(taken), fee, slip)

    per_year = bars_per_year(stamps, start, end)

    def account(some: Trades) -> tuple[np.ndarray, Metrics]:
        curve = equity_curve(some, bars.close, start, end, float(fee))
        return curve, metrics(some, curve, per_year)

    equity, overall = account(trades)
    long_rng, short_rng = side_streams(seed)
    sides = {}
    for is_long, rng in ((True, long_rng), (False, short_rng)):
        chance = random_trades(bars, stamps, trades.side(is_long), is_long, start, end, ttl_bars, fee, slip, rng)
        sides[is_long] = SideBaseline(chance, *account(chance))
    return BacktestResult(
        symbol=candles.symbol, timeframe=candles.timeframe, source=candles.source, demo=candles.demo,
        start=start, end=end, first_time=_time(stamps[start]), last_time=_time(stamps[end]), fee_pct=fee,
        slippage_pct=slip, ttl_bars=ttl_bars, signals_buy=int(np.sum(tested == BUY)),
        signals_sell=int(np.sum(tested == SELL)), trades=trades, equity=equity,
        equity_times=stamps[start:end + 1].copy(), metrics=overall, long=account(trades.side(True))[1],
        short=account(trades.side(False))[1],
        buy_and_hold=float(candles.close[end]) / float(candles.close[start]) - 1.0,
        baseline=RandomBaseline(seed=seed, rule=RULE, long=sides[True], short=sides[False]),
    )


def _chain(entry: np.ndarray, exit_bar: np.ndarray) -> np.ndarray:
    """The entries taken one position at a time: the first, then each time the first at or after the exit."""
    following = np.searchsorted(entry, exit_bar, side="left").tolist()
    taken, i, count = [], 0, len(following)
    while i < count:
        taken.append(i)
        i = following[i]
    return np.array(taken, dtype=np.int64)


def _time(epoch: np.integer) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=UTC)
