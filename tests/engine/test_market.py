"""Market data: resampling, the replay source's clock, its errors, and the TTL cache."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.market import (
    CachedMarket,
    MarketData,
    MarketError,
    NoData,
    ReplayMarket,
    UnknownSymbol,
    UnknownTimeframe,
    timeframe_seconds,
)
from engine.market.resample import Bars, resample
from engine.models import Candles

DATA = Path(__file__).resolve().parents[2] / "engine" / "market" / "data"
HOUR = 3600


def _frame(name: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA / f"{name}.csv.gz")
    frame.index = pd.to_datetime(frame.pop("timestamp"), utc=True, format="ISO8601")
    return frame


def _bars(frame: pd.DataFrame) -> Bars:
    return Bars(
        timestamps=frame.index.as_unit("s").asi8,
        **{c: frame[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")},
    )


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def btc_5m() -> pd.DataFrame:
    return _frame("BTC_USDT-5m")


# -- resampling ------------------------------------------------------------------------------------------


def test_timeframe_seconds() -> None:
    assert [timeframe_seconds(t) for t in ("5m", "15m", "1h", "4h", "1d")] == [300, 900, 3600, 14400, 86400]
    with pytest.raises(ValueError, match="not a timeframe"):
        timeframe_seconds("1y")


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("BTC_USDT-5m", "15min"),
        ("BTC_USDT-5m", "4h"),
        ("BTC_USDT-5m", "1D"),
        ("EUR_USD-1h", "4h"),
        ("EUR_USD-1h", "1D"),
    ],
)
def test_resample_equals_pandas(name: str, rule: str, btc_5m: pd.DataFrame) -> None:
    frame = btc_5m if name == "BTC_USDT-5m" else _frame(name)
    seconds = int(pd.Timedelta(rule).total_seconds())
    ours = resample(_bars(frame), seconds)
    ref = (
        frame.resample(rule)
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna(subset=["open"])  # closed-market buckets (forex weekends): no bar, as ours
    )
    np.testing.assert_array_equal(ours.timestamps, ref.index.as_unit("s").asi8)
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(ours, column), ref[column].to_numpy(), err_msg=column)
    np.testing.assert_allclose(ours.volume, ref["volume"].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("fine", "coarse", "seconds"),
    [
        ("BTC_USDT-5m", "BTC_USDT-1h", HOUR),
        ("BTC_USDT-5m", "BTC_USDT-1d", 86400),
        ("ETH_USDT-5m", "ETH_USDT-1h", HOUR),
    ],
)
def test_resample_5m_equals_bundled_coarser_file_exactly(
    fine: str, coarse: str, seconds: int, btc_5m: pd.DataFrame
) -> None:
    ref = _bars(_frame(coarse))
    ours = resample(_bars(btc_5m if fine == "BTC_USDT-5m" else _frame(fine)), seconds, volume_decimals=6)
    n = len(ref)  # the 5m file runs a few bars past the coarser one
    assert ours.timestamps[:n].tolist() == ref.timestamps.tolist()
    for column in ("open", "high", "low", "close", "volume"):
        assert getattr(ours, column)[:n].tolist() == getattr(ref, column).tolist(), column


def test_resample_rejects_unsorted() -> None:
    bars = Bars(np.array([7200, 3600]), *(np.ones(2) for _ in range(5)))
    with pytest.raises(ValueError, match="strictly increasing"):
        resample(bars, 3600)


# -- the replay source -----------------------------------------------------------------------------------


def test_is_market_data_and_lists_what_it_has() -> None:
    market = ReplayMarket()
    assert isinstance(market, MarketData)
    assert market.demo is True
    assert set(market.symbols()) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "AAPL", "GOOG", "SPY", "EUR_USD"}
    assert market.timeframes("BTC/USDT") == ["5m", "15m", "1h", "4h", "1d"]
    assert market.timeframes("SOL/USDT") == ["1h", "4h", "1d"]
    assert market.timeframes("EUR_USD") == ["1h", "4h", "1d"]
    assert market.timeframes("AAPL") == ["1d"]


async def test_unknown_symbol_and_timeframe_messages() -> None:
    market = ReplayMarket()
    with pytest.raises(UnknownSymbol) as err:
        await market.fetch_ohlcv("DOGE/USDT", "1h", 200)
    assert str(err.value) == (
        "Unknown symbol DOGE/USDT. Available: AAPL, BTC/USDT, ETH/USDT, EUR_USD, GOOG, SOL/USDT, SPY"
    )
    with pytest.raises(UnknownTimeframe) as tf_err:
        await market.fetch_ohlcv("AAPL", "1h", 200)
    assert str(tf_err.value) == "AAPL has no 1h data in the replay; available: 1d"
    with pytest.raises(
        UnknownTimeframe, match="SOL/USDT has no 15m data in the replay; available: 1h, 4h, 1d"
    ):
        await market.fetch_ohlcv("SOL/USDT", "15m", 200)
    with pytest.raises(MarketError, match="Unknown symbol"):
        await market.last_price("NOPE")
    with pytest.raises(ValueError, match="bars must be a positive integer"):
        await market.fetch_ohlcv("AAPL", "1d", 0)


async def test_default_start_is_500_bars_before_the_end() -> None:
    market = ReplayMarket(clock=FakeClock())
    candles = await market.fetch_ohlcv("btc/usdt", "1h", 200)  # symbols are case-insensitive
    assert isinstance(candles, Candles)
    assert candles.symbol == "BTC/USDT" and candles.timeframe == "1h" and len(candles) == 200
    assert candles.demo is True and "Binance" in candles.source and "2024" in candles.source
    # The 5m data ends with the 04:40 bar, so its last hour closes at 05:00: 500 hourly bars remain.
    start = _epoch("2024-09-06T05:00:00") - 500 * HOUR
    assert market.now("BTC/USDT").timestamp() == start
    assert candles.timestamps[-1] == start - HOUR and not candles.forming
    assert np.all(np.diff(candles.timestamps) == HOUR)
    aapl = await market.fetch_ohlcv("AAPL", "1d", 200)
    assert aapl.timestamps[-1] == _epoch("2016-01-26T00:00:00")  # 500 trading days before the end


async def test_clock_advances_with_real_time_and_advance() -> None:
    clock = FakeClock()
    market = ReplayMarket(start="2024-03-01T10:00:00Z", speed=60, clock=clock)
    first = await market.fetch_ohlcv("BTC/USDT", "1h", 100)
    assert first.timestamps[-1] == _epoch("2024-03-01T09:00:00") and not first.forming
    clock.t += 60  # one real minute = one market hour at speed 60
    later = await market.fetch_ohlcv("BTC/USDT", "1h", 100)
    assert later.timestamps[-1] == _epoch("2024-03-01T10:00:00") and not later.forming
    assert later.timestamps[0] == first.timestamps[1]
    market.advance(2 * HOUR)
    assert market.now("BTC/USDT") == datetime(2024, 3, 1, 13, tzinfo=UTC)
    assert (await market.fetch_ohlcv("BTC/USDT", "1h", 100)).timestamps[-1] == _epoch("2024-03-01T12:00:00")
    with pytest.raises(ValueError):
        market.advance(-1)


async def test_forming_bar_is_built_from_closed_base_bars_only(btc_5m: pd.DataFrame) -> None:
    market = ReplayMarket(start="2024-03-01T10:00:00", speed=0, clock=FakeClock())
    market.advance(32 * 60)  # 10:32: the 10:00..10:25 five-minute bars have closed, 10:30 has not
    hourly = await market.fetch_ohlcv("BTC/USDT", "1h", 100)
    assert hourly.forming is True
    assert hourly.timestamps[-1] == _epoch("2024-03-01T10:00:00")
    part = btc_5m.loc["2024-03-01 10:00":"2024-03-01 10:25"]
    assert len(part) == 6
    assert hourly.open[-1] == part["open"].iloc[0]
    assert hourly.high[-1] == part["high"].max()
    assert hourly.low[-1] == part["low"].min()
    assert hourly.close[-1] == part["close"].iloc[-1]
    assert hourly.volume[-1] == pytest.approx(part["volume"].sum(), rel=1e-12)
    assert await market.last_price("BTC/USDT") == Decimal(f"{part['close'].iloc[-1]:.2f}")
    five = await market.fetch_ohlcv("BTC/USDT", "5m", 100)
    assert five.timestamps[-1] == _epoch("2024-03-01T10:25:00") and not five.forming
    daily = await market.fetch_ohlcv("BTC/USDT", "1d", 60)
    assert daily.forming and daily.timestamps[-1] == _epoch("2024-03-01T00:00:00")
    assert daily.close[-1] == part["close"].iloc[-1]
    # Once the hour is over the bar is complete and equals the bundled 1h file's bar.
    market.advance(28 * 60)
    closed = await market.fetch_ohlcv("BTC/USDT", "1h", 100)
    assert not closed.forming and closed.timestamps[-1] == _epoch("2024-03-01T10:00:00")
    ref = _frame("BTC_USDT-1h").loc["2024-03-01 10:00"]
    assert (closed.open[-1], closed.high[-1], closed.low[-1], closed.close[-1], closed.volume[-1]) == (
        ref["open"],
        ref["high"],
        ref["low"],
        ref["close"],
        ref["volume"],
    )


async def test_returns_what_exists_then_no_data() -> None:
    market = ReplayMarket(start="2024-01-04T00:00:00Z", speed=0, clock=FakeClock())
    candles = await market.fetch_ohlcv("BTC/USDT", "1h", 200)
    assert len(candles) == 72  # three days of history: fewer than asked, but enough to use
    with pytest.raises(NoData, match=r"BTC/USDT 4h: only 18 bars of replay data up to 2024-01-04 00:00 UTC"):
        await market.fetch_ohlcv("BTC/USDT", "4h", 200)
    assert len(await market.fetch_ohlcv("BTC/USDT", "4h", 10)) == 10  # asking for few is fine


async def test_start_string_is_clamped_into_the_data() -> None:
    market = ReplayMarket(start="1990-01-01", speed=0, clock=FakeClock())
    assert market.now("SPY") == datetime(1999, 11, 1, tzinfo=UTC)
    with pytest.raises(NoData, match="has not reached its first bar"):
        await market.last_price("SPY")
    assert ReplayMarket(start="500", speed=0, clock=FakeClock()).now("SPY") == ReplayMarket(
        start=500, speed=0, clock=FakeClock()
    ).now("SPY")
    with pytest.raises(ValueError, match="neither a bar count nor an ISO datetime"):
        ReplayMarket(start="yesterday")


async def test_end_of_data_stops_the_clock_and_status_says_so() -> None:
    clock = FakeClock()
    market = ReplayMarket(start=3, speed=3600, clock=clock)  # one real second = one market hour
    assert market.status()["SOL/USDT"] == "replay idle (data loads on first request)"
    before = await market.fetch_ohlcv("SOL/USDT", "1h", 100)
    assert before.timestamps[-1] == _epoch("2024-09-06T22:00:00")
    assert market.status()["SOL/USDT"].startswith("replay at 2024-09-06 23:00 UTC, 0% of the way")
    assert not market.ended("SOL/USDT")
    clock.t += 10  # ten market hours: past the last bar (2024-09-07 01:00)
    after = await market.fetch_ohlcv("SOL/USDT", "1h", 100)
    assert after.timestamps[-1] == _epoch("2024-09-07T01:00:00") and not after.forming
    assert market.now("SOL/USDT") == datetime(2024, 9, 7, 2, tzinfo=UTC)
    assert market.ended("SOL/USDT")
    assert market.status()["SOL/USDT"] == "replay ended at its last bar (2024-09-07 01:00 UTC)"
    clock.t += 1000
    assert (await market.fetch_ohlcv("SOL/USDT", "1h", 100)).timestamps[-1] == after.timestamps[-1]
    # The last day is incomplete, so its bar stays forming: the data just stops there.
    assert (await market.fetch_ohlcv("SOL/USDT", "1d", 60)).forming


async def test_price_precision_per_market() -> None:
    market = ReplayMarket(clock=FakeClock())
    decimals = {
        s: (await market.fetch_ohlcv(s, "1d", 60)).price_decimals for s in ("BTC/USDT", "EUR_USD", "AAPL")
    }
    assert decimals == {"BTC/USDT": 2, "EUR_USD": 5, "AAPL": 2}
    price = await market.last_price("EUR_USD")
    assert isinstance(price, Decimal) and price.as_tuple().exponent == -5


async def test_custom_data_dir_and_concurrent_first_requests(tmp_path: Path) -> None:
    stamps = pd.date_range("2024-01-01", periods=100, freq="1h", tz="UTC")
    rows = ["timestamp,open,high,low,close,volume"] + [
        f"{t:%Y-%m-%dT%H:%M:%SZ},{i + 1.0},{i + 2.5},{i + 0.5},{i + 1.25},10" for i, t in enumerate(stamps)
    ]
    (tmp_path / "ABC_DEF-1h.csv.gz").write_bytes(gzip.compress("\n".join(rows).encode()))
    (tmp_path / "GBP_USD-1h.csv").write_text("\n".join(rows))
    market = ReplayMarket(start=20, speed=0, clock=FakeClock(), data_dir=tmp_path)
    assert market.symbols() == ["ABC/DEF", "GBP_USD"]
    results = await asyncio.gather(*(market.fetch_ohlcv("ABC/DEF", "1h", 500) for _ in range(5)))
    assert all(len(c) == 80 for c in results)
    assert results[0].source == "replay of bundled candles (2024)" and results[0].price_decimals == 2
    results[0].close[0] = 0  # served arrays are copies: editing one leaves the shared data alone
    assert (await market.fetch_ohlcv("ABC/DEF", "1h", 500)).close[0] == 1.25


# -- the cache -------------------------------------------------------------------------------------------


class CountingMarket:
    name = "fake"
    demo = False

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    def symbols(self) -> list[str]:
        return ["X"]

    def timeframes(self, symbol: str) -> list[str]:
        return ["1h"]

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise NoData("upstream down")
        n = np.arange(bars, dtype=np.float64)
        return Candles(
            symbol=symbol,
            timeframe=timeframe,
            timestamps=n.astype(np.int64),
            open=n,
            high=n,
            low=n,
            close=n + self.calls,
            volume=n,
            source="fake",
        )

    async def last_price(self, symbol: str) -> Decimal:
        return Decimal("1.5")

    def status(self) -> dict[str, str]:
        return {"X": "ok"}


async def test_cache_ttl() -> None:
    inner, clock = CountingMarket(), FakeClock()
    cached = CachedMarket(inner, ttl=60, clock=clock)
    assert isinstance(cached, MarketData)
    first = await cached.fetch_ohlcv("X", "1h", 100)
    assert await cached.fetch_ohlcv("X", "1h", 100) is first
    await cached.fetch_ohlcv("X", "1h", 50)  # a different key
    assert inner.calls == 2
    clock.t += 59.9
    assert await cached.fetch_ohlcv("X", "1h", 100) is first
    clock.t += 0.2
    assert await cached.fetch_ohlcv("X", "1h", 100) is not first
    assert inner.calls == 3
    assert cached.status() == {"X": "ok"} and await cached.last_price("X") == Decimal("1.5")
    assert cached.symbols() == ["X"] and cached.timeframes("X") == ["1h"] and cached.name == "fake"


async def test_cache_shares_one_in_flight_fetch_and_does_not_cache_errors() -> None:
    inner = CountingMarket()
    inner.gate = asyncio.Event()
    cached = CachedMarket(inner, ttl=60, clock=FakeClock())
    waiters = [asyncio.create_task(cached.fetch_ohlcv("X", "1h", 100)) for _ in range(20)]
    await asyncio.sleep(0)
    waiters[0].cancel()  # one caller giving up does not cancel the others' fetch
    inner.gate.set()
    results = await asyncio.gather(*waiters[1:])
    assert inner.calls == 1 and all(r is results[0] for r in results)

    inner.fail = True
    failing = CachedMarket(inner, ttl=60, clock=FakeClock())
    outcomes = await asyncio.gather(
        *(failing.fetch_ohlcv("X", "1h", 10) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, NoData) for o in outcomes) and inner.calls == 2
    inner.fail = False
    assert len(await failing.fetch_ohlcv("X", "1h", 10)) == 10  # the error was not remembered
    assert inner.calls == 3


async def test_cache_ttl_zero_only_shares_in_flight() -> None:
    inner = CountingMarket()
    cached = CachedMarket(inner, ttl=0, clock=FakeClock())
    await cached.fetch_ohlcv("X", "1h", 10)
    await cached.fetch_ohlcv("X", "1h", 10)
    assert inner.calls == 2


# -- bars since a time (the position monitor's exit checks) ----------------------------------------------


def _write_5m(tmp_path: Path, count: int = 60) -> list[tuple[int, float, float, float, float]]:
    """5m bars from 2024-01-01 00:00 UTC: (open time, open, high, low, close), plain arithmetic."""
    start = _epoch("2024-01-01T00:00:00")
    bars = [(start + 300 * i, 100 + i, 100.5 + i, 99.25 + i, 100.75 + i) for i in range(count)]
    rows = ["timestamp,open,high,low,close,volume"] + [
        f"{datetime.fromtimestamp(t, tz=UTC):%Y-%m-%dT%H:%M:%SZ},{o},{h},{lo},{c},5" for t, o, h, lo, c in bars
    ]
    (tmp_path / "ABC_DEF-5m.csv").write_text("\n".join(rows))
    return bars


async def test_replay_bars_since_are_the_closed_base_bars_from_that_time(tmp_path: Path) -> None:
    bars = _write_5m(tmp_path)
    market = ReplayMarket(start="2024-01-01T02:00:00", speed=0, clock=FakeClock(), data_dir=tmp_path)
    assert isinstance(market, MarketData)
    got = await market.bars_since("ABC/DEF", datetime(2024, 1, 1, 1, 30, tzinfo=UTC))
    # 01:30 … 01:55 have closed by 02:00 (the 01:55 bar closes at 02:00 exactly); 02:00 has not started
    want = [b for b in bars if _epoch("2024-01-01T01:30:00") <= b[0] <= _epoch("2024-01-01T01:55:00")]
    assert got.timestamps.tolist() == [b[0] for b in want] and len(want) == 6
    assert got.high.tolist() == [b[2] for b in want] and got.low.tolist() == [b[3] for b in want]
    assert got.open.tolist() == [b[1] for b in want] and got.close.tolist() == [b[4] for b in want]
    assert (got.timeframe, got.forming, got.demo, got.symbol) == ("5m", False, True, "ABC/DEF")
    # a since inside a bar starts at the next bar; a bar still forming is never shown
    market.advance(7 * 60)  # 02:07: the 02:00 bar has closed, the 02:05 bar is forming
    got = await market.bars_since("abc/def", datetime(2024, 1, 1, 1, 57, tzinfo=UTC))
    assert got.timestamps.tolist() == [_epoch("2024-01-01T02:00:00")]
    assert len(await market.bars_since("ABC/DEF", datetime(2024, 1, 1, 2, 5, tzinfo=UTC))) == 0
    with pytest.raises(UnknownSymbol):
        await market.bars_since("NOPE/USDT", datetime(2024, 1, 1, tzinfo=UTC))


async def test_cache_forwards_bars_since_fresh(tmp_path: Path) -> None:
    _write_5m(tmp_path)
    replay = ReplayMarket(start="2024-01-01T02:00:00", speed=0, clock=FakeClock(), data_dir=tmp_path)
    cached = CachedMarket(replay, ttl=60, clock=FakeClock())
    since = datetime(2024, 1, 1, 1, 50, tzinfo=UTC)
    assert len(await cached.bars_since("ABC/DEF", since)) == 2
    replay.advance(600)  # two more bars closed: a cached answer would still say 2
    assert len(await cached.bars_since("ABC/DEF", since)) == 4
    with pytest.raises(NotImplementedError):
        await CachedMarket(CountingMarket(), ttl=60).bars_since("X", since)
