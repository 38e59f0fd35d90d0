"""Positions: the model, PnL, and the exit rules the position monitor applies (SPEC §4; seeds 000, 002, 004).

The monitor checks thousands of positions every few seconds, so the rules run on numpy arrays: floats are
fine for *deciding* that a stop was crossed; the money of the exit itself is computed in Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
from pydantic import BaseModel

from engine.brokers.base import Side

EXIT_NONE, EXIT_STOP, EXIT_TARGET, EXIT_TRAIL = 0, 1, 2, 3
EXIT_REASONS = {EXIT_STOP: "stop_loss", EXIT_TARGET: "take_profit", EXIT_TRAIL: "trailing_stop"}


class Position(BaseModel):
    id: int
    user_id: int
    signal_id: int | None = None
    platform: str
    chat_id: str
    symbol: str
    side: Side
    broker: str
    status: str
    notional: Decimal
    quantity: Decimal | None = None
    entry_price: Decimal | None = None
    entry_fee: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    price_decimals: int = 2
    trail_extreme: Decimal | None = None
    trail_active: bool = False
    last_price: Decimal | None = None
    last_alert_pnl: float = 0.0
    near_target_sent: bool = False
    exit_price: Decimal | None = None
    exit_fee: Decimal | None = None
    exit_reason: str | None = None
    pnl_abs: Decimal | None = None
    pnl_pct: float | None = None
    error: str | None = None
    created_at: datetime
    opened_at: datetime | None = None
    closed_at: datetime | None = None


def gross_pnl(side: Side, entry: Decimal, exit_: Decimal, quantity: Decimal) -> Decimal:
    """Price difference times quantity, in the direction of the position."""
    diff = exit_ - entry if side is Side.LONG else entry - exit_
    return diff * quantity


def pnl_fraction(side: Side, entry: Decimal, price: Decimal) -> Decimal:
    """SPEC §4: long (price − entry)/entry, short (entry − price)/entry."""
    return (price - entry) / entry if side is Side.LONG else (entry - price) / entry


def net_pnl(side: Side, entry: Decimal, exit_: Decimal, quantity: Decimal, fees: Decimal) -> Decimal:
    """Absolute PnL net of entry and exit fees, to the cent's hundredth (quote currency)."""
    return (gross_pnl(side, entry, exit_, quantity) - fees).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class TickDecisions:
    pnl: np.ndarray  # fraction
    extreme: np.ndarray  # updated best price
    trail_active: np.ndarray  # bool
    exit_code: np.ndarray  # EXIT_* per position
    near_target: np.ndarray  # bool: within near_target_pct of the take-profit, not yet alerted
    pnl_move: np.ndarray  # bool: PnL moved more than pnl_move_pct since the last alert


def decide(
    is_long: np.ndarray,
    entry: np.ndarray,
    price: np.ndarray,
    stop: np.ndarray,  # NaN: none
    target: np.ndarray,  # NaN: none
    extreme: np.ndarray,
    trail_active: np.ndarray,
    last_alert_pnl: np.ndarray,
    near_sent: np.ndarray,
    trailing_pct: float,
    activation_pct: float,
    near_target_pct: float,
    pnl_move_pct: float,
) -> TickDecisions:
    """One monitoring tick for every open position at once."""
    pnl = np.where(is_long, (price - entry) / entry, (entry - price) / entry)
    extreme = np.where(is_long, np.fmax(extreme, price), np.fmin(extreme, price))
    best = np.where(is_long, (extreme - entry) / entry, (entry - extreme) / entry)
    active = trail_active | (best * 100 >= activation_pct)
    trail_stop = np.where(is_long, extreme * (1 - trailing_pct / 100), extreme * (1 + trailing_pct / 100))
    with np.errstate(invalid="ignore"):
        hit_stop = np.where(is_long, price <= stop, price >= stop)
        hit_target = np.where(is_long, price >= target, price <= target)
        hit_trail = active & np.where(is_long, price <= trail_stop, price >= trail_stop)
        near = ~near_sent & ~hit_target & (np.abs(target - price) / price * 100 <= near_target_pct)
    # A stop wins over a target when a bar jumps over both: assume the worse outcome.
    code = np.select([hit_stop, hit_target, hit_trail], [EXIT_STOP, EXIT_TARGET, EXIT_TRAIL], EXIT_NONE)
    moved = np.abs(pnl - last_alert_pnl) * 100 > pnl_move_pct
    return TickDecisions(pnl=pnl, extreme=extreme, trail_active=active, exit_code=code, near_target=near,
                         pnl_move=moved & (code == EXIT_NONE))
