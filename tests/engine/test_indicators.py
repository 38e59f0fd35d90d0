"""Indicators equal TA-Lib (the definition SPEC §2 names) on real bundled candles, NaN positions included,
and match independent textbook implementations of the same definitions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from engine import indicators as ind
from engine.models import Candles

DATA = Path(__file__).resolve().parents[2] / "engine" / "market" / "data"
TOL = 1e-9


def _load(name: str) -> Candles:
    frame = pd.read_csv(DATA / f"{name}.csv.gz")
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601"))
    return Candles(
        symbol=name,
        timeframe=name.rsplit("-", 1)[1],
        timestamps=stamps.as_unit("s").asi8,
        open=frame["open"].to_numpy(np.float64),
        high=frame["high"].to_numpy(np.float64),
        low=frame["low"].to_numpy(np.float64),
        close=frame["close"].to_numpy(np.float64),
        volume=frame["volume"].to_numpy(np.float64),
        source="test",
    )


@pytest.fixture(scope="module", params=["BTC_USDT-1h", "AAPL-1d", "EUR_USD-1h"])
def candles(request: pytest.FixtureRequest) -> Candles:
    return _load(request.param)


def assert_same(ours: np.ndarray, ref: np.ndarray, rtol: float = 0.0, atol: float = TOL) -> None:
    assert ours.shape == ref.shape
    assert ours.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="NaN positions differ")
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, equal_nan=True)


# -- equal to TA-Lib -------------------------------------------------------------------------------------


def test_matches_talib(candles: Candles) -> None:
    c, h, lo, v = candles.close, candles.high, candles.low, candles.volume
    assert_same(ind.sma(c, 20), talib.SMA(c, 20))
    assert_same(ind.sma(c, 50), talib.SMA(c, 50))
    assert_same(ind.ema(c, 12), talib.EMA(c, 12))
    assert_same(ind.ema(c, 26), talib.EMA(c, 26))
    assert_same(ind.rsi(c), talib.RSI(c, 14))
    for ours, ref in zip(ind.macd(c), talib.MACD(c, 12, 26, 9), strict=True):
        assert_same(ours, ref)
    assert_same(ind.atr(h, lo, c), talib.ATR(h, lo, c, 14))
    for ours, ref in zip(ind.bollinger(c), talib.BBANDS(c, 20, 2.0, 2.0, 0), strict=True):
        assert_same(ours, ref)
    assert_same(ind.volume_ratio(v), v / talib.SMA(v, 20))


def test_warm_up_lengths(candles: Candles) -> None:
    def leading_nans(a: np.ndarray) -> int:
        return int(np.argmax(~np.isnan(a)))

    c = candles.close
    assert leading_nans(ind.sma(c, 50)) == 49
    assert leading_nans(ind.ema(c, 12)) == 11
    assert leading_nans(ind.rsi(c, 14)) == 14
    assert all(leading_nans(x) == 26 + 9 - 2 for x in ind.macd(c))
    assert leading_nans(ind.atr(candles.high, candles.low, c, 14)) == 14
    assert all(leading_nans(x) == 19 for x in ind.bollinger(c))
    assert leading_nans(ind.volume_ratio(candles.volume, 20)) == 19
    # After the warm-up every value is defined (real data has no gaps in it).
    assert not np.isnan(ind.rsi(c)[14:]).any()


def test_compute_all(candles: Candles) -> None:
    s = ind.compute_all(candles)
    c = candles.close
    assert len(s) == len(candles)
    assert_same(s.rsi14, talib.RSI(c, 14))
    assert_same(s.macd_hist, talib.MACD(c, 12, 26, 9)[2])
    assert_same(s.sma50, talib.SMA(c, 50))
    snap = s.snapshot()
    assert snap.rsi == pytest.approx(s.rsi14[-1])
    assert snap.bb_lower == pytest.approx(s.bb_lower[-1])
    assert snap.volume_ratio == pytest.approx(s.volume_ratio[-1])


# -- the definitions TA-Lib uses, checked independently -------------------------------------------------


def _ema_loop(x: np.ndarray, period: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    k = 2 / (period + 1)
    out[period - 1] = x[:period].mean()  # seeded with the SMA
    for i in range(period, len(x)):
        out[i] = out[i - 1] + k * (x[i] - out[i - 1])
    return out


def _wilder(values: np.ndarray, period: int, first: int) -> np.ndarray:
    """Wilder smoothing of values[first:], seeded with their simple mean over `period`."""
    out = np.full(len(values), np.nan)
    idx = first + period - 1
    out[idx] = values[first : idx + 1].mean()
    for i in range(idx + 1, len(values)):
        out[i] = (out[i - 1] * (period - 1) + values[i]) / period
    return out


def test_definitions(candles: Candles) -> None:
    c, h, lo, v = candles.close, candles.high, candles.low, candles.volume
    rel = 1e-9
    assert_same(ind.ema(c, 12), _ema_loop(c, 12), rtol=rel, atol=0)

    diff = np.r_[np.nan, np.diff(c)]
    gain = _wilder(np.where(diff > 0, diff, 0.0), 14, 1)
    loss = _wilder(np.where(diff < 0, -diff, 0.0), 14, 1)
    assert_same(ind.rsi(c, 14), 100 * gain / (gain + loss), rtol=rel, atol=0)

    prev = np.r_[np.nan, c[:-1]]
    true_range = np.maximum(h, prev) - np.minimum(lo, prev)
    assert_same(ind.atr(h, lo, c, 14), _wilder(true_range, 14, 1), rtol=rel, atol=0)

    # Bollinger: SMA middle and *population* standard deviation (ddof=0). TA-Lib computes the variance as
    # E[x²] − E[x]², which loses a few digits on prices in the tens of thousands: hence the looser check.
    roll = pd.Series(c).rolling(20)
    mid, sd = roll.mean().to_numpy(), roll.std(ddof=0).to_numpy()
    upper, middle, lower = ind.bollinger(c, 20, 2.0)
    assert_same(middle, mid, rtol=rel, atol=0)
    assert_same(upper, mid + 2 * sd, rtol=1e-7, atol=0)
    assert_same(lower, mid - 2 * sd, rtol=1e-7, atol=0)

    line, signal, hist = ind.macd(c)
    assert_same(hist, line - signal, atol=TOL)
    # TA-Lib seeds the fast EMA on the slow one's first bar, so MACD equals EMA12 − EMA26 only once the
    # seed has decayed (a few hundred bars on), not from bar 33.
    tail = slice(400, None)
    scale = np.nanmax(np.abs(line))
    assert np.nanmax(np.abs(line[tail] - (ind.ema(c, 12) - ind.ema(c, 26))[tail])) < 1e-9 * scale

    ratio = v / pd.Series(v).rolling(20).mean().to_numpy()
    assert_same(ind.volume_ratio(v, 20), ratio, rtol=rel, atol=0)


# -- validation -----------------------------------------------------------------------------------------


def test_accepts_any_numeric_input() -> None:
    ints = list(range(1, 40))
    assert_same(ind.sma(ints, 5), talib.SMA(np.arange(1, 40, dtype=np.float64), 5))
    f32 = np.linspace(1, 2, 40, dtype=np.float32)
    assert_same(ind.ema(f32, 5), talib.EMA(f32.astype(np.float64), 5))
    strided = np.linspace(1, 2, 80)[::2]  # not contiguous: TA-Lib would reject it
    assert_same(ind.rsi(strided, 5), talib.RSI(strided.copy(), 5))
    assert ind.rsi([1.0, 2.0], 14).shape == (2,)
    assert np.isnan(ind.rsi([1.0, 2.0], 14)).all()
    assert ind.sma([], 3).shape == (0,)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ind.sma(np.ones((3, 3)), 2), "close must be a 1-D array"),
        (lambda: ind.sma(5.0, 2), "close must be a 1-D array"),
        (lambda: ind.sma(["a", "b"], 2), "close must be numeric"),
        (lambda: ind.sma(np.ones(5), 0), "period must be between 1 and 100000, got 0"),
        (lambda: ind.ema(np.ones(5), 2.5), "period must be an integer"),
        (lambda: ind.ema(np.ones(5), True), "period must be an integer"),
        (lambda: ind.rsi(np.ones(5), 1), "period must be between 2 and 100000, got 1"),
        (lambda: ind.bollinger(np.ones(5), 1), "period must be between 2 and 100000"),
        (lambda: ind.bollinger(np.ones(5), 20, 0), "k must be a positive number"),
        (lambda: ind.bollinger(np.ones(5), 20, float("nan")), "k must be a positive number"),
        (lambda: ind.macd(np.ones(5), 26, 12), "fast must be smaller than slow, got fast=26, slow=12"),
        (lambda: ind.macd(np.ones(5), 1, 12), "fast must be between 2 and 100000"),
        (lambda: ind.macd(np.ones(5), 12, 26, 0), "signal must be between 1 and 100000"),
        (lambda: ind.atr(np.ones(5), np.ones(4), np.ones(5)), "same length, got high=5, low=4, close=5"),
        (lambda: ind.volume_ratio(np.ones(5), 0), "period must be between 1 and 100000"),
    ],
)
def test_validation(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


def test_volume_ratio_guards_zero_volume() -> None:
    volume = np.array([0.0, 0.0, 0.0, 4.0, 2.0])
    ratio = ind.volume_ratio(volume, 2)
    assert np.isnan(ratio[:3]).all()  # warm-up, then a zero mean: NaN, not inf
    assert ratio[3:].tolist() == [2.0, 2.0 / 3.0]
    assert ind.volume_ratio(np.array([3.0, 0.0]), 1).tolist()[0] == 1.0
    assert np.isnan(ind.volume_ratio(np.array([3.0, 0.0]), 1)[1])


def test_compute_all_rejects_ragged_candles() -> None:
    good = np.linspace(1, 2, 100)
    candles = Candles(
        symbol="X",
        timeframe="1h",
        timestamps=np.arange(100, dtype=np.int64) * 3600,
        open=good,
        high=good,
        low=good,
        close=good,
        volume=good[:99],
        source="test",
    )
    with pytest.raises(ValueError, match="same length"):
        ind.compute_all(candles)
