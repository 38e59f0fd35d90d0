"""Where each tip ends: its stop, its target or its expiry, for many entries at once.

The rule is the position monitor's (engine.positions.decide) without the trailing stop, which tips do not
have: from the bar after the entry, each bar is checked; a bar whose range reaches the stop exits there,
one reaching the target exits there, both in one bar → the stop (the worse outcome); a stop fills at its
level or at the open the bar gapped to beyond it, a target at its level or the better open. No exit by
entry + ttl bars: the tip expires at that bar's close; the data ending first: it ends at the last bar's close.

decide() takes one bar at a time for every open position, which is right for a live tick but costs
0.4 s for 40,000 entries × 24 bars. Here each entry's forward window is one row of a matrix and the first
touching bar is an argmax along it (read in blocks of doubling width, so an entry that exits early stops being
read). tests/engine/test_backtest.py checks both give the same exits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REASON_TP, REASON_SL, REASON_EXPIRY, REASON_END = 1, 2, 3, 4
REASONS = {REASON_TP: "tp", REASON_SL: "sl", REASON_EXPIRY: "expiry", REASON_END: "end"}

_CELLS = 1 << 20  # matrix cells per chunk: bounded memory whatever the entries and the ttl
_FIRST_BLOCK = 16  # bars read first after each entry; most stops and targets are reached within them
_LOW, _HIGH = np.iinfo(np.int64).min, np.iinfo(np.int64).max  # levels no price reaches


@dataclass(frozen=True, slots=True)
class TickBars:
    """A candle series in integer ticks of its price precision."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    decimals: int

    def __len__(self) -> int:
        return int(self.close.shape[0])


@dataclass(frozen=True, slots=True)
class Exits:
    """Per entry: the bar it exits on, why (REASON_*), and the price that exit is triggered at in ticks —
    the level or gapped open for a stop or target, the bar's close for an expiry or the end (before slippage)."""

    bar: np.ndarray
    reason: np.ndarray
    trigger: np.ndarray

    def take(self, rows: np.ndarray) -> Exits:
        return Exits(bar=self.bar[rows], reason=self.reason[rows], trigger=self.trigger[rows])


def follow(bars: TickBars, entry: np.ndarray, long: np.ndarray, stop: np.ndarray, has_stop: np.ndarray,
           target: np.ndarray, has_target: np.ndarray, ttl: int, end: int) -> Exits:
    """The exit of each entry (bar index `entry`, entered at its close) with its levels in ticks, looking at
    bars entry+1 … min(entry+ttl, end)."""
    if ttl < 1:
        raise ValueError(f"ttl must be at least one bar, got {ttl}")
    count = len(entry)
    bar = np.minimum(entry + ttl, end).astype(np.int64)  # no touch: expiry (or the end of the data)
    reason = np.where(entry + ttl <= end, REASON_EXPIRY, REASON_END).astype(np.int8)
    trigger = bars.close[bar].copy()
    # A missing level becomes one no price reaches, so one comparison covers every entry.
    stop_n = np.where(has_stop, stop, np.where(long, _LOW, _HIGH))
    target_n = np.where(has_target, target, np.where(long, _HIGH, _LOW))
    rows = max(1, _CELLS // ttl)
    for first in range(0, count, rows):
        part = slice(first, min(first + rows, count))
        for is_long in (True, False):
            mine = np.flatnonzero(long[part] == is_long) + first
            if mine.size:
                _first_touch(bars, entry[mine], is_long, stop_n[mine], target_n[mine], ttl, end, mine, bar, reason,
                             trigger)
    return Exits(bar=bar, reason=reason, trigger=trigger)


def _first_touch(bars: TickBars, entry: np.ndarray, is_long: bool, stop: np.ndarray, target: np.ndarray, ttl: int,
                 end: int, rows: np.ndarray, bar: np.ndarray, reason: np.ndarray, trigger: np.ndarray) -> None:
    """Writes the exits of entries on one side whose stop or target is touched within their window.

    The window is read in blocks of doubling width (bars 1-16 after the entry, then 17-48, …), each for the
    entries not yet out, so an early exit does not pay for reading all ttl bars."""
    pending = np.arange(len(entry))
    done, width = 0, _FIRST_BLOCK
    while pending.size and done < ttl:
        upto = min(ttl, done + width)
        start = entry[pending]
        index = start[:, None] + np.arange(done + 1, upto + 1, dtype=np.int64)
        inside = index <= end
        index = np.minimum(index, end)
        low, high = bars.low[index], bars.high[index]
        stop_col, target_col = stop[pending, None], target[pending, None]
        if is_long:
            stop_hit, target_hit = low <= stop_col, high >= target_col
        else:
            stop_hit, target_hit = high >= stop_col, low <= target_col
        stop_hit &= inside
        target_hit &= inside
        touched = stop_hit | target_hit
        col = touched.argmax(axis=1)
        line = np.arange(len(pending))
        hit = touched[line, col]
        if hit.any():
            line, col, out = line[hit], col[hit], pending[hit]
            where = entry[out] + done + 1 + col
            opened = bars.open[where]
            by_stop = stop_hit[line, col]  # the stop first when one bar reaches both
            if is_long:
                stop_fill, target_fill = np.minimum(opened, stop[out]), np.maximum(opened, target[out])
            else:
                stop_fill, target_fill = np.maximum(opened, stop[out]), np.minimum(opened, target[out])
            bar[rows[out]] = where
            reason[rows[out]] = np.where(by_stop, REASON_SL, REASON_TP)
            trigger[rows[out]] = np.where(by_stop, stop_fill, target_fill)
        pending = pending[~hit & (start + upto < end)]  # still open, with bars left to read
        done, width = upto, width * 2
