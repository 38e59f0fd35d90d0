"""/track and the card's record line: scripted stored tips on the bundled BTC/USDT 1h candles, each tip's
outcome worked out here by a plain bar-by-bar loop in Decimal (the paper broker's rules written out), the hit
rate and average return by hand from those outcomes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest

from bot.core.service import TipsterCore
from bot.core.usecases.track import track
from engine.models import Candles, IndicatorSnapshot, Recommendation, Signal, SignalParams
from tests.conftest import user_ctx

ME = user_ctx(1)
SYMBOL, TF = "BTC/USDT", "1h"


def tip(candles: Candles, bar: int, side: str, stop_pct: str, target_pct: str) -> Signal:
    d = candles.price_decimals
    tick = Decimal(1).scaleb(-d)
    price = Decimal(str(candles.close[bar])).quantize(tick)
    down, up = Decimal(1) - Decimal(stop_pct) / 100, Decimal(1) + Decimal(target_pct) / 100
    if side == "BUY":
        stop, target = (price * down).quantize(tick), (price * up).quantize(tick)
    else:
        stop = (price * (2 - down)).quantize(tick)
        target = (price * (2 - up)).quantize(tick)
    return Signal(
        symbol=SYMBOL, timeframe=TF, recommendation=Recommendation(side), confidence=0.5, technical_score=0.5,
        sentiment_score=0.0, fused_score=0.5, rsi_score=0.1, macd_score=0.1, price=price, atr=Decimal("100"),
        stop_loss=stop, take_profit=target,
        indicators=IndicatorSnapshot(rsi=50, ema_fast=1, ema_slow=1, macd=1, macd_signal=1, macd_hist=1, atr=100,
                                     bb_upper=2, bb_middle=1, bb_lower=0, sma_20=1, sma_50=1, volume_ratio=1),
        params=SignalParams(), data_source="test",
        bar_time=datetime.fromtimestamp(int(candles.timestamps[bar]), UTC), demo=True, price_decimals=d)


def reference(candles: Candles, signal: Signal, bar: int, end: int, ttl: int, fee: Decimal,
              slip: Decimal) -> tuple[str, Decimal | None]:
    """The tip's outcome by a plain loop: bars bar+1 … bar+ttl; the stop first when a bar reaches both; a
    stop fills at its level or the gapped open minus slippage, a target at its level or the better open,
    an expiry at the last bar's close minus slippage; fees on both legs. Open when the window is not over."""
    tick = Decimal(1).scaleb(-candles.price_decimals)
    long = signal.recommendation is Recommendation.BUY

    def px(value: float) -> Decimal:
        return Decimal(str(value)).quantize(tick)

    def market(price: Decimal, buy: bool) -> Decimal:
        rate = slip / 100
        return (price * (1 + rate)).quantize(tick, ROUND_CEILING) if buy else \
            (price * (1 - rate)).quantize(tick, ROUND_FLOOR)

    entry = market(signal.price, buy=long)
    stop, target = signal.stop_loss, signal.take_profit
    exit_, reason = None, None
    for j in range(bar + 1, min(bar + ttl, end) + 1):
        o, h, lo = px(candles.open[j]), px(candles.high[j]), px(candles.low[j])
        if long and lo <= stop:
            exit_, reason = market(min(o, stop), buy=False), "sl"
        elif not long and h >= stop:
            exit_, reason = market(max(o, stop), buy=True), "sl"
        elif long and h >= target:
            exit_, reason = max(o, target), "tp"
        elif not long and lo <= target:
            exit_, reason = min(o, target), "tp"
        if reason:
            break
    if reason is None:
        if bar + ttl > end:
            return "open", None
        exit_, reason = market(px(candles.close[bar + ttl]), buy=not long), "expiry"
    gross = (exit_ - entry) / entry if long else (entry - exit_) / entry
    f = fee / 100
    return reason, gross - f - f * exit_ / entry


@pytest.fixture
async def scripted(core: TipsterCore):
    candles = await core.services.market.fetch_ohlcv(SYMBOL, TF, 100_000)
    end = len(candles) - (2 if candles.forming else 1)
    plan = [(end - 300, "BUY", "1", "1"), (end - 260, "BUY", "0.5", "2"), (end - 220, "BUY", "2", "0.5"),
            (end - 200, "SELL", "1", "1"), (end - 170, "SELL", "0.5", "2"), (end - 140, "SELL", "2", "0.5"),
            (end - 100, "BUY", "40", "40"), (end - 90, "SELL", "40", "40"),  # neither level: expiry
            (end - 5, "BUY", "40", "40")]  # inside its window: open
    user, _ = await core.storage.users.register("console:99", "trader", username="someone")
    stored = [(bar, await core.storage.signals.create(tip(candles, bar, side, sl, tp), user.id, "console", "99",
                                                        supersede=False)) for bar, side, sl, tp in plan]
    paper, ttl = core.settings.paper, core.settings.monitor.signal_ttl_bars
    outcomes = [reference(candles, s, bar, end, ttl, Decimal(str(paper.fee_pct)), Decimal(str(paper.slippage_pct)))
                for bar, s in stored]
    return candles, end, stored, outcomes


def by_hand(outcomes: list[tuple[str, Decimal | None]], sides: list[str], side: str) -> tuple[int, float | None,
                                                                                            float | None]:
    mine = [o for o, s in zip(outcomes, sides, strict=True) if s == side]
    tp, sl = sum(r == "tp" for r, _ in mine), sum(r == "sl" for r, _ in mine)
    done = [float(n) for r, n in mine if r != "open"]
    return len(mine), (tp / (tp + sl) if tp + sl else None), (sum(done) / len(done) if done else None)


async def test_each_tip_is_followed_as_the_plain_loop_follows_it(core: TipsterCore, scripted):
    candles, end, stored, outcomes = scripted
    reasons = [r for r, _ in outcomes]
    # the script covers every outcome, so a wrong rule for any of them shows
    assert {"tp", "sl", "expiry", "open"} <= set(reasons), reasons
    report = await track(core, None, None, 30)
    assert [t.bar_time for t in report.tips] == [s.bar_time for _, s in stored]
    assert [t.reason for t in report.tips] == reasons
    for got, (_, net) in zip(report.tips, outcomes, strict=True):
        if net is None:
            assert got.net_return is None
        else:
            assert got.net_return == pytest.approx(float(net), abs=1e-12)
    sides = [s.recommendation.value for _, s in stored]
    for side in ("BUY", "SELL"):
        count, hit, avg = by_hand(outcomes, sides, side)
        [group] = [g for g in report.groups if g.side == side]
        assert (group.symbol, group.timeframe, group.tips) == (SYMBOL, TF, count)
        assert group.open == sum(1 for r, s in zip(reasons, sides, strict=True) if s == side and r == "open")
        assert group.hit_rate == pytest.approx(hit)
        assert group.average_return == pytest.approx(avg, abs=1e-12)
    first = next(i for i, t in enumerate(candles.timestamps) if t >= candles.timestamps[end] - 30 * 86_400)
    [hold] = report.markets
    assert hold.buy_and_hold == pytest.approx(candles.close[end] / candles.close[first] - 1)


async def test_the_command_in_its_three_forms_and_bad_input(core: TipsterCore, scripted):
    _, _, stored, outcomes = scripted
    sides = [s.recommendation.value for _, s in stored]
    count, hit, avg = by_hand(outcomes, sides, "BUY")
    for text in ("/track", "/track days=30", "/track BTC/USDT 1h"):
        [reply] = await core.handle_text(ME, text)
        assert f"{count} BUY tips: " in reply.text, reply.text
        assert f"hit rate {hit * 100:.0f}% · average {avg * 100:+.2f}%" in reply.text
        assert re.search(r"Buy & hold: [+-]\d+\.\d\d%", reply.text)
        assert "someone" not in reply.text and "console:99" not in reply.text  # anonymous
    [other] = await core.handle_text(ME, "/track ETH/USDT 1h")
    assert "No BUY or SELL tips in the past 30 days." in other.text
    for bad in ("/track days=0", "/track days=366", "/track days=soon", "/track BTC/USDT 7x"):
        [reply] = await core.handle_text(ME, bad)
        first = reply.text.splitlines()[0]
        assert first and ("days" in first or "timeframe" in first.lower()), reply.text
        assert "Traceback" not in reply.text


async def test_tips_older_than_days_are_left_out(core: TipsterCore, scripted):
    _, _, stored, _ = scripted
    await core.storage.db.execute("UPDATE signals SET created_at = '2000-01-01T00:00:00.000000Z' WHERE id = ?",
                                  (stored[0][1].id,))
    report = await track(core, SYMBOL, TF, 30)
    assert len(report.tips) == len(stored) - 1


async def test_a_fresh_tip_card_carries_its_sides_record(core: TipsterCore, scripted):
    _, _, stored, outcomes = scripted
    sides = [s.recommendation.value for _, s in stored]
    card = (await core.handle_text(ME, "/signal BTC/USDT 1h buy=-0.9 sell=-1"))[0]
    count, hit, _ = by_hand(outcomes, sides, "BUY")
    assert f"Past 30 days on BTC/USDT 1h: {count} BUY tips, {hit * 100:.0f}% hit TP first" in card.text, card.text
    # a SELL card counts the SELL tips; a market without tips says so
    sell = (await core.handle_text(ME, "/signal BTC/USDT 1h buy=1 sell=0.99"))[0]
    count, hit, _ = by_hand(outcomes, sides, "SELL")
    assert f"Past 30 days on BTC/USDT 1h: {count} SELL tips, {hit * 100:.0f}% hit TP first" in sell.text, sell.text
    fresh = (await core.handle_text(ME, "/signal ETH/USDT 1h buy=-0.9 sell=-1"))[0]
    assert "Past 30 days on ETH/USDT 1h: no BUY tips yet" in fresh.text, fresh.text
