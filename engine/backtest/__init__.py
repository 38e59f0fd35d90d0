"""Backtests: a strategy's every-bar decisions followed tip by tip with the paper broker's fills (run.py),
the figures a report gives (metrics.py) and random entries to compare them with (baseline.py)."""

from engine.backtest.exits import REASONS
from engine.backtest.metrics import Metrics
from engine.backtest.run import DEFAULT_SEED, BacktestResult, RandomBaseline, SideBaseline, run_backtest
from engine.backtest.trades import Trade, Trades

__all__ = ["DEFAULT_SEED", "REASONS", "BacktestResult", "Metrics", "RandomBaseline", "SideBaseline", "Trade",
           "Trades", "run_backtest"]
