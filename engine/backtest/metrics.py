"""What a list of trades was worth: the equity curve and the figures a backtest report gives.

Every figure is defined here once, so the chat report, /track and the tests mean the same thing by it:

- the equity curve is a notional account of 1.0 at the first tested bar, all of it in each trade in turn
  (trades compound). At each bar's close it is marked to market: inside a trade (from its entry bar up to the
  bar before its exit) equity × (1 + gross return at that close − the entry fee); at the exit bar the trade's
  net return is booked.
- hit rate: of the trades that ended at their take-profit or their stop-loss, the fraction that ended at the
  take-profit ("TP before SL"); expiries and trades still open at the end are not counted. None without any.
- win rate: the fraction of all trades whose net return is > 0 (a trade at exactly 0 is not a win).
- average return: the mean net return per trade; total return: the equity curve's last value − 1 (compounded).
- profit factor: the sum of the winning trades' net returns ÷ the absolute sum of the losing ones'; math.inf
  when there are wins and no losses; None when there is neither.
- expectancy: win rate × average win − loss rate × average loss, per trade, as a fraction (this equals the
  average return; it is quoted the way traders read it). expectancy_ratio: freqtrade's
  ((1 + average win ÷ average loss) × win rate) − 1; None without a loss.
- max drawdown: the largest fall of the equity curve from its running peak (the start's 1.0 included), as a
  positive fraction of that peak.
- Sharpe: per bar, annualised: the mean ÷ the sample standard deviation (ddof 1) of the equity curve's bar
  returns (its first bar's against the starting 1.0), × √(bars per year), bars per year being the tested bars'
  own rate (bar count − 1 over their time span: 8,766 for 1h crypto, about 252 for daily stocks). Risk-free
  rate 0. None with fewer than two bars or no variation.
- exposure: the fraction of the tested bars spent in a position (a trade holds the bars after its entry up to
  and including its exit bar).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.backtest.exits import REASON_END, REASON_EXPIRY, REASON_SL, REASON_TP
from engine.backtest.trades import Trades

YEAR_SECONDS = 365.25 * 86400


@dataclass(frozen=True, slots=True)
class Metrics:
    trades: int
    longs: int
    shorts: int
    take_profits: int
    stop_losses: int
    expiries: int
    ended: int  # still open at the last bar, closed there
    hit_rate: float | None
    win_rate: float | None
    average_return: float | None
    total_return: float
    profit_factor: float | None
    expectancy: float | None
    expectancy_ratio: float | None
    max_drawdown: float
    sharpe: float | None
    exposure: float


def equity_curve(trades: Trades, close: np.ndarray, start: int, end: int, fee_pct: float) -> np.ndarray:
    """The notional account at each tested bar's close (start … end), `close` in the trades' ticks."""
    n = end - start + 1
    growth = np.ones(n)
    growth[trades.exit_bar - start] = 1.0 + trades.net_return
    booked = np.cumprod(growth)
    lengths = trades.exit_bar - trades.entry_bar
    owner = np.repeat(np.arange(len(trades)), lengths)
    # the bars each trade is open at the close of: entry, entry+1, …, exit−1
    held = trades.entry_bar[owner] + np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    entry = trades.entry_price[owner].astype(np.float64)
    price = close[held].astype(np.float64)
    open_return = np.zeros(n)
    open_return[held - start] = np.where(trades.long[owner], price - entry, entry - price) / entry - fee_pct / 100
    return booked * (1.0 + open_return)


def bars_per_year(timestamps: np.ndarray, start: int, end: int) -> float | None:
    """The tested bars' own rate: (bars − 1) over their span in years; None for a single bar."""
    span = float(timestamps[end] - timestamps[start])
    return (end - start) * YEAR_SECONDS / span if end > start and span > 0 else None


def metrics(trades: Trades, equity: np.ndarray, per_year: float | None) -> Metrics:
    """The figures of the module docstring for these trades and their equity curve."""
    r = trades.net_return
    count = len(trades)
    tp, sl = int(np.sum(trades.reason == REASON_TP)), int(np.sum(trades.reason == REASON_SL))
    wins, losses = r[r > 0], r[r < 0]
    win_rate = len(wins) / count if count else None
    gross_win, gross_loss = float(wins.sum()), float(-losses.sum())
    if gross_loss > 0:
        profit_factor: float | None = gross_win / gross_loss
    else:
        profit_factor = math.inf if gross_win > 0 else None
    expectancy = ratio = None
    if count:
        avg_win = float(wins.mean()) if len(wins) else 0.0
        avg_loss = float(-losses.mean()) if len(losses) else 0.0
        expectancy = len(wins) / count * avg_win - len(losses) / count * avg_loss
        if avg_loss > 0:
            ratio = (1 + avg_win / avg_loss) * (len(wins) / count) - 1
    curve = np.concatenate(([1.0], equity))
    peak = np.maximum.accumulate(curve)
    steps = curve[1:] / curve[:-1] - 1
    sharpe = None
    if per_year is not None and len(steps) >= 2:
        spread = float(np.std(steps, ddof=1))
        if spread > 0:
            sharpe = float(np.mean(steps)) / spread * math.sqrt(per_year)
    return Metrics(
        trades=count, longs=int(trades.long.sum()), shorts=int(count - trades.long.sum()),
        take_profits=tp, stop_losses=sl, expiries=int(np.sum(trades.reason == REASON_EXPIRY)),
        ended=int(np.sum(trades.reason == REASON_END)),
        hit_rate=tp / (tp + sl) if tp + sl else None, win_rate=win_rate,
        average_return=float(r.mean()) if count else None, total_return=float(curve[-1] - 1.0),
        profit_factor=profit_factor, expectancy=expectancy, expectancy_ratio=ratio,
        max_drawdown=float(np.max(1.0 - curve / peak)), sharpe=sharpe,
        exposure=float(np.sum(trades.exit_bar - trades.entry_bar)) / len(equity) if len(equity) else 0.0,
    )
