"""The trades of a backtest as columns, and as rows with Decimal prices for showing them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from engine.backtest.exits import REASON_TP, REASONS, Exits, TickBars
from engine.backtest.fills import net_returns, slipped_ticks
from engine.brokers.base import Side
from engine.positions import from_ticks


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade as a report shows it. Returns are fractions (0.012 = +1.2 %) of the cash the entry took; times
    are the entry and exit bars' open times (the candles' timestamps): the entry fills at its bar's close."""

    entry_bar: int
    exit_bar: int
    entry_time: datetime
    exit_time: datetime
    side: Side
    entry_price: Decimal
    exit_price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    reason: str  # tp, sl, expiry, end
    gross_return: float
    net_return: float


@dataclass(frozen=True)
class Trades:
    """Columns, one row per trade in time order. Prices in ticks of `decimals`; `long` False is a short."""

    entry_bar: np.ndarray
    exit_bar: np.ndarray
    entry_time: np.ndarray  # epoch seconds: the entry bar's open time
    exit_time: np.ndarray
    long: np.ndarray
    stop: np.ndarray
    has_stop: np.ndarray
    target: np.ndarray
    has_target: np.ndarray
    entry_price: np.ndarray  # the fill, ticks
    exit_price: np.ndarray
    reason: np.ndarray  # exits.REASON_*
    gross_return: np.ndarray
    net_return: np.ndarray
    decimals: int

    def __len__(self) -> int:
        return int(self.entry_bar.shape[0])

    def select(self, mask: np.ndarray) -> Trades:
        """The trades where `mask` holds (a boolean array or indices), in the same order."""
        fields = {name: getattr(self, name)[mask] for name in _COLUMNS}
        return Trades(**fields, decimals=self.decimals)

    def side(self, long: bool) -> Trades:
        return self.select(self.long == long)

    def rows(self) -> list[Trade]:
        d = self.decimals
        return [
            Trade(entry_bar=int(self.entry_bar[i]), exit_bar=int(self.exit_bar[i]),
                  entry_time=datetime.fromtimestamp(int(self.entry_time[i]), tz=UTC),
                  exit_time=datetime.fromtimestamp(int(self.exit_time[i]), tz=UTC),
                  side=Side.LONG if self.long[i] else Side.SHORT,
                  entry_price=from_ticks(int(self.entry_price[i]), d),
                  exit_price=from_ticks(int(self.exit_price[i]), d),
                  stop_loss=from_ticks(int(self.stop[i]), d) if self.has_stop[i] else None,
                  take_profit=from_ticks(int(self.target[i]), d) if self.has_target[i] else None,
                  reason=REASONS[int(self.reason[i])], gross_return=float(self.gross_return[i]),
                  net_return=float(self.net_return[i]))
            for i in range(len(self))
        ]

    @classmethod
    def fill(cls, bars: TickBars, timestamps: np.ndarray, entry: np.ndarray, long: np.ndarray, stop: np.ndarray,
             has_stop: np.ndarray, target: np.ndarray, has_target: np.ndarray, exits: Exits, fee_pct: Decimal,
             slippage_pct: Decimal, entry_ticks: np.ndarray | None = None) -> Trades:
        """Trades entered at their bars' closes (or at `entry_ticks`, a live tip's own price: /track) and
        exited where `exits` says, filled by the paper broker's rules: the entry a market order (slipped against
        the taker), a take-profit a limit at its trigger, every other exit a market order from its trigger
        (slipped); fees on both legs."""
        quoted = bars.close[entry] if entry_ticks is None else entry_ticks
        entry_price = slipped_ticks(quoted, slippage_pct, buy=long)
        market_exit = slipped_ticks(exits.trigger, slippage_pct, buy=~long)
        exit_price = np.where(exits.reason == REASON_TP, exits.trigger, market_exit)
        gross, net = net_returns(long, entry_price, exit_price, fee_pct)
        return cls(entry_bar=entry, exit_bar=exits.bar, entry_time=timestamps[entry],
                   exit_time=timestamps[exits.bar], long=long, stop=stop, has_stop=has_stop, target=target,
                   has_target=has_target, entry_price=entry_price, exit_price=exit_price, reason=exits.reason,
                   gross_return=gross, net_return=net, decimals=bars.decimals)

    @classmethod
    def empty(cls, decimals: int) -> Trades:
        i64, no, f = np.empty(0, np.int64), np.empty(0, bool), np.empty(0, np.float64)
        return cls(entry_bar=i64, exit_bar=i64, entry_time=i64, exit_time=i64, long=no, stop=i64, has_stop=no,
                   target=i64, has_target=no, entry_price=i64, exit_price=i64, reason=np.empty(0, np.int8),
                   gross_return=f, net_return=f, decimals=decimals)


_COLUMNS = ("entry_bar", "exit_bar", "entry_time", "exit_time", "long", "stop", "has_stop", "target", "has_target",
            "entry_price", "exit_price", "reason", "gross_return", "net_return")
