"""The backtest engine (issue 11): trades on a hand-computed series, the same trades as a plain bar-by-bar loop
through the paper broker on the bundled BTC/USDT 1h candles, the same exits as the position monitor's
decide(), buy & hold against the candle file, the metrics on scripted trades, and the random baseline."""

from __future__ import annotations

import asyncio
import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import indicators
from engine.backtest import Trades, run_backtest
from engine.backtest.exits import REASON_END, REASON_EXPIRY, REASON_SL, REASON_TP, TickBars, follow
from engine.backtest.fills import level_ticks, price_ticks
from engine.backtest.metrics import metrics
from engine.brokers.base import ExitTrigger, OrderRequest, Side
from engine.brokers.paper import PaperBroker, pnl
from engine.market.replay import ReplayMarket
from engine.models import Candles, Recommendation
from engine.positions import EXIT_NONE, EXIT_STOP, EXIT_TARGET, ExitBook, TickDecisions, Window, decide
from engine.risk import stop_levels
from engine.strategies.base import BUY, HOLD, SELL, Decisions

DATA = Path(__file__).resolve().parents[2] / "engine" / "market" / "data"
T0 = 1_709_251_200  # 2024-03-01 00:00 UTC
FEE, SLIP = D("0.1"), D("0.05")
f = 0.001  # FEE as a fraction

# ---- a small series computed by hand --------------------------------------------------------------------
# fee 0.1 %, slippage 0.05 %, tick 0.01, ttl 3 bars. Columns: open, high, low, close, decision, stop, target.
HAND = [
    (99.80, 100.20, 99.60, 100.00, BUY, 98.00, 103.00),  # 0: long, entry 100×1.0005 = 100.05
    (100.10, 101.50, 99.50, 101.00, SELL, 103.00, 97.00),  # 1: in a position: ignored
    (101.00, 103.20, 100.80, 102.50, SELL, 104.00, 99.00),  # 2: TP 103 touched → 103.00; flat at the close:
    #                                                          short at 102.50×0.9995 = 102.44875 → 102.44
    (102.60, 104.10, 102.00, 103.80, HOLD, None, None),  # 3: stop 104 touched → buy 104×1.0005 = 104.052 → 104.06
    (103.80, 104.20, 103.50, 104.00, BUY, 102.00, 108.00),  # 4: long at 104×1.0005 = 104.052 → 104.06
    (101.00, 101.50, 100.50, 101.20, HOLD, None, None),  # 5: opens at 101 below the stop 102: sell from 101.00,
    #                                                        101×0.9995 = 100.9495 → 100.94
    (101.20, 101.30, 99.80, 100.00, SELL, 103.00, 95.00),  # 6: short at 100×0.9995 = 99.95
    (100.00, 101.00, 99.00, 99.50, HOLD, None, None),  # 7
    (99.50, 100.50, 98.00, 98.50, BUY, 97.00, 102.00),  # 8: in a position: ignored
    (98.50, 99.00, 97.00, 97.50, HOLD, None, None),  # 9: 6 + 3: expires at the close, buy 97.5×1.0005 =
    #                                                    97.54875 → 97.55
    (97.50, 100.50, 97.40, 100.00, BUY, 99.00, 101.00),  # 10: long at 100.05
    (100.00, 101.50, 98.50, 100.00, HOLD, None, None),  # 11: stop 99 and target 101 both inside: the stop,
    #                                                       sell 99×0.9995 = 98.9505 → 98.95
    (100.00, 100.40, 99.70, 100.00, SELL, 102.00, 98.00),  # 12: short at 99.95
    (97.00, 97.80, 96.50, 97.20, HOLD, None, None),  # 13: opens at 97 beyond the target 98: a limit at 97.00
    (97.20, 97.80, 97.00, 97.50, BUY, 95.00, 100.00),  # 14: long at 97.54875 → 97.55
    (97.50, 98.00, 97.10, 97.90, SELL, 99.00, 96.00),  # 15: the last bar: the long ends at 97.9×0.9995 =
    #                                                      97.85105 → 97.85; the SELL opens nothing
]
# (entry bar, exit bar, side, entry, exit, reason, gross, net) with net = (±(exit−entry) − f·(entry+exit))/entry
HAND_TRADES = [
    (0, 2, Side.LONG, "100.05", "103.00", "tp", F("2.95") / F("100.05"), F("2.74695") / F("100.05")),
    (2, 3, Side.SHORT, "102.44", "104.06", "sl", F("-1.62") / F("102.44"), F("-1.8265") / F("102.44")),
    (4, 5, Side.LONG, "104.06", "100.94", "sl", F("-3.12") / F("104.06"), F("-3.325") / F("104.06")),
    (6, 9, Side.SHORT, "99.95", "97.55", "expiry", F("2.40") / F("99.95"), F("2.2025") / F("99.95")),
    (10, 11, Side.LONG, "100.05", "98.95", "sl", F("-1.10") / F("100.05"), F("-1.299") / F("100.05")),
    (12, 13, Side.SHORT, "99.95", "97.00", "tp", F("2.95") / F("99.95"), F("2.75305") / F("99.95")),
    (14, 15, Side.LONG, "97.55", "97.85", "end", F("0.30") / F("97.55"), F("0.1046") / F("97.55")),
]


def hand_candles() -> tuple[Candles, Decisions]:
    o, h, lo, c, side, sl, tp = (list(col) for col in zip(*HAND, strict=True))
    n = len(HAND)
    candles = Candles(symbol="TEST/USDT", timeframe="1h", timestamps=T0 + 3600 * np.arange(n, dtype=np.int64),
                      open=np.array(o), high=np.array(h), low=np.array(lo), close=np.array(c), volume=np.ones(n),
                      source="hand-written", price_decimals=2)
    nan = [np.nan if v is None else v for v in sl], [np.nan if v is None else v for v in tp]
    decisions = Decisions(side=np.array(side, np.int8), score=np.zeros(n), stop_loss=np.array(nan[0]),
                          take_profit=np.array(nan[1]), first=0)
    return candles, decisions


def test_hand_series_every_trade_price_and_return() -> None:
    candles, decisions = hand_candles()
    result = run_backtest(candles, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=3, seed=1)
    got = [(t.entry_bar, t.exit_bar, t.side, t.entry_price, t.exit_price, t.reason) for t in result.trades.rows()]
    assert got == [(e, x, s, D(ep), D(xp), r) for e, x, s, ep, xp, r, _, _ in HAND_TRADES]
    for trade, (*_, gross, net) in zip(result.trades.rows(), HAND_TRADES, strict=True):
        assert trade.gross_return == pytest.approx(float(gross), abs=1e-15)
        assert trade.net_return == pytest.approx(float(net), abs=1e-15)
    rows = result.trades.rows()
    assert (rows[0].stop_loss, rows[0].take_profit) == (D("98.00"), D("103.00"))
    assert rows[0].entry_time == datetime(2024, 3, 1, 0, tzinfo=UTC)
    assert rows[-1].exit_time == datetime(2024, 3, 1, 15, tzinfo=UTC)
    # the period, buy & hold (97.90 / 100.00 − 1) and the decisions seen
    assert (result.first_time, result.last_time) == (datetime(2024, 3, 1, 0, tzinfo=UTC),
                                                     datetime(2024, 3, 1, 15, tzinfo=UTC))
    assert result.buy_and_hold == pytest.approx(97.90 / 100.00 - 1, abs=1e-15)
    assert (result.signals_buy, result.signals_sell) == (5, 5)  # BUY at 0 4 8 10 14, SELL at 1 2 6 12 15


def test_hand_series_equity_curve_and_metrics() -> None:
    candles, decisions = hand_candles()
    result = run_backtest(candles, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=3, seed=1)
    nets = [float(t[7]) for t in HAND_TRADES]
    eq = result.equity
    # bar 0: the long opened at 100.05 marked at the close 100.00, entry fee paid
    assert eq[0] == pytest.approx(1 + (100.00 - 100.05) / 100.05 - f, abs=1e-14)
    assert eq[1] == pytest.approx(1 + (101.00 - 100.05) / 100.05 - f, abs=1e-14)
    # bar 2: the long booked, the short opened at 102.44 marked at 102.50
    assert eq[2] == pytest.approx((1 + nets[0]) * (1 + (102.44 - 102.50) / 102.44 - f), abs=1e-14)
    assert eq[3] == pytest.approx((1 + nets[0]) * (1 + nets[1]), abs=1e-14)
    assert eq[7] == pytest.approx(math.prod(1 + r for r in nets[:3]) * (1 + (99.95 - 99.50) / 99.95 - f), abs=1e-14)
    assert eq[15] == pytest.approx(math.prod(1 + r for r in nets), abs=1e-14)
    m = result.metrics
    assert (m.trades, m.longs, m.shorts) == (7, 4, 3)
    assert (m.take_profits, m.stop_losses, m.expiries, m.ended) == (2, 3, 1, 1)
    assert m.hit_rate == pytest.approx(2 / 5)  # TP before SL: 2 of the 5 that ended at either
    assert m.win_rate == pytest.approx(4 / 7)  # trades 1, 4, 6, 7
    assert m.total_return == pytest.approx(math.prod(1 + r for r in nets) - 1, abs=1e-14)
    # held bars: 2 + 1 + 1 + 3 + 1 + 1 + 1 = 10 of 16
    assert m.exposure == pytest.approx(10 / 16)
    assert (result.long.trades, result.short.trades) == (4, 3)


# ---- the paper broker and a plain loop on real candles --------------------------------------------------


@pytest.fixture(scope="module")
def btc_1h() -> Candles:
    async def load() -> Candles:
        candles = await ReplayMarket(start=0, speed=0).fetch_ohlcv("BTC/USDT", "1h", 1_000_000)
        return candles

    candles = asyncio.run(load())
    closed = len(candles) - 1 if candles.forming else len(candles)  # a backtest reads closed bars
    return candles.model_copy(update={name: getattr(candles, name)[:closed].copy() for name in
                                      ("timestamps", "open", "high", "low", "close", "volume")} | {"forming": False})


def rsi_cross_decisions(candles: Candles, sl_atr: float = 2.0, tp_atr: float = 3.0) -> Decisions:
    """BUY when RSI(14) crosses up through 30, SELL when it crosses down through 70; levels as engine.risk
    sets a tip's (close ∓ k·ATR rounded to the tick)."""
    rsi = indicators.rsi(candles.close, 14)
    atr = indicators.atr(candles.high, candles.low, candles.close, 14)
    n = len(candles)
    side = np.zeros(n, np.int8)
    stop, target = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(15, n):
        rec = None
        if rsi[i - 1] < 30 <= rsi[i]:
            rec, side[i] = Recommendation.BUY, BUY
        elif rsi[i - 1] > 70 >= rsi[i]:
            rec, side[i] = Recommendation.SELL, SELL
        if rec is not None:
            sl, tp = stop_levels(rec, float(candles.close[i]), float(atr[i]), sl_atr, tp_atr, candles.price_decimals)
            stop[i], target[i] = float(sl), float(tp)
    return Decisions(side=side, score=np.zeros(n), stop_loss=stop, take_profit=target, first=15)


@dataclass
class Ref:
    entry_bar: int
    side: Side
    stop: D | None
    target: D | None
    entry: D
    quantity: D
    entry_fee: D
    exit_bar: int = -1
    exit: D | None = None
    reason: str = ""
    net: float = 0.0


async def reference_loop(candles: Candles, side: np.ndarray, stops: np.ndarray, targets: np.ndarray, start: int,
                         end: int, ttl: int) -> list[Ref]:
    """The rule written the slow, obvious way: bar by bar in Decimal, every fill by the paper broker."""
    d = candles.price_decimals
    tick = D(1).scaleb(-d)

    def px(value: float) -> D:
        return D(repr(float(value))).quantize(tick)

    market: dict[str, D] = {}

    async def price_of(symbol: str) -> D:
        return market["now"]

    broker = PaperBroker(price_of, FEE, SLIP)
    done: list[Ref] = []
    open_: Ref | None = None
    quantity = D(1000)  # large, so the fee's rounding to 8 dp is below the comparison's tolerance
    for i in range(start, end + 1):
        o, h, lo, c = (px(candles.open[i]), px(candles.high[i]), px(candles.low[i]), px(candles.close[i]))
        if open_ is not None:
            trigger, reason = None, ""
            long = open_.side is Side.LONG
            s, t = open_.stop, open_.target
            if s is not None and (lo <= s if long else h >= s):
                trigger, reason = ExitTrigger(kind="stop", price=min(o, s) if long else max(o, s)), "sl"
            elif t is not None and (h >= t if long else lo <= t):
                trigger, reason = ExitTrigger(kind="limit", price=max(o, t) if long else min(o, t)), "tp"
            elif i == open_.entry_bar + ttl:
                reason = "expiry"
            elif i == end:
                reason = "end"
            if reason:
                market["now"] = c
                fill = await broker.submit(OrderRequest(
                    client_order_id=f"x{i}", symbol=candles.symbol, side=open_.side, quantity=quantity,
                    price=c, closing=True, price_decimals=d, trigger=trigger))
                _, net = pnl(open_.side, open_.entry, fill.price, quantity, open_.entry_fee + fill.fee)
                open_.exit_bar, open_.exit, open_.reason = i, fill.price, reason
                open_.net = float(net / (quantity * open_.entry))
                done.append(open_)
                open_ = None
        if open_ is None and i < end and side[i] in (BUY, SELL):
            market["now"] = c
            trade_side = Side.LONG if side[i] == BUY else Side.SHORT
            fill = await broker.submit(OrderRequest(client_order_id=f"e{i}", symbol=candles.symbol, side=trade_side,
                                                    quantity=quantity, price=c, price_decimals=d))
            open_ = Ref(entry_bar=i, side=trade_side,
                        stop=None if np.isnan(stops[i]) else px(stops[i]),
                        target=None if np.isnan(targets[i]) else px(targets[i]),
                        entry=fill.price, quantity=quantity, entry_fee=fill.fee)
    return done


def as_tuples(refs: list[Ref]) -> list[tuple[int, int, Side, D, D | None, str]]:
    return [(r.entry_bar, r.exit_bar, r.side, r.entry, r.exit, r.reason) for r in refs]


def engine_tuples(trades: Trades) -> list[tuple[int, int, Side, D, D | None, str]]:
    return [(t.entry_bar, t.exit_bar, t.side, t.entry_price, t.exit_price, t.reason) for t in trades.rows()]


@pytest.mark.parametrize("ttl", [24, 6, 100])
async def test_same_trades_as_a_plain_loop_through_the_paper_broker(btc_1h: Candles, ttl: int) -> None:
    decisions = rsi_cross_decisions(btc_1h)
    start, end = 500, len(btc_1h) - 1
    result = run_backtest(btc_1h, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=ttl, start=start)
    refs = await reference_loop(btc_1h, decisions.side, decisions.stop_loss, decisions.take_profit, start, end, ttl)
    assert len(refs) > 60  # a real test: many trades, every kind of exit (a 100-bar tip always meets a level)
    assert {r.reason for r in refs} >= ({"tp", "sl"} if ttl == 100 else {"tp", "sl", "expiry"})
    assert engine_tuples(result.trades) == as_tuples(refs)
    assert result.trades.net_return == pytest.approx([r.net for r in refs], abs=1e-10)


async def test_period_starts_where_asked_and_never_before_the_warm_up(btc_1h: Candles) -> None:
    decisions = rsi_cross_decisions(btc_1h)
    result = run_backtest(btc_1h, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=24, start=3000, end=4000)
    refs = await reference_loop(btc_1h, decisions.side, decisions.stop_loss, decisions.take_profit, 3000, 4000, 24)
    assert engine_tuples(result.trades) == as_tuples(refs)
    assert result.trades.entry_bar.min() >= 3000 and result.trades.exit_bar.max() <= 4000
    assert len(result.equity) == 1001
    with pytest.raises(ValueError, match="warmed-up"):
        run_backtest(btc_1h, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=24, start=14)
    with pytest.raises(ValueError, match="forming"):
        run_backtest(btc_1h.model_copy(update={"forming": True}), decisions, fee_pct=FEE, slippage_pct=SLIP,
                     ttl_bars=24)


def test_no_decision_no_trade_and_bad_costs_refused() -> None:
    candles, decisions = hand_candles()
    holding = Decisions(side=np.zeros(len(candles), np.int8), score=np.zeros(len(candles)),
                        stop_loss=np.full(len(candles), np.nan), take_profit=np.full(len(candles), np.nan), first=2)
    result = run_backtest(candles, holding, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=3)
    assert len(result.trades) == 0 and result.trades.rows() == []
    assert result.equity.tolist() == [1.0] * 14 and result.metrics.total_return == 0.0
    assert (len(result.baseline.long.trades), len(result.baseline.short.trades)) == (0, 0)
    assert result.buy_and_hold == pytest.approx(97.90 / 102.50 - 1)  # from bar 2, the first warmed-up one
    with pytest.raises(ValueError, match="percentages"):
        run_backtest(candles, decisions, fee_pct=FEE, slippage_pct="-0.05", ttl_bars=3)
    with pytest.raises(ValueError, match="ttl"):
        run_backtest(candles, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=0)


def test_buy_and_hold_against_the_candle_file(btc_1h: Candles) -> None:
    # the bundled 1h file read directly (the replay resamples 5m bars; the file is the independent reference)
    frame = pd.read_csv(DATA / "BTC_USDT-1h.csv.gz")
    closes = dict(zip(pd.to_datetime(frame["timestamp"], utc=True), frame["close"], strict=True))
    decisions = rsi_cross_decisions(btc_1h)
    for start, end in ((15, len(btc_1h) - 1), (2000, 2999)):
        result = run_backtest(btc_1h, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=24, start=start, end=end)
        first, last = closes[pd.Timestamp(result.first_time)], closes[pd.Timestamp(result.last_time)]
        assert result.buy_and_hold == pytest.approx(last / first - 1, abs=1e-12)
    assert result.first_time == datetime.fromtimestamp(int(btc_1h.timestamps[2000]), tz=UTC)


@pytest.mark.parametrize("series", ["hand", "btc"])
def test_exits_are_the_position_monitors(btc_1h: Candles, series: str) -> None:
    """Every entry (each BUY/SELL bar, in a position or not) followed by follow() and by engine.positions.decide
    (the live monitor; trailing off): the same stop/target, filled from the same price (gaps included: the
    hand series has both kinds), on the same bar (no exit on the bars before it)."""
    if series == "hand":
        candles, decisions, ttl = *hand_candles(), 3
    else:
        candles, decisions, ttl = btc_1h, rsi_cross_decisions(btc_1h), 24
    d = candles.price_decimals
    bars = TickBars(*(price_ticks(getattr(candles, k), d) for k in ("open", "high", "low", "close")), decimals=d)
    entry = np.flatnonzero(decisions.side != HOLD)
    long = decisions.side[entry] == BUY
    stop, has_stop = level_ticks(decisions.stop_loss[entry], d, up=~long)
    target, has_target = level_ticks(decisions.take_profit[entry], d, up=long)
    end = len(candles) - 1
    exits = follow(bars, entry, long, stop, has_stop, target, has_target, ttl=ttl, end=end)
    assert set(exits.reason.tolist()) >= {REASON_TP, REASON_SL, REASON_EXPIRY}

    def monitor(upto: np.ndarray) -> TickDecisions:
        n = len(entry)
        index = np.minimum(entry[:, None] + np.arange(1, ttl + 1), end)
        valid = (entry[:, None] + np.arange(1, ttl + 1)) <= upto[:, None]
        z, no = np.zeros(n, np.int64), np.zeros(n, bool)
        entry_t = bars.close[entry]
        book = ExitBook(ids=np.arange(n), symbols=[candles.symbol] * n, is_long=long, decimals=np.full(n, d),
                        start=np.zeros(n), entry=entry_t / 100.0, target=np.full(n, np.nan), entry_t=entry_t,
                        stop_t=stop, has_stop=has_stop, target_t=target, has_target=has_target, extreme_t=entry_t,
                        trail_active=no, last_alert_pnl=np.zeros(n), near_sent=~no)
        window = Window(bars.open[index], bars.high[index], bars.low[index], valid, z, z, z, no, np.full(n, np.nan),
                        z, no, no)
        # a 100 % trail (level 0 for a long) that activates at +1000 %: the trail can never fire
        return decide(book, window, 100.0, 1000.0, 0.0, 1e9)

    through = monitor(exits.bar)
    hit = np.isin(exits.reason, [REASON_TP, REASON_SL])
    expected_code = np.where(exits.reason == REASON_SL, EXIT_STOP, np.where(exits.reason == REASON_TP, EXIT_TARGET,
                                                                             EXIT_NONE))
    assert through.exit_code.tolist() == expected_code.tolist()
    assert through.fill_t[hit].tolist() == exits.trigger[hit].tolist()
    before = monitor(exits.bar - 1)
    assert (before.exit_code == EXIT_NONE).all()


# ---- metrics on scripted trades -------------------------------------------------------------------------


def scripted(returns: list[float], reasons: list[int], bars: list[tuple[int, int]], long: list[bool]) -> Trades:
    n = len(returns)
    entry = np.array([b[0] for b in bars], np.int64)
    exit_ = np.array([b[1] for b in bars], np.int64)
    ones = np.ones(n, np.int64)
    return Trades(entry_bar=entry, exit_bar=exit_, entry_time=entry, exit_time=exit_, long=np.array(long),
                  stop=ones, has_stop=np.ones(n, bool), target=ones, has_target=np.ones(n, bool), entry_price=ones,
                  exit_price=ones, reason=np.array(reasons, np.int8), gross_return=np.array(returns),
                  net_return=np.array(returns), decimals=2)


def test_metrics_by_hand() -> None:
    trades = scripted([0.02, -0.01, 0.03, -0.02, 0.0], [REASON_TP, REASON_SL, REASON_TP, REASON_SL, REASON_EXPIRY],
                      [(0, 1), (1, 3), (4, 5), (5, 6), (7, 9)], [True, False, True, True, False])
    equity = np.array([1.0, 1.1, 0.99, 1.2, 0.9, 1.0, 1.05, 1.05, 1.05, 1.02])
    m = metrics(trades, equity, per_year=8766.0)
    assert (m.trades, m.longs, m.shorts, m.take_profits, m.stop_losses, m.expiries, m.ended) == (5, 3, 2, 2, 2, 1, 0)
    assert m.hit_rate == pytest.approx(0.5)  # 2 TP of 4 TP/SL; the expiry is not counted
    assert m.win_rate == pytest.approx(0.4)  # 0.0 is no win
    assert m.average_return == pytest.approx(0.02 / 5)
    assert m.profit_factor == pytest.approx(0.05 / 0.03)
    # win rate 0.4 × average win 0.025 − loss rate 0.4 × average loss 0.015
    assert m.expectancy == pytest.approx(0.4 * 0.025 - 0.4 * 0.015)
    assert m.expectancy_ratio == pytest.approx((1 + 0.025 / 0.015) * 0.4 - 1)
    assert m.total_return == pytest.approx(0.02)  # the curve's last value 1.02 − 1
    assert m.max_drawdown == pytest.approx(1 - 0.9 / 1.2)  # the peak 1.2, the trough after it 0.9
    steps = [0.0, 0.1, 0.99 / 1.1 - 1, 1.2 / 0.99 - 1, 0.9 / 1.2 - 1, 1.0 / 0.9 - 1, 0.05, 0.0, 0.0, 1.02 / 1.05 - 1]
    assert m.sharpe == pytest.approx(statistics.mean(steps) / statistics.stdev(steps) * math.sqrt(8766))
    assert m.exposure == pytest.approx((1 + 2 + 1 + 1 + 2) / 10)


def test_metrics_edges() -> None:
    only_wins = scripted([0.01, 0.02], [REASON_TP, REASON_EXPIRY], [(0, 1), (1, 2)], [True, True])
    m = metrics(only_wins, np.array([1.0, 1.01, 1.0302]), per_year=None)
    assert m.profit_factor == math.inf and m.expectancy_ratio is None and m.hit_rate == 1.0
    assert m.sharpe is None  # no rate to annualise with
    flat = scripted([0.0], [REASON_END], [(0, 2)], [False])
    m = metrics(flat, np.ones(3), per_year=8766.0)
    assert m.profit_factor is None and m.hit_rate is None and m.win_rate == 0.0 and m.sharpe is None
    assert m.max_drawdown == 0.0 and m.exposure == pytest.approx(2 / 3)
    none = metrics(scripted([], [], [], []), np.ones(4), per_year=8766.0)
    assert (none.trades, none.win_rate, none.average_return, none.expectancy, none.profit_factor) == (0, None, None,
                                                                                                      None, None)
    assert none.total_return == 0.0 and none.exposure == 0.0


# ---- the random baseline --------------------------------------------------------------------------------


def test_random_baseline_reproducible_flat_and_with_the_strategys_distances(btc_1h: Candles) -> None:
    decisions = rsi_cross_decisions(btc_1h)
    run = run_backtest(btc_1h, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=24, seed=5)
    again = run_backtest(btc_1h, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=24, seed=5)
    other = run_backtest(btc_1h, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=24, seed=6)
    base, base2, base3 = run.baseline, again.baseline, other.baseline
    assert base.seed == 5 and "random" in base.rule
    for side, is_long in (("long", True), ("short", False)):
        mine, same, diff = getattr(base, side), getattr(base2, side), getattr(base3, side)
        own = run.trades.side(is_long)
        assert len(mine.trades) == len(own) == len(diff.trades) > 20
        assert engine_tuples(mine.trades) == engine_tuples(same.trades)
        assert engine_tuples(mine.trades) != engine_tuples(diff.trades)
        assert mine.metrics == same.metrics
        assert (mine.trades.long == is_long).all()
        # one position at a time: each starts at or after the previous one's exit bar
        assert (mine.trades.entry_bar[1:] >= mine.trades.exit_bar[:-1]).all()
        # every random trade's stop and target lie at one of the strategy's distances, to the tick
        close = btc_1h.close
        own_sl = np.abs(close[own.entry_bar] - own.stop / 100) / close[own.entry_bar]
        own_tp = np.abs(own.target / 100 - close[own.entry_bar]) / close[own.entry_bar]
        price = close[mine.trades.entry_bar]
        sl = np.abs(price - mine.trades.stop / 100)
        tp = np.abs(mine.trades.target / 100 - price)
        near = (np.abs(sl[:, None] - own_sl[None, :] * price[:, None]) <= 0.011) & (
            np.abs(tp[:, None] - own_tp[None, :] * price[:, None]) <= 0.011)
        assert near.any(axis=1).all()


async def test_random_trades_follow_the_same_rules(btc_1h: Candles) -> None:
    # the random long entries, given to the plain loop as decisions, come out as the same trades
    decisions = rsi_cross_decisions(btc_1h)
    run = run_backtest(btc_1h, decisions, fee_pct=FEE, slippage_pct=SLIP, ttl_bars=24, seed=3)
    for chance in (run.baseline.long.trades, run.baseline.short.trades):
        side = np.zeros(len(btc_1h), np.int8)
        stops, targets = np.full(len(btc_1h), np.nan), np.full(len(btc_1h), np.nan)
        side[chance.entry_bar] = np.where(chance.long, BUY, SELL)
        stops[chance.entry_bar], targets[chance.entry_bar] = chance.stop / 100, chance.target / 100
        refs = await reference_loop(btc_1h, side, stops, targets, run.start, run.end, 24)
        assert engine_tuples(chance) == as_tuples(refs)
        assert chance.net_return == pytest.approx([r.net for r in refs], abs=1e-10)
