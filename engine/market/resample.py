"""Build coarser OHLCV bars from finer ones, vectorised.

Bars are aligned to UTC epoch multiples of the timeframe (so 1d bars open at 00:00 UTC and 4h bars at
00:00, 04:00, ... UTC), exchange-style and identical to pandas' `resample(...).agg(first/max/min/last/sum)`
with empty buckets dropped: a market closed for a weekend yields no bar rather than a bar of NaNs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# The timeframes a tip may be asked for (SPEC §2).
TIMEFRAMES: tuple[str, ...] = ("15m", "1h", "4h", "1d")

_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TIMEFRAME_RE = re.compile(r"^([1-9][0-9]{0,3})([mhdw])$")


def timeframe_seconds(timeframe: str) -> int:
    """'15m' → 900, '1h' → 3600, '1d' → 86400; ValueError for anything else."""
    match = _TIMEFRAME_RE.match(timeframe)
    if match is None:
        raise ValueError(f"not a timeframe like 15m, 1h, 4h or 1d: {timeframe!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Bars:
    """Plain OHLCV columns, oldest first; timestamps are bar open times in int64 UTC epoch seconds."""

    timestamps: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def slice(self, start: int, stop: int) -> Bars:
        return Bars(
            self.timestamps[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )

    def concat(self, other: Bars) -> Bars:
        return Bars(
            np.concatenate([self.timestamps, other.timestamps]),
            np.concatenate([self.open, other.open]),
            np.concatenate([self.high, other.high]),
            np.concatenate([self.low, other.low]),
            np.concatenate([self.close, other.close]),
            np.concatenate([self.volume, other.volume]),
        )


def resample(bars: Bars, seconds: int, volume_decimals: int | None = None) -> Bars:
    """Aggregate `bars` into buckets of `seconds`: open=first, high=max, low=min, close=last, volume=sum.

    `volume_decimals` rounds the summed volumes: a sum of values with d decimals has d decimals exactly,
    and rounding removes the float noise of the addition (so 5m Binance volumes add up to the 1h file's
    volumes bit for bit, where plain float addition differs in the 12th digit on about half the bars).
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    ts = np.asarray(bars.timestamps, dtype=np.int64)
    if ts.shape[0] == 0:
        return bars
    if np.any(ts[1:] <= ts[:-1]):
        raise ValueError("timestamps must be strictly increasing")
    # numpy's % floors like Python's, so bars before 1970 land in the right bucket too.
    bucket = ts - ts % seconds
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], ts.shape[0]] - 1
    volume = np.add.reduceat(bars.volume, starts)
    if volume_decimals is not None:
        volume = np.round(volume, volume_decimals)
    return Bars(
        timestamps=bucket[starts],
        open=bars.open[starts],
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[ends],
        volume=volume,
    )
