"""Indicators against an independent reference: plain-Python loops written from the definitions the module
documents (TA-Lib's: SMA, EMA seeded with the SMA, Wilder RSI and ATR, MACD with TA-Lib's seeding, Bollinger
with the population deviation), run on the bundled real candles with NaN positions checked, and small series
computed by hand. The wrapper calls TA-Lib; nothing here does, so a wrong parameter, a swapped argument or a
changed definition fails."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import indicators as ind
from engine.models import Candles

DATA = Path(__file__).resolve().parents[2] / "engine" / "market" / "data"
NAN = math.nan
REL = 1e-9  # relative: the loops add in another order than TA-Lib's C


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


# ---- the reference: one bar at a time, Python floats, no numpy, no TA-Lib ---------------------------------


def ref_sma(x: Sequence[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    for i in range(n - 1, len(x)):
        total = 0.0
        for j in range(i - n + 1, i + 1):
            total += x[j]
        out[i] = total / n
    return out


def ref_ema(x: Sequence[float], n: int, start: int = 0) -> list[float]:
    """EMA of x[start:]: the mean of its first n values at index start + n − 1, then k = 2 / (n + 1)."""
    out = [NAN] * len(x)
    seed = start + n - 1
    if seed >= len(x):
        return out
    out[seed] = sum(x[start : seed + 1]) / n  # sum() starts at int 0: exact on Fractions too
    k = type(x[seed])(2) / (n + 1)
    for i in range(seed + 1, len(x)):
        out[i] = out[i - 1] + k * (x[i] - out[i - 1])
    return out


def ref_wilder(values: Sequence[float], n: int, first: int) -> list[float]:
    """Wilder smoothing of values[first:]: their mean over n bars, then (prev · (n − 1) + value) / n."""
    out = [NAN] * len(values)
    seed = first + n - 1
    if seed >= len(values):
        return out
    total = 0.0
    for j in range(first, seed + 1):
        total += values[j]
    out[seed] = total / n
    for i in range(seed + 1, len(values)):
        out[i] = (out[i - 1] * (n - 1) + values[i]) / n
    return out


def ref_rsi(c: Sequence[float], n: int = 14) -> list[float]:
    gains, losses = [NAN] * len(c), [NAN] * len(c)
    for i in range(1, len(c)):
        change = c[i] - c[i - 1]
        gains[i] = change if change > 0 else 0.0
        losses[i] = -change if change < 0 else 0.0
    gain, loss = ref_wilder(gains, n, 1), ref_wilder(losses, n, 1)
    out = [NAN] * len(c)
    for i in range(n, len(c)):
        out[i] = 100 * gain[i] / (gain[i] + loss[i]) if gain[i] + loss[i] else 0.0
    return out


def ref_atr(h: Sequence[float], lo: Sequence[float], c: Sequence[float], n: int = 14) -> list[float]:
    true_range = [NAN] * len(c)
    for i in range(1, len(c)):
        true_range[i] = max(h[i], c[i - 1]) - min(lo[i], c[i - 1])
    return ref_wilder(true_range, n, 1)


def ref_macd(c: Sequence[float], fast: int = 12, slow: int = 26,
             signal: int = 9) -> tuple[list[float], list[float], list[float]]:
    """TA-Lib's MACD: both EMAs start on the slow one's first bar (the fast one seeded with the mean of the
    `fast` closes ending there), the signal is an SMA-seeded EMA of the line, and all three outputs begin
    where the signal does."""
    slow_ema = ref_ema(c, slow)
    fast_ema = ref_ema(c, fast, start=slow - fast)
    line = [NAN] * len(c)
    for i in range(slow - 1, len(c)):
        line[i] = fast_ema[i] - slow_ema[i]
    sig = ref_ema(line, signal, start=slow - 1)
    begin = slow + signal - 2
    line_out = [v if i >= begin else NAN for i, v in enumerate(line)]
    hist = [line_out[i] - sig[i] for i in range(len(c))]
    return line_out, sig, hist


def ref_bollinger(c: Sequence[float], n: int = 20, k: float = 2.0) -> tuple[list[float], list[float], list[float]]:
    upper, middle, lower = [NAN] * len(c), ref_sma(c, n), [NAN] * len(c)
    for i in range(n - 1, len(c)):
        mean = middle[i]
        var = 0.0
        for j in range(i - n + 1, i + 1):
            var += (c[j] - mean) ** 2
        sd = math.sqrt(var / n)  # population: divided by n
        upper[i], lower[i] = mean + k * sd, mean - k * sd
    return upper, middle, lower


def ref_volume_ratio(v: Sequence[float], n: int = 20) -> list[float]:
    mean = ref_sma(v, n)
    return [v[i] / mean[i] if mean[i] == mean[i] and mean[i] != 0 else NAN for i in range(len(v))]


def assert_same(ours: np.ndarray, ref: Sequence[float], rtol: float = REL, atol: float = 0.0) -> None:
    expected = np.array(ref, dtype=np.float64)
    assert ours.shape == expected.shape
    assert ours.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected), err_msg="NaN positions differ")
    np.testing.assert_allclose(ours, expected, rtol=rtol, atol=atol, equal_nan=True)


# ---- the reference itself, on series small enough to compute by hand ---------------------------------------


def test_reference_and_indicators_on_hand_computed_series() -> None:
    # SMA(3) of 1..5; EMA(3): seed mean(1, 2, 3) = 2, k = 1/2 → 3, 4.
    assert ref_sma([1, 2, 3, 4, 5], 3)[2:] == [2, 3, 4]
    assert ref_ema([1, 2, 4, 8, 16], 3)[2:] == pytest.approx([7 / 3, 31 / 6, 127 / 12], rel=1e-15)
    assert_same(ind.ema([1.0, 2, 4, 8, 16], 3), [NAN, NAN, 7 / 3, 31 / 6, 127 / 12])

    # RSI(2) of 10, 11, 10.5, 11.5: changes +1, −0.5, +1. Seed: gain 0.5, loss 0.25 → 66.67; then gain
    # (0.5 + 1) / 2 = 0.75, loss 0.25 / 2 = 0.125 → 85.71.
    rsi = [NAN, NAN, 100 * 0.5 / 0.75, 100 * 0.75 / 0.875]
    assert ref_rsi([10, 11, 10.5, 11.5], 2) == pytest.approx(rsi, nan_ok=True)
    assert_same(ind.rsi([10.0, 11, 10.5, 11.5], 2), rsi)

    # ATR(2): true ranges 2, 1, 2.5 from bar 1 → seed (2 + 1) / 2 = 1.5, then (1.5 + 2.5) / 2 = 2.
    h, lo, c = [11.0, 12, 11, 13], [9.0, 10, 10, 11], [10.0, 11, 10.5, 12]
    assert ref_atr(h, lo, c, 2) == pytest.approx([NAN, NAN, 1.5, 2.0], nan_ok=True)
    assert_same(ind.atr(h, lo, c, 2), [NAN, NAN, 1.5, 2.0])

    # Bollinger(3, 2) of 1, 2, 3: middle 2, population sd sqrt(2/3).
    sd = math.sqrt(2 / 3)
    assert_same(ind.bollinger([1.0, 2, 3], 3, 2.0)[0], [NAN, NAN, 2 + 2 * sd])

    # MACD(2, 3, 2) of 1, 2, 4, 8, 16, 32, exactly (fractions): slow EMA (k = 1/2) seeded at bar 2 with
    # 7/3; fast EMA (k = 2/3) seeded at bar 2 with mean(2, 4) = 3 (not at bar 1: TA-Lib's seeding).
    closes = [Fraction(x) for x in (1, 2, 4, 8, 16, 32)]
    line = {2: Fraction(2, 3), 3: Fraction(7, 6), 4: Fraction(79, 36), 5: Fraction(929, 216)}
    signal = {3: Fraction(11, 12), 4: Fraction(191, 108), 5: Fraction(280, 81)}
    ref_line, ref_signal, _ = ref_macd(closes, 2, 3, 2)  # type: ignore[arg-type]
    assert [ref_line[i] for i in (3, 4, 5)] == [line[i] for i in (3, 4, 5)]
    assert [ref_signal[i] for i in (3, 4, 5)] == [signal[i] for i in (3, 4, 5)]
    ours = ind.macd([float(x) for x in closes], 2, 3, 2)
    assert_same(ours[0], [NAN] * 3 + [float(line[i]) for i in (3, 4, 5)])
    assert_same(ours[1], [NAN] * 3 + [float(signal[i]) for i in (3, 4, 5)])
    assert_same(ours[2], [NAN] * 3 + [float(line[i] - signal[i]) for i in (3, 4, 5)], atol=1e-12)


# ---- on the bundled candles ------------------------------------------------------------------------------


def test_matches_the_reference(candles: Candles) -> None:
    c, h, lo, v = (candles.close.tolist(), candles.high.tolist(), candles.low.tolist(),
                   candles.volume.tolist())
    assert_same(ind.sma(candles.close, 20), ref_sma(c, 20))
    assert_same(ind.sma(candles.close, 50), ref_sma(c, 50))
    assert_same(ind.ema(candles.close, 12), ref_ema(c, 12))
    assert_same(ind.ema(candles.close, 26), ref_ema(c, 26))
    assert_same(ind.rsi(candles.close), ref_rsi(c, 14))
    assert_same(ind.atr(candles.high, candles.low, candles.close), ref_atr(h, lo, c, 14))
    line, signal, hist = ind.macd(candles.close)
    ref_line, ref_signal, ref_hist = ref_macd(c)
    scale = float(np.nanmax(np.abs(line)))  # the histogram crosses zero: compare it on the line's scale
    assert_same(line, ref_line, rtol=REL, atol=REL * scale)
    assert_same(signal, ref_signal, rtol=REL, atol=REL * scale)
    assert_same(hist, ref_hist, rtol=0, atol=REL * scale)
    upper, middle, lower = ind.bollinger(candles.close)
    ref_upper, ref_middle, ref_lower = ref_bollinger(c)
    assert_same(middle, ref_middle)
    # TA-Lib takes the variance as E[x²] − E[x]², which loses a few digits on prices in the tens of
    # thousands; the reference sums squared deviations: hence 1e-7 on the bands.
    assert_same(upper, ref_upper, rtol=1e-7)
    assert_same(lower, ref_lower, rtol=1e-7)
    assert_same(ind.volume_ratio(candles.volume), ref_volume_ratio(v, 20))


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
    c = candles.close.tolist()
    assert len(s) == len(candles)
    assert_same(s.rsi14, ref_rsi(c, 14))
    assert_same(s.ema12, ref_ema(c, 12))
    assert_same(s.ema26, ref_ema(c, 26))
    assert_same(s.sma20, ref_sma(c, 20))
    assert_same(s.sma50, ref_sma(c, 50))
    assert_same(s.atr14, ref_atr(candles.high.tolist(), candles.low.tolist(), c, 14))
    scale = float(np.nanmax(np.abs(s.macd)))
    assert_same(s.macd_hist, ref_macd(c)[2], rtol=0, atol=REL * scale)
    assert_same(s.bb_middle, ref_sma(c, 20))
    assert_same(s.volume_ratio, ref_volume_ratio(candles.volume.tolist(), 20))
    snap = s.snapshot()
    assert snap.rsi == pytest.approx(ref_rsi(c, 14)[-1], rel=REL)
    assert snap.sma_50 == pytest.approx(ref_sma(c, 50)[-1], rel=REL)
    assert snap.bb_lower == pytest.approx(ref_bollinger(c)[2][-1], rel=1e-7)
    assert snap.volume_ratio == pytest.approx(s.volume_ratio[-1])


# -- validation -----------------------------------------------------------------------------------------


def test_accepts_any_numeric_input() -> None:
    ints = list(range(1, 40))
    assert_same(ind.sma(ints, 5), ref_sma([float(i) for i in ints], 5))
    f32 = np.linspace(1, 2, 40, dtype=np.float32)
    assert_same(ind.ema(f32, 5), ref_ema(f32.astype(np.float64).tolist(), 5))
    strided = np.linspace(1, 2, 80)[::2]  # not contiguous: TA-Lib would reject it
    assert_same(ind.rsi(strided, 5), ref_rsi(strided.tolist(), 5))
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
