"""Real historical candles bundled with Tipster, served as if they were live (SPEC §9's offline default).

Each symbol has a virtual clock. It starts at `start` and runs `speed` market seconds per real second from
the moment the `ReplayMarket` is created; `advance()` moves every clock forward at once. A request sees only
what a live feed would have shown at the virtual now: bars of the base (finest bundled) timeframe that have
closed, and coarser bars resampled from them, the newest of which may still be forming. When a symbol's
data runs out its clock stops at the close of the last bar and `status()` says the replay has ended.

Files are `<NAME>-<timeframe>.csv[.gz]` with columns timestamp (ISO-8601 UTC), open, high, low, close,
volume. `sources.json` next to them maps NAME to the symbol and a description of where the data comes from.
Files are parsed lazily, once per symbol, in a worker thread so the event loop never waits on gzip or CSV.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.market.base import NoData, UnknownSymbol, UnknownTimeframe
from engine.market.resample import TIMEFRAMES, Bars, resample, timeframe_seconds
from engine.market.symbols import asset_class, normalise_symbol
from engine.models import AssetClass, Candles

DATA_DIR = Path(__file__).with_name("data")
MIN_BARS = 60  # fewer than this and no indicator of SPEC §2 (SMA 50 the longest) is meaningful
_FILE_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<tf>[0-9]+[mhdw])\.csv(?:\.gz)?$")
_MAX_DECIMALS = 8
_FIAT = frozenset({"USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD"})


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    timeframe: str
    seconds: int


@dataclass(frozen=True, slots=True)
class _Entry:
    """What is known about a symbol without reading its data (enough to validate requests)."""

    symbol: str
    base: _File
    timeframes: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A symbol's data, parsed and resampled once to every timeframe it serves (shared by instances)."""

    by_timeframe: dict[str, Bars]
    end: float  # close time of the last base bar: the clock stops here
    price_decimals: int
    volume_decimals: int
    source: str


@dataclass(frozen=True, slots=True)
class _Series:
    entry: _Entry
    data: _Parsed
    start: float  # the virtual epoch seconds this instance's clock starts from

    @property
    def base(self) -> Bars:
        return self.data.by_timeframe[self.entry.base.timeframe]

    @property
    def end(self) -> float:
        return self.data.end


def _symbol_for(name: str) -> str:
    """BTC_USDT → BTC/USDT (crypto pair), EUR_USD stays EUR_USD (forex, as symbols.py spells it)."""
    base, sep, quote = name.upper().partition("_")
    if sep and not (base in _FIAT and quote in _FIAT):
        return f"{base}/{quote}"
    return name.upper()


def _decimals(values: npt.NDArray[np.float64]) -> int:
    """The most decimals any value has (capped at 8), read from the floats the CSV text parsed to."""
    finite = values[np.isfinite(values)]
    for d in range(_MAX_DECIMALS + 1):
        scaled = finite * 10.0**d
        # The float error of `scaled` grows with its magnitude; a genuine extra digit leaves ≥ 0.1.
        tolerance = 1e-6 + 8 * np.finfo(np.float64).eps * np.abs(scaled)
        if np.all(np.abs(scaled - np.rint(scaled)) <= tolerance):
            return d
    return _MAX_DECIMALS


def _display_decimals(symbol: str, close: npt.NDArray[np.float64]) -> int:
    """Tick precision for display: the data's decimals, except for stocks and ETFs.

    Split-adjusted stock prices carry 6 decimals of arithmetic, not of trading: US equities quote in
    $0.01 ticks at or above $1 and $0.0001 below (Reg NMS rule 612), so that is what a price is shown with.
    """
    inferred = _decimals(close)
    if asset_class(symbol) in (AssetClass.STOCK, AssetClass.ETF):
        return min(inferred, 2 if close[-1] >= 1 else 4)
    return inferred


def _read_csv(path: Path) -> Bars:
    frame = pd.read_csv(path, dtype={c: "float64" for c in ("open", "high", "low", "close", "volume")})
    missing = {"timestamp", "open", "high", "low", "close", "volume"} - set(frame.columns)
    if missing:
        raise NoData(f"Bundled data {path.name} is unreadable: missing columns {', '.join(sorted(missing))}")
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601"))
    bars = Bars(
        timestamps=stamps.as_unit("s").asi8.astype(np.int64),
        open=frame["open"].to_numpy(np.float64),
        high=frame["high"].to_numpy(np.float64),
        low=frame["low"].to_numpy(np.float64),
        close=frame["close"].to_numpy(np.float64),
        volume=frame["volume"].to_numpy(np.float64),
    )
    if len(bars) == 0:
        raise NoData(f"Bundled data {path.name} has no bars")
    if np.any(np.diff(bars.timestamps) <= 0):
        raise NoData(f"Bundled data {path.name} is unreadable: timestamps are not strictly increasing")
    return bars


def _year_span(bars: Bars) -> str:
    y0, y1 = (datetime.fromtimestamp(int(t), tz=UTC).year for t in (bars.timestamps[0], bars.timestamps[-1]))
    return f"{y0}" if y0 == y1 else f"{y0}–{y1}"


def _parse_start(start: int | str) -> int | float:
    """An int is a bar count; a string an ISO datetime (naive means UTC), returned as epoch seconds."""
    if isinstance(start, bool):
        raise ValueError("replay start must be a bar count or an ISO datetime")
    if isinstance(start, int):
        return start
    if start.strip().isdigit():  # "500" from an environment variable is still a bar count
        return int(start)
    try:
        moment = datetime.fromisoformat(start.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"replay start {start!r} is neither a bar count nor an ISO datetime") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@functools.lru_cache(maxsize=64)
def _parse(entry: _Entry) -> _Parsed:
    """Read and resample one symbol's file. Cached per file: the data is immutable and every
    `ReplayMarket` (the app's, each test's) can share the arrays; only the clocks are per instance."""
    try:
        base = _read_csv(entry.base.path)
    except (OSError, ValueError) as exc:  # pandas' ParserError is a ValueError
        raise NoData(f"Bundled data for {entry.symbol} could not be read: {exc}") from exc
    volume_decimals = _decimals(base.volume)
    by_timeframe = {entry.base.timeframe: base}
    for tf in entry.timeframes:
        if tf != entry.base.timeframe:
            by_timeframe[tf] = resample(base, timeframe_seconds(tf), volume_decimals)
    for bars in by_timeframe.values():
        for column in (bars.timestamps, bars.open, bars.high, bars.low, bars.close, bars.volume):
            column.flags.writeable = False  # shared between instances: nobody may edit them in place
    return _Parsed(
        by_timeframe=by_timeframe,
        end=float(base.timestamps[-1] + entry.base.seconds),
        price_decimals=_display_decimals(entry.symbol, base.close),
        volume_decimals=volume_decimals,
        source=f"replay of {entry.description} ({_year_span(base)})",
    )


def _closed_count(series: _Series, now: float) -> int:
    """How many base bars have closed (open + length ≤ now): the only ones a live feed would show."""
    # An integer key: a float one makes numpy convert the whole int64 column first (a copy per call).
    # Open times are whole seconds, so open ≤ now − length ⇔ open ≤ ⌊now − length⌋.
    return int(np.searchsorted(series.base.timestamps, math.floor(now - series.entry.base.seconds), side="right"))


def _candles(series: _Series, timeframe: str, window: Bars, *, forming: bool = False) -> Candles:
    """A window of a symbol's bars as Candles: copies (the parsed arrays are shared and read-only), DEMO."""
    return Candles(symbol=series.entry.symbol, timeframe=timeframe, timestamps=window.timestamps.copy(),
                   open=window.open.copy(), high=window.high.copy(), low=window.low.copy(),
                   close=window.close.copy(), volume=window.volume.copy(), source=series.data.source, demo=True,
                   forming=forming, price_decimals=series.data.price_decimals)


class ReplayMarket:
    """The bundled candles as a `MarketData` source (always `demo`).

    `start`: an int N starts each symbol's clock N bars before the end of its data, counting bars of
    max(base timeframe, 1h) (N larger than the data starts at its first bar, N ≤ 0 at its end); a string
    is an ISO datetime (naive = UTC), clamped into each symbol's data range. `speed`: market seconds per
    real second of `clock`, counted from construction. `data_dir` defaults to the bundled data.
    """

    name = "replay"
    demo = True

    def __init__(
        self,
        start: int | str = 500,
        speed: float = 60,
        clock: Callable[[], float] = time.time,
        data_dir: Path | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError(f"replay speed must be ≥ 0 market seconds per second, got {speed}")
        self._start_count: int | None = None
        self._start_time: float | None = None
        parsed = _parse_start(start)
        if isinstance(parsed, int):
            self._start_count = parsed
        else:
            self._start_time = parsed
        self._speed = float(speed)
        self._clock = clock
        self._t0 = clock()
        self._advanced = 0.0
        self._dir = data_dir or DATA_DIR
        self._entries = self._discover(self._dir)
        self._series: dict[str, _Series] = {}
        self._locks = {symbol: threading.Lock() for symbol in self._entries}

    # -- discovery and loading -------------------------------------------------------------------------

    @staticmethod
    def _discover(data_dir: Path) -> dict[str, _Entry]:
        manifest_path = data_dir / "sources.json"
        manifest: dict[str, dict[str, str]] = (
            json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
        )
        files: dict[str, list[_File]] = {}
        names: dict[str, str] = {}
        for path in sorted(data_dir.glob("*.csv*")):
            match = _FILE_RE.match(path.name)
            if match is None:
                continue
            name, tf = match.group("name"), match.group("tf")
            symbol = manifest.get(name, {}).get("symbol") or _symbol_for(name)
            files.setdefault(symbol, []).append(_File(path, tf, timeframe_seconds(tf)))
            names[symbol] = name
        entries: dict[str, _Entry] = {}
        for symbol, found in sorted(files.items()):
            base = min(found, key=lambda f: f.seconds)
            # Coarser timeframes must tile the base exactly, or a bar would mix partial base bars.
            coarser = [
                tf
                for tf in TIMEFRAMES
                if timeframe_seconds(tf) > base.seconds and timeframe_seconds(tf) % base.seconds == 0
            ]
            timeframes = tuple(sorted({base.timeframe, *coarser}, key=timeframe_seconds))
            description = manifest.get(names[symbol], {}).get("source", "bundled candles")
            entries[symbol] = _Entry(symbol, base, timeframes, description)
        return entries

    def _load_sync(self, symbol: str) -> _Series:
        with self._locks[symbol]:
            cached = self._series.get(symbol)
            if cached is not None:
                return cached
            entry = self._entries[symbol]
            data = _parse(entry)
            series = _Series(
                entry, data, self._start_for(data.by_timeframe[entry.base.timeframe], entry, data.end)
            )
            self._series[symbol] = series
            return series

    def _start_for(self, base: Bars, entry: _Entry, end: float) -> float:
        if self._start_time is not None:
            return min(max(self._start_time, float(base.timestamps[0])), end)
        count = self._start_count or 0
        if count <= 0:
            return end
        # Counted in bars of at least an hour, so "500" means the same stretch of market time whether a
        # symbol's finest file is 5m or 1h; on daily stock data it counts trading days, not calendar days.
        step = max(entry.base.seconds, 3600)
        opens = base.timestamps - base.timestamps % step
        opens = opens[np.r_[True, opens[1:] != opens[:-1]]]
        return float(opens[max(opens.shape[0] - count, 0)])

    async def _load(self, symbol: str) -> _Series:
        series = self._series.get(symbol)
        if series is None:
            series = await asyncio.to_thread(self._load_sync, symbol)
        return series

    async def preload(self, symbols: list[str] | None = None) -> None:
        """Parse every symbol's file now (in threads) rather than on its first request."""
        await asyncio.gather(*(self._load(self._entry(s).symbol) for s in symbols or list(self._entries)))

    def _entry(self, symbol: str) -> _Entry:
        normal = normalise_symbol(symbol)
        entry = self._entries.get(normal)
        if entry is None:
            raise UnknownSymbol(normal, self.symbols())
        return entry

    # -- the clock -----------------------------------------------------------------------------------

    def _offset(self) -> float:
        return (self._clock() - self._t0) * self._speed + self._advanced

    def _virtual_now(self, series: _Series) -> float:
        return min(series.start + self._offset(), series.end)

    def advance(self, seconds: float) -> None:
        """Move every symbol's clock `seconds` of market time forward (tests, demos)."""
        if seconds < 0:
            raise ValueError("the replay clock only moves forward")
        self._advanced += seconds

    def now(self, symbol: str) -> datetime:
        """The symbol's virtual now. Parses its file synchronously if no request has loaded it yet."""
        key = self._entry(symbol).symbol
        series = self._series.get(key) or self._load_sync(key)
        return datetime.fromtimestamp(self._virtual_now(series), tz=UTC)

    async def as_of(self, symbol: str) -> datetime | None:
        series = await self._load(self._entry(symbol).symbol)
        return datetime.fromtimestamp(self._virtual_now(series), tz=UTC)

    def ended(self, symbol: str) -> bool:
        """True once the symbol's clock has stopped at the end of its data (False until it is loaded)."""
        series = self._series.get(self._entry(symbol).symbol)
        return series is not None and self._virtual_now(series) >= series.end

    # -- MarketData ----------------------------------------------------------------------------------

    def symbols(self) -> list[str]:
        return list(self._entries)

    def timeframes(self, symbol: str) -> list[str]:
        return list(self._entry(symbol).timeframes)

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        if isinstance(bars, bool) or not isinstance(bars, int) or bars < 1:
            raise ValueError(f"bars must be a positive integer, got {bars!r}")
        entry = self._entry(symbol)
        if timeframe not in entry.timeframes:
            raise UnknownTimeframe(entry.symbol, timeframe, entry.timeframes, where="in the replay")
        series = await self._load(entry.symbol)
        now = self._virtual_now(series)
        window, forming = self._window(series, timeframe, now)
        needed = min(bars, MIN_BARS)
        if len(window) < needed:
            raise NoData(
                f"{entry.symbol} {timeframe}: only {len(window)} bars of replay data up to "
                f"{datetime.fromtimestamp(now, tz=UTC):%Y-%m-%d %H:%M} UTC, need at least {needed}"
            )
        window = window.slice(max(len(window) - bars, 0), len(window))
        return _candles(series, timeframe, window, forming=forming)

    @staticmethod
    def _window(series: _Series, timeframe: str, now: float) -> tuple[Bars, bool]:
        """All bars of `timeframe` visible at `now`, and whether the last one is still forming."""
        base = series.base
        closed = _closed_count(series, now)
        if timeframe == series.entry.base.timeframe:
            return base.slice(0, closed), False
        seconds = timeframe_seconds(timeframe)
        coarse = series.data.by_timeframe[timeframe]
        bucket = int(now // seconds * seconds)
        complete = int(np.searchsorted(coarse.timestamps, bucket, side="left"))
        first_in_bucket = int(np.searchsorted(base.timestamps, bucket, side="left"))
        if closed <= first_in_bucket:
            return coarse.slice(0, complete), False
        # The forming bar is rebuilt from the base bars closed so far: a few hundred values at most.
        part = resample(base.slice(first_in_bucket, closed), seconds, series.data.volume_decimals)
        window = coarse.slice(0, complete)
        return window.concat(part), True

    async def bars_since(self, symbol: str, since: datetime) -> Candles:
        """Base bars that opened at or after `since` and have closed by the virtual now (a replay knows no
        bar's inside: the one still forming is not shown)."""
        entry = self._entry(symbol)
        series = await self._load(entry.symbol)
        base = series.base
        first = int(np.searchsorted(base.timestamps, math.ceil(since.timestamp()), side="left"))  # whole seconds
        closed = _closed_count(series, self._virtual_now(series))
        window = base.slice(first, max(first, closed))
        return _candles(series, entry.base.timeframe, window)

    async def last_price(self, symbol: str) -> Decimal:
        entry = self._entry(symbol)
        series = await self._load(entry.symbol)
        now = self._virtual_now(series)
        base = series.base
        closed = _closed_count(series, now)
        if closed == 0:
            raise NoData(f"{entry.symbol}: the replay has not reached its first bar yet")
        return Decimal(f"{base.close[closed - 1]:.{series.data.price_decimals}f}")

    def status(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for symbol in self._entries:
            series = self._series.get(symbol)
            if series is None:
                out[symbol] = "replay idle (data loads on first request)"
                continue
            now = self._virtual_now(series)
            last_bar = datetime.fromtimestamp(int(series.base.timestamps[-1]), tz=UTC)
            if now >= series.end:
                out[symbol] = f"replay ended at its last bar ({last_bar:%Y-%m-%d %H:%M} UTC)"
            else:
                done = (now - series.start) / (series.end - series.start)
                out[symbol] = (
                    f"replay at {datetime.fromtimestamp(now, tz=UTC):%Y-%m-%d %H:%M} UTC, "
                    f"{done:.0%} of the way to its last bar ({last_bar:%Y-%m-%d %H:%M} UTC)"
                )
        return out


__all__ = ["MIN_BARS", "ReplayMarket"]
