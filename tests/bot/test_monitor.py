"""The signal monitor against the bundled replay: status changes, compact records, expiry, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import jobs_running, open_core
from bot.core.jobs.monitor import SignalMonitor
from bot.core.service import TipsterCore
from bot.settings import Settings
from storage.alerts import AlertRepository
from tests.bot.test_core_signals import texts
from tests.conftest import user_ctx

OWNER = user_ctx(1)


@pytest.fixture
async def mcore(settings: Settings) -> AsyncIterator[TipsterCore]:
    # No market cache: the test moves the replay clock and must see the new bars at once.
    s = settings.model_copy(update={"cache": settings.cache.model_copy(update={"market_ttl": 0}),
                                    "admins": ["console:100"]})
    async with open_core(s) as core:
        yield core


def replay(core: TipsterCore):
    return core.services.market.inner


async def history_events(core: TipsterCore, signal_id: int) -> list[str]:
    return [e.event for e in await core.storage.signals.history(signal_id)]


async def buy_tip_that_will_turn(core: TipsterCore) -> int:
    """A BUY tip whose buy threshold sits just under today's fused score, so any drop makes it HOLD."""
    probe = (await core.handle_text(OWNER, "/signal BTC/USDT 1h"))[0]
    fused = (await core.storage.signals.get(1)).fused_score
    del probe
    threshold = round(fused - 0.0005, 4)
    card = (await core.handle_text(OWNER, f"/signal BTC/USDT 1h buy={threshold} sell=-1"))[0]
    assert "BUY" in (card.title or ""), card.title
    return 2


async def test_buy_turning_hold_gives_one_event_and_one_alert_per_subscribed_chat(mcore: TipsterCore):
    core = mcore
    signal_id = await buy_tip_that_will_turn(core)
    # Two subscribed chats (one to the symbol, one to everything) and one subscribed to another symbol.
    await core.storage.subscriptions.add("console", "chatA", "BTC/USDT", None)
    await core.storage.subscriptions.add("console", "chatB", "*", None)
    await core.storage.subscriptions.add("console", "chatC", "ETH/USDT", None)
    # The probe tip (#1) must not interfere: dismiss it.
    await core.storage.signals.set_status(1, "dismissed", "dismissed", "test")
    monitor = SignalMonitor(core)
    changed_at = None
    for step in range(48):
        result = await monitor.run_cycle()
        assert result.errors == 0
        if result.changed:
            changed_at = step
            break
        replay(core).advance(3600)
    assert changed_at is not None, "the tip never changed in 48 bars"
    signal = await core.storage.signals.get(signal_id)
    assert signal.recommendation.value == "HOLD"
    assert (await history_events(core, signal_id)).count("status_changed") == 1
    alerts = AlertRepository(core.storage.db)
    assert len(await alerts.for_chat("console", "chatA")) == 1
    assert len(await alerts.for_chat("console", "chatB")) == 1
    assert await alerts.for_chat("console", "chatC") == []
    owner_alerts = await alerts.for_chat("console", "1")
    assert len(owner_alerts) == 1 and "changed: BUY → HOLD" in owner_alerts[0].payload["title"]
    # A cycle with no change adds no history: the record stays compact. The cycle ran over the tip (it is
    # counted once since its change) and left exactly the two events it had.
    again = await monitor.run_cycle()
    assert again.monitored == 1 and again.changed == 0 and again.errors == 0
    assert await history_events(core, signal_id) == ["signal_created", "status_changed"]
    cycles = await core.storage.db.scalar("SELECT cycles FROM signal_monitor WHERE signal_id = ?", (signal_id,))
    assert cycles == 1
    assert len(await alerts.for_chat("console", "chatA")) == 1 and len(await alerts.for_chat("console", "1")) == 1


async def test_unchanged_tips_keep_a_compact_record(mcore: TipsterCore):
    core = mcore
    await core.handle_text(OWNER, "/signal ETH/USDT 1h buy=0.99 sell=-0.99")  # stays HOLD
    monitor = SignalMonitor(core)
    for _ in range(5):
        result = await monitor.run_cycle()
        assert result.monitored == 1 and result.changed == 0
    assert await history_events(core, 1) == ["signal_created"]
    assert await core.storage.db.scalar("SELECT cycles FROM signal_monitor WHERE signal_id = 1") == 5
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM job_runs WHERE job = 'monitor'") == 5


async def test_tips_expire_after_ttl_bars(mcore: TipsterCore):
    core = mcore
    await core.handle_text(OWNER, "/signal SOL/USDT 1h buy=0.99 sell=-0.99")
    monitor = SignalMonitor(core)
    replay(core).advance(23 * 3600)
    assert (await monitor.run_cycle()).expired == 0
    replay(core).advance(3600)
    result = await monitor.run_cycle()
    assert result.expired == 1 and result.monitored == 0
    assert (await core.storage.signals.get(1)).status == "expired"
    assert await history_events(core, 1) == ["signal_created", "expired"]


async def test_a_failing_symbol_is_skipped_and_counted(mcore: TipsterCore):
    core = mcore
    await core.handle_text(OWNER, "/signal ETH/USDT 1h buy=0.99 sell=-0.99")
    await core.handle_text(OWNER, "/signal SPY 1d buy=0.99 sell=-0.99")
    # SPY's tip points at a timeframe the replay does not have (as if data vanished after a config change).
    await core.storage.db.execute(
        "UPDATE signals SET timeframe = '15m', data_json = json_set(data_json, '$.timeframe', '15m')"
        " WHERE symbol = 'SPY'")
    result = await SignalMonitor(core).run_cycle()
    assert result.errors == 1 and result.monitored == 1
    assert result.failed_groups == ["SPY 15m"]


async def test_status_and_monitor_commands(mcore: TipsterCore):
    core = mcore
    admin = user_ctx(100)
    await core.ensure_user(admin)
    await core.handle_text(OWNER, "/signal ETH/USDT 1h")
    assert "Jobs are not running" in texts(await core.handle_text(OWNER, "/status"))
    async with jobs_running(core) as scheduler:
        status = texts(await core.handle_text(OWNER, "/status"))
        assert "Monitoring is running" in status and "monitor: every 120s" in status
        assert "admins only" in texts(await core.handle_text(OWNER, "/monitor now"))
        done = texts(await core.handle_text(admin, "/monitor now"))
        assert "Cycle done: 1 checked" in done
        assert "1 checked" in texts(await core.handle_text(OWNER, "/status"))
        assert "paused" in texts(await core.handle_text(admin, "/monitor pause"))
        assert scheduler.scheduler.get_job("monitor").next_run_time is None
        assert "Monitoring is paused" in texts(await core.handle_text(OWNER, "/status"))
        assert "resumed" in texts(await core.handle_text(admin, "/monitor resume"))
        assert scheduler.next_run("monitor") is not None
        assert "Usage: /monitor" in texts(await core.handle_text(admin, "/monitor explode"))
        assert "Monitoring: last cycle" in texts(await core.handle_text(admin, "/stats"))
        await core.handle_text(admin, "/monitor pause")
    # The paused state survives a restart of the jobs.
    async with jobs_running(core) as scheduler:
        assert scheduler.paused and scheduler.next_run("monitor") is None
        assert "summary" in scheduler.jobs and scheduler.next_run("summary") is not None  # only monitoring paused
