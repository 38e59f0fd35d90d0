"""A monitoring cycle over many tips on several markets against a plain per-tip re-evaluation."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

import bot.core.jobs.monitor as monitor_module
from bot.app import open_core
from bot.core.jobs.monitor import SignalMonitor
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.models import SignalParams
from engine.signals import generate_signal
from storage.alerts import AlertRepository

MARKETS = [("BTC/USDT", "1h"), ("BTC/USDT", "4h"), ("ETH/USDT", "1h"), ("SOL/USDT", "4h"), ("SPY", "1d")]


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[TipsterCore]:
    # A still replay clock (the reference must see the cycle's bars) and no market cache.
    s = settings.model_copy(update={
        "cache": settings.cache.model_copy(update={"market_ttl": 0}),
        "market": settings.market.model_copy(update={
            "replay": settings.market.replay.model_copy(update={"speed": 1e-9})}),
        "monitor": settings.monitor.model_copy(update={"signal_ttl_bars": 1000, "hysteresis": 0.0}),
    })
    async with open_core(s) as c:
        yield c


async def seed(core: TipsterCore, count: int) -> list[int]:
    """Tips stored with the default parameters' recommendation but each with parameters of its own."""
    rng = random.Random(17)
    user, _ = await core.storage.users.register("console:7", "trader")
    services = core.services
    templates = {m: await generate_signal(*m, SignalParams(), services.market, services.sentiment) for m in MARKETS}
    ids = []
    for i in range(count):
        tw = round(rng.uniform(0.2, 0.9), 2)
        buy = round(rng.uniform(-0.2, 0.5), 3)
        params = SignalParams(buy_threshold=buy, sell_threshold=round(buy - rng.uniform(0.02, 0.5), 3),
                              technical_weight=tw, sentiment_weight=round(1 - tw, 2),
                              macd_scale="atr" if i % 4 else 500.0)
        tip = templates[MARKETS[i % len(MARKETS)]].model_copy(update={"params": params})
        ids.append((await services.storage.signals.create(tip, user.id, "console", "7", supersede=False)).id)
    return ids


async def reference(core: TipsterCore, ids: list[int]) -> dict[int, tuple[str, float, float, float]]:
    """Each tip re-evaluated on its own, as seed 000's monitor does: (recommendation, fused, technical,
    sentiment)."""
    out = {}
    for signal_id in ids:
        tip = await core.storage.signals.get(signal_id)
        fresh = await generate_signal(tip.symbol, tip.timeframe, tip.params, core.services.market,
                                      core.services.sentiment)
        out[signal_id] = (fresh.recommendation.value, fresh.fused_score, fresh.technical_score,
                          fresh.sentiment_score)
    return out


async def test_cycle_matches_per_tip_reevaluation(core: TipsterCore, monkeypatch: pytest.MonkeyPatch):
    ids = await seed(core, 120)
    replay = core.services.market.inner
    monitor = SignalMonitor(core)
    alerts = AlertRepository(core.storage.db)
    cycles = {i: 0 for i in ids}
    for step in range(3):
        if step:
            replay.advance(7 * 3600)
        before = {i: (await core.storage.signals.get(i)).recommendation.value for i in ids}
        expected = await reference(core, ids)
        readings: list[str] = []
        original = core.services.sentiment.reading

        async def counted(symbol, asset, at=None, original=original, readings=readings):
            readings.append(symbol)
            return await original(symbol, asset, at=at)

        monkeypatch.setattr(core.services.sentiment, "reading", counted)
        earlier = len(await alerts.for_chat("console", "7", limit=10_000))
        result = await monitor.run_cycle()
        monkeypatch.setattr(core.services.sentiment, "reading", original)
        assert sorted(readings) == sorted({s for s, _ in MARKETS})  # once per symbol, not per timeframe
        changed = {i for i in ids if expected[i][0] != before[i]}
        assert (result.monitored, result.changed, result.errors) == (len(ids), len(changed), 0)
        if step == 0:
            assert 5 < len(changed) < len(ids) - 5  # the sample exercises both paths
        for i in ids:
            tip = await core.storage.signals.get(i)
            assert tip.recommendation.value == expected[i][0]
            row = await core.storage.db.fetchone(
                "SELECT cycles, last_fused, last_technical, last_sentiment FROM signal_monitor WHERE signal_id = ?",
                (i,))
            if i in changed:
                assert row is None  # a change restarts the compact record
                assert tip.fused_score == expected[i][1]
                cycles[i] = 0
                history = [e.event for e in await core.storage.signals.history(i)]
                assert history.count("status_changed") >= 1
            else:
                cycles[i] += 1
                assert row[0] == cycles[i]
                assert row[1] == pytest.approx(expected[i][1], abs=1e-12)
                assert (row[2], row[3]) == expected[i][2:]
        owner_alerts = (await alerts.for_chat("console", "7", limit=10_000))[earlier:]
        titles = [a.payload["title"] for a in owner_alerts]
        assert len(titles) == len(changed)
        for i in changed:
            assert sum(t.startswith(f"🔁 Tip #{i} changed: {before[i]} → {expected[i][0]}") for t in titles) == 1


async def test_one_worker_thread_call_per_cycle(core: TipsterCore, monkeypatch: pytest.MonkeyPatch):
    await seed(core, 30)
    calls = []
    real = asyncio.to_thread

    async def spy(func, /, *args, **kwargs):
        calls.append(getattr(func, "__name__", str(func)))
        return await real(func, *args, **kwargs)

    snapshots = []
    real_snapshot = monitor_module.snapshot

    def counted_snapshot(candles):
        snapshots.append((candles.symbol, candles.timeframe))
        return real_snapshot(candles)

    monkeypatch.setattr(monitor_module.asyncio, "to_thread", spy)
    monkeypatch.setattr(monitor_module, "snapshot", counted_snapshot)
    result = await SignalMonitor(core).run_cycle()
    assert result.monitored == 30 and result.errors == 0
    assert calls.count("_evaluate") == 1
    assert sorted(snapshots) == sorted(MARKETS)
