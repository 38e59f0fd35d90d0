"""The one shape every strategy has: a reading of every bar of a candle series, as arrays.

A strategy decides at each bar's close what it recommends (BUY / SELL / HOLD) and, for BUY and SELL, the
stop-loss and take-profit it sets. The live tip is the last bar's decision; a backtest is every bar's; the
monitor re-reads the last bar. So there is one implementation of each strategy's rules, vectorised, and no
second copy for backtests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from engine.models import Candles

BUY, SELL, HOLD = 1, -1, 0  # the codes of `Decisions.side` (engine.reevaluate.CODES uses the same)


@dataclass(frozen=True)
class Decisions:
    """Per bar, aligned with the candles: side (int8 codes), the score behind it in [-1, 1], and the levels a
    BUY/SELL sets (NaN on HOLD bars and while indicators warm up). `first` is the first bar with every input
    warmed up: a backtest starts there. `extra` carries per-bar arrays a strategy wants to show (e.g. RSI)."""

    side: np.ndarray
    score: np.ndarray
    stop_loss: np.ndarray
    take_profit: np.ndarray
    first: int
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.side)
        for name in ("score", "stop_loss", "take_profit"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Decisions.{name} has {len(getattr(self, name))} values for {n} bars")
        if not 0 <= self.first <= n:
            raise ValueError(f"Decisions.first {self.first} is outside 0..{n}")


class Strategy(Protocol):
    """A named rule set. `params` are the strategy's own keys (never another strategy's names), validated by
    `check_params` before any data is fetched; `decide` reads every bar."""

    name: str
    summary: str

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters with defaults filled in, or ValueError with a one-line reason."""
        ...

    def decide(self, candles: Candles, sentiment: np.ndarray, params: Mapping[str, Any]) -> Decisions:
        """Every bar's decision. `sentiment` is a score in [-1, 1] per bar (0 where none is known)."""
        ...
