"""Checking candles that came over the network before anything is computed from them.

Sources do not always fail loudly: ccxt answers a body that is not JSON with rows of `None` (FACTS.md), a
proxy may answer 200 with an HTML page, and an API may send a number as a string. A tip computed from such
rows would be garbage presented as a price, so every row is checked and the first bad one named.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.market.resample import Bars
from engine.models import Candles


class MalformedCandles(ValueError):
    """The rows are not candles; `str(exc)` says which row and why (short, for a one-line user message)."""


def checked_bars(rows: object, *, time_scale: int = 1) -> Bars:
    """Rows of [open time, open, high, low, close, volume] (extra columns ignored) as Bars.

    Every row must hold six finite numbers, prices > 0, volume ≥ 0, low ≤ open/close ≤ high, and open times
    must strictly increase. `time_scale` divides the open times (1000 for milliseconds). An empty list is
    valid (no bars); anything else malformed raises MalformedCandles.
    """
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
        raise MalformedCandles(f"expected a list of candles, got {type(rows).__name__}")
    if not _plain_numbers(rows):
        _name_bad_row(rows)
    table = np.array([row[:6] for row in rows], dtype=np.float64).reshape(-1, 6)
    if not np.isfinite(table).all():
        raise MalformedCandles("a candle holds a non-finite number")
    stamps, open_, high, low, close, volume = table.T
    if (table[:, 1:5] <= 0).any():
        raise MalformedCandles("a candle has a price ≤ 0")
    if (volume < 0).any():
        raise MalformedCandles("a candle has a negative volume")
    if (low > np.minimum(open_, close)).any() or (high < np.maximum(open_, close)).any():
        raise MalformedCandles("a candle's open or close lies outside its low–high range")
    if (np.diff(stamps) <= 0).any():
        raise MalformedCandles("candle times do not strictly increase")
    return Bars(
        timestamps=(stamps // time_scale).astype(np.int64),
        open=open_.copy(),
        high=high.copy(),
        low=low.copy(),
        close=close.copy(),
        volume=volume.copy(),
    )


def _plain_numbers(rows: Sequence[object]) -> bool:
    """The common case in one pass (a monitor cycle checks 100 × 200 rows): every row a list or tuple of at
    least six ints or floats — bools excluded, as `type(True)` is bool."""
    if any(type(row) not in (list, tuple) or len(row) < 6 for row in rows):  # type: ignore[arg-type]
        return False
    return {type(value) for row in rows for value in row[:6]} <= {int, float}  # type: ignore[index]


def _name_bad_row(rows: Sequence[object]) -> None:
    """Raise MalformedCandles naming the first row that is not six plain numbers."""
    for i, row in enumerate(rows):
        if not isinstance(row, Sequence) or isinstance(row, str | bytes) or len(row) < 6:
            raise MalformedCandles(f"candle {i} is not [time, open, high, low, close, volume]")
        for value in row[:6]:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MalformedCandles(f"candle {i} holds {str(value)[:20]!r} where a number belongs")
    raise MalformedCandles("the candles are not lists of numbers")  # a Sequence subclass row, say


def live_candles(symbol: str, timeframe: str, bars: Bars, *, source: str, last_price: float,
                 price_decimals: int, session_note: str | None = None) -> Candles:
    """Checked closed bars of a live source as the Candles a tip is computed from (never DEMO, never forming)."""
    return Candles(symbol=symbol, timeframe=timeframe, timestamps=bars.timestamps, open=bars.open,
                   high=bars.high, low=bars.low, close=bars.close, volume=bars.volume, source=source, demo=False,
                   forming=False, price_decimals=price_decimals, last_price=last_price, session_note=session_note)


def checked_price(value: object) -> float | None:
    """A quoted price if it is a finite number > 0, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    price = float(value)
    return price if np.isfinite(price) and price > 0 else None
