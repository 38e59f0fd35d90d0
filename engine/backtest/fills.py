"""The paper broker's fill rules (engine/brokers/paper.py) on whole arrays of trades, in integer ticks.

A backtest of 100,000 bars fills thousands of trades; `slipped_price` in Decimal per trade would cost more
than the whole run may take. Prices are therefore integer counts of the symbol's tick (as the position
monitor holds them, engine.positions), and a percentage is the exact rational it was written as, so every
rounding the paper broker does in Decimal is done here exactly, in integers:

- a market fill (entry, stop, expiry) is the price × (1 ± slippage), rounded to the tick *against* the taker
  (buys up, sells down) — `slipped_price` with the instrument's decimals;
- a take-profit fills at its level (or the better open it gapped to), no slippage — `_triggered`'s limit;
- fees are fee_pct of each leg's notional.

tests/engine/test_backtest.py checks these against the paper broker's own Decimal functions.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np

from engine.positions import float_ticks

_INT_SAFE = 2**62  # ticks × a rate's numerator stay below this in int64, else exact Python ints are used
_GRID = 1e-6  # a level within this many ticks of the grid is on it (float noise, not a price)


def as_percent(value: Decimal | float | str | int) -> Decimal:
    """A percentage setting as the Decimal it was written as (0.05 → Decimal('0.05'), never 0.05000000000000000277)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def price_ticks(prices: np.ndarray, decimals: int) -> np.ndarray:
    """Candle prices (written with at most the tick's decimals) as int64 ticks, as the position monitor reads them."""
    return float_ticks(np.asarray(prices, dtype=np.float64), np.full(len(prices), 10.0**decimals))


def level_ticks(levels: np.ndarray, decimals: int, up: np.ndarray | bool) -> tuple[np.ndarray, np.ndarray]:
    """Stop or target levels as int64 ticks and whether each is set (NaN: none).

    A level off the tick grid moves onto it the way it triggers (engine.positions.ExitBook: a long's stop
    down and its target up, a short's the other way): `up` says where to round."""
    values = np.asarray(levels, dtype=np.float64)
    has = np.isfinite(values)
    scaled = np.where(has, values, 0.0) * 10.0**decimals
    nearest = np.rint(scaled)
    on_grid = np.abs(scaled - nearest) <= _GRID
    rounded = np.where(on_grid, nearest, np.where(up, np.ceil(scaled), np.floor(scaled)))
    return rounded.astype(np.int64), has


def slipped_ticks(ticks: np.ndarray, slippage_pct: Decimal, buy: np.ndarray) -> np.ndarray:
    """`slipped_price(price, slippage_pct, buy, decimals)` for every element, exactly: buys pay price×(1+s)
    rounded up to the tick, sells receive price×(1−s) rounded down."""
    rate = Fraction(slippage_pct) / 100
    den = rate.denominator
    up_num, down_num = den + rate.numerator, den - rate.numerator
    values = np.asarray(ticks, dtype=np.int64)
    if values.size and int(np.abs(values).max()) * max(up_num, abs(down_num)) >= _INT_SAFE:
        values = values.astype(object)  # odd settings or prices: exact, slower
    up = -((-values * up_num) // den)  # ceiling division
    down = (values * down_num) // den  # floor division
    return np.asarray(np.where(buy, up, down), dtype=np.int64)


def net_returns(long: np.ndarray, entry: np.ndarray, exit_: np.ndarray,
                fee_pct: Decimal) -> tuple[np.ndarray, np.ndarray]:
    """(gross, net) returns per trade on the cash its entry took: gross is SPEC §4's long (exit−entry)/entry,
    short (entry−exit)/entry; net takes off both legs' fees (fee_pct of entry and of exit notional), as
    engine.positions.net_pnl does on the paper broker's fills: net = gross − f − f·exit/entry."""
    entry_f = np.asarray(entry, dtype=np.float64)
    exit_f = np.asarray(exit_, dtype=np.float64)
    gross = np.where(long, exit_f - entry_f, entry_f - exit_f) / entry_f
    fee = float(fee_pct) / 100
    return gross, gross - fee - fee * exit_f / entry_f
