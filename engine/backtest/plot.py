"""The equity curve of a backtest as a PNG (matplotlib on Agg, imported on first use): the strategy's account
next to buy-and-hold over the same bars. Blocking: call it off the event loop."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np

from engine.backtest.run import BacktestResult
from engine.charts import PYPLOT_LOCK

WIDTH, HEIGHT, DPI = 10, 6, 100  # 1000×600 pixels


def equity_png(result: BacktestResult, closes: np.ndarray, title: str) -> bytes:
    """`closes`: the candles' closes over the tested bars (result.start … result.end)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with PYPLOT_LOCK:  # pyplot keeps global state: one drawing at a time (engine.charts draws too)
        return _draw(result, closes, title, plt)


def _draw(result: BacktestResult, closes: np.ndarray, title: str, plt: Any) -> bytes:
    times = [datetime.fromtimestamp(int(t), UTC) for t in result.equity_times]
    closes = np.asarray(closes, dtype=float)
    hold = closes / closes[0]
    figure, axes = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    try:
        axes.plot(times, np.asarray(result.equity, dtype=float), label="strategy (after fees and slippage)")
        axes.plot(times, hold, label="buy & hold", alpha=0.7)
        axes.axhline(1.0, color="grey", linewidth=0.8)
        axes.set_title(title)
        axes.set_ylabel("equity (start = 1)")
        axes.legend(loc="best")
        axes.grid(alpha=0.3)
        figure.autofmt_xdate()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(figure)
