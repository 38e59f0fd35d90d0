"""The monitor's storage reads and batched writes, each against a plain per-row reference."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.models import Recommendation, Signal, SignalParams
from engine.scoring import technical_score
from storage.alerts import AlertRepository
from storage.chats import ChatRepository
from storage.db import Database
from storage.follows import SubscriptionRepository
from storage.monitoring import CheckedGroup, MonitorRepository
from storage.signals import SignalRepository
from storage.users import UserRepository
from tests.storage.test_storage import make_signal

BAR = datetime(2024, 8, 1, 12, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "m.sqlite") as database:
        yield database


async def add_tips(db: Database) -> list[Signal]:
    """Tips on three markets with assorted parameters, MACD scales, creation bars and owners."""
    users = UserRepository(db)
    ann, _ = await users.register("telegram:1", "trader")
    bob, _ = await users.register("console:bob", "viewer")
    repo = SignalRepository(db)
    rng = np.random.default_rng(3)
    scales: list[str | float] = ["atr", 1000.0, "250", "atr", "bad", 0.0]
    stored = []
    for i in range(40):
        tw = float(rng.uniform(0.1, 0.9))
        params = SignalParams(buy_threshold=float(rng.uniform(0.01, 0.6)),
                              sell_threshold=float(rng.uniform(-0.6, -0.01)), technical_weight=tw,
                              sentiment_weight=1 - tw, macd_scale=scales[i % len(scales)])
        symbol, timeframe = [("ETH/USDT", "4h"), ("BTC/USDT", "1h"), ("BTC/USDT", "4h"), ("SPY", "1d")][i % 4]
        extra = {"created_bar_time": (BAR - timedelta(hours=i)).isoformat()} if i % 3 == 0 else {}
        rec = [Recommendation.BUY, Recommendation.SELL, Recommendation.HOLD][i % 3]
        owner, platform, chat = (ann, "telegram", "1") if i % 2 else (bob, "console", "bob")
        tip = make_signal(symbol=symbol, timeframe=timeframe, params=params, recommendation=rec, extra=extra,
                          bar_time=BAR + timedelta(minutes=i))
        stored.append(await repo.create(tip, owner.id, platform, chat, supersede=False))
    await repo.set_status(stored[5].id, "dismissed", "dismissed", "test")
    return stored


def born(signal: Signal) -> datetime:
    raw = signal.extra.get("created_bar_time")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else signal.bar_time


def scale_number(scale: str | float) -> str | float:
    """What technical_score makes of a scale: "atr", the divisor, or a refusal (-1.0 here)."""
    if scale == "atr":
        return "atr"
    try:
        value = float(scale)
    except ValueError:
        return -1.0
    return value if value > 0 else -1.0


def outcome(scale: str | float) -> float | str:
    try:
        return technical_score(61.0, 0.4, 2.5, scale)
    except ValueError:
        return "refused"


async def test_active_tips_match_the_stored_signals(db: Database):
    await add_tips(db)
    signals = SignalRepository(db)
    ids = [r[0] for r in await db.fetchall("SELECT id FROM signals WHERE status = 'active'")]
    reference = sorted([await signals.get(i) for i in ids], key=lambda s: (s.symbol, s.timeframe, s.id))
    tips = await MonitorRepository(db).active_tips()
    assert tips.ids.tolist() == [s.id for s in reference]
    codes = {"BUY": 1, "SELL": -1, "HOLD": 0}
    assert tips.codes.tolist() == [codes[s.recommendation.value] for s in reference]
    assert tips.buy_threshold.tolist() == [s.params.buy_threshold for s in reference]
    assert tips.sell_threshold.tolist() == [s.params.sell_threshold for s in reference]
    assert tips.technical_weight.tolist() == [s.params.technical_weight for s in reference]
    assert tips.sentiment_weight.tolist() == [s.params.sentiment_weight for s in reference]
    assert [tips.scales[k] for k in tips.scale_index] == [scale_number(s.params.macd_scale) for s in reference]
    for s, k in zip(reference, tips.scale_index, strict=True):  # and technical_score reads both the same way
        assert outcome(s.params.macd_scale) == outcome(tips.scales[k])
    assert tips.created_bar_ts.tolist() == [born(s).timestamp() for s in reference]
    keys = [(s.symbol, s.timeframe) for s in reference]
    assert [(g.symbol, g.timeframe) for g in tips.groups] == list(dict.fromkeys(keys))
    for g in tips.groups:
        assert keys[g.start:g.stop] == [(g.symbol, g.timeframe)] * (g.stop - g.start)
    assert sum(g.stop - g.start for g in tips.groups) == len(reference) == 39


async def test_tips_of_a_change_carry_owner_chat_params_and_creation_bar(db: Database):
    stored = await add_tips(db)
    repo = MonitorRepository(db)
    await repo.active_tips()
    wanted = [stored[0], stored[7], stored[12]]
    found = await repo.tips([s.id for s in wanted], [Recommendation.HOLD] * 3)
    chats = {r[0]: (r[1], r[2]) for r in await db.fetchall("SELECT id, platform, chat_id FROM signals")}
    for s in wanted:
        tip = found[s.id]
        assert (tip.user_id, tip.params, tip.recommendation) == (s.user_id, s.params, Recommendation.HOLD)
        assert tip.created_at == s.created_at and (tip.platform, tip.chat_id) == chats[s.id]
        assert datetime.fromisoformat(tip.created_bar) == born(s)


async def test_a_new_tip_on_a_reused_id_is_read_afresh(db: Database):
    stored = await add_tips(db)
    repo = MonitorRepository(db)
    await repo.active_tips()
    last = stored[-1]
    await db.execute("DELETE FROM signals WHERE id = ?", (last.id,))
    assert await db.scalar("SELECT COUNT(*) FROM monitor_tips WHERE signal_id = ?", (last.id,)) == 0
    params = SignalParams(buy_threshold=0.11, sell_threshold=-0.12, technical_weight=0.7, sentiment_weight=0.3)
    again = await SignalRepository(db).create(make_signal(symbol="ZZZ/USDT", params=params), last.user_id, "x", "y")
    assert again.id == last.id  # SQLite hands out the freed largest rowid again
    tips = await repo.active_tips()
    row = tips.ids.tolist().index(again.id)
    assert (tips.buy_threshold[row], tips.sell_threshold[row], tips.technical_weight[row]) == (0.11, -0.12, 0.7)
    assert tips.groups[-1].symbol == "ZZZ/USDT"


async def test_large_ids_survive_the_packed_read(db: Database):
    stored = await add_tips(db)
    big = 2**40 + 5
    await db.execute("DELETE FROM signal_history WHERE signal_id = ?", (stored[1].id,))  # its foreign key
    await db.execute("UPDATE signals SET id = ? WHERE id = ?", (big, stored[1].id))
    tips = await MonitorRepository(db).active_tips()
    assert big in tips.ids.tolist() and stored[1].id not in tips.ids.tolist()


async def test_subscribers_match_chats_for_each_symbol(db: Database):
    subs = SubscriptionRepository(db)
    await subs.add("telegram", "10", "BTC/USDT", None)
    await subs.add("telegram", "11", "*", None)
    await subs.add("console", "12", "ETH/USDT", None)
    await subs.add("telegram", "13", "BTC/USDT", None)
    await subs.add("telegram", "13", "*", None)  # both ways: listed once
    await subs.add("telegram", "14", "BTC/USDT", None)
    await ChatRepository(db).mark_blocked("telegram", "14", "blocked")
    symbols = ["BTC/USDT", "ETH/USDT", "SPY", "BTC/USDT"]
    batched = await MonitorRepository(db).subscribers(symbols)
    assert set(batched) == {"BTC/USDT", "ETH/USDT", "SPY"}
    for symbol in batched:
        assert batched[symbol] == await subs.chats_for(symbol)
    assert batched["BTC/USDT"] == [("telegram", "10"), ("telegram", "11"), ("telegram", "13")]


async def test_record_checked_bumps_counters_with_exact_values(db: Database):
    stored = await add_tips(db)
    repo = MonitorRepository(db)
    ids = np.array([stored[0].id, stored[1].id, stored[2].id])
    fused = np.array([0.1 + 0.2, -1 / 3, 0.0])
    technical = np.array([2 / 3, -0.125, 1e-17])
    first = CheckedGroup(ids=ids, fused=fused, technical=technical, sentiment=0.07, price="123.4", bar_time=BAR)
    second = CheckedGroup(ids=ids[:1], fused=fused[:1] * 2, technical=technical[:1], sentiment=-0.5, price="9",
                          bar_time=BAR + timedelta(hours=1))
    await repo.record_checked([first])
    await repo.record_checked([second])
    rows = {r[0]: tuple(r[1:]) for r in await db.fetchall(
        "SELECT signal_id, cycles, last_fused, last_technical, last_sentiment, last_price, last_bar_time"
        " FROM signal_monitor")}
    assert rows == {
        stored[0].id: (2, (0.1 + 0.2) * 2, 2 / 3, -0.5, "9", "2024-08-01T13:00:00.000000Z"),
        stored[1].id: (1, -1 / 3, -0.125, 0.07, "123.4", "2024-08-01T12:00:00.000000Z"),
        stored[2].id: (1, 0.0, 1e-17, 0.07, "123.4", "2024-08-01T12:00:00.000000Z"),
    }


async def test_enqueue_many_stores_what_enqueue_would(tmp_path):
    specs = [("telegram", "1", "status_change", {"title": "a", "n": 1}, None),
             ("telegram", "2", "status_change", {"title": "b"}, "key-1"),
             ("telegram", "2", "status_change", {"title": "b again"}, "key-1"),  # deduplicated
             ("telegram", "3", "status_change", {"title": "c"}, None)]  # a chat that blocked the bot
    tables = []
    for batched in (False, True):
        async with Database(tmp_path / f"a{batched}.sqlite") as db:
            await ChatRepository(db).mark_blocked("telegram", "3", "gone")
            alerts = AlertRepository(db)
            async with db.transaction() as conn:
                if batched:
                    await alerts.enqueue_many(specs, conn=conn)
                else:
                    for spec in specs:
                        await alerts.enqueue(*spec, conn=conn)
            tables.append([(a.id, a.chat_id, a.payload, a.status, a.dedupe_key, a.last_error)
                           for chat in "123" for a in await alerts.for_chat("telegram", chat)])
    assert tables[0] == tables[1]
    assert [row[3] for row in tables[1]] == ["pending", "pending", "dropped"]


async def test_apply_changes_stores_each_change_with_its_event_and_alerts(db: Database):
    stored = await add_tips(db)
    repo = MonitorRepository(db)
    await repo.record_checked([CheckedGroup(ids=np.array([stored[0].id, stored[1].id]), fused=np.zeros(2),
                                            technical=np.zeros(2), sentiment=0.0, price="1", bar_time=BAR)])
    changes = []
    for old in stored[:2]:
        new = old.model_copy(update={"recommendation": Recommendation.HOLD, "fused_score": 0.01, "confidence": 0.01,
                                     "stop_loss": None, "take_profit": None, "bar_time": BAR + timedelta(hours=2)})
        alerts = [("telegram", "50", "status_change", {"title": f"tip {old.id}"}, None)]
        changes.append((old, new, alerts))
    await repo.apply_changes(changes)
    signals = SignalRepository(db)
    for old, _, _ in changes:
        now = await signals.get(old.id)
        assert now.recommendation is Recommendation.HOLD and now.fused_score == 0.01 and now.stop_loss is None
        assert now.created_at == old.created_at and now.bar_time == BAR + timedelta(hours=2)
        events = await signals.history(old.id)
        assert [e.event for e in events] == ["signal_created", "status_changed"]
        assert events[1].data["old"] == old.recommendation.value and events[1].data["new"] == "HOLD"
    assert await db.scalar("SELECT COUNT(*) FROM signal_monitor") == 0
    sent = await AlertRepository(db).for_chat("telegram", "50")
    assert [a.payload["title"] for a in sent] == [f"tip {stored[0].id}", f"tip {stored[1].id}"]


async def test_apply_changes_is_all_or_nothing(db: Database, monkeypatch: pytest.MonkeyPatch):
    stored = await add_tips(db)
    repo = MonitorRepository(db)

    async def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(repo.alerts, "enqueue_many", broken)
    new = stored[0].model_copy(update={"recommendation": Recommendation.SELL})
    with pytest.raises(RuntimeError):
        await repo.apply_changes([(stored[0], new, [("telegram", "9", "status_change", {}, None)])])
    again = await SignalRepository(db).get(stored[0].id)
    assert again.recommendation == stored[0].recommendation
    assert json.loads(await db.scalar("SELECT data_json FROM signals WHERE id = ?", (stored[0].id,)))[
        "recommendation"] == stored[0].recommendation.value
    assert await db.scalar("SELECT COUNT(*) FROM signal_history WHERE event = 'status_changed'") == 0


async def test_owners_match_get_per_user(db: Database):
    users = UserRepository(db)
    made = [(await users.register(f"telegram:{n}", "trader"))[0] for n in range(5)]
    await users.update_settings(made[2].id, {"timezone": "Europe/Berlin"})
    wanted = [made[0].id, made[2].id, made[2].id, 999]
    found = await MonitorRepository(db).owners(wanted)
    assert set(found) == {made[0].id, made[2].id}
    for user_id, user in found.items():
        assert user == await users.get(user_id)


async def test_apply_changes_leaves_out_a_tip_deleted_meanwhile(db: Database):
    stored = await add_tips(db)
    gone, kept = stored[3], stored[4]
    changes = [(tip, tip.model_copy(update={"recommendation": Recommendation.HOLD}),
                [("telegram", "60", "status_change", {"title": f"tip {tip.id}"}, None)]) for tip in (gone, kept)]
    await db.execute("DELETE FROM signals WHERE id = ?", (gone.id,))
    await MonitorRepository(db).apply_changes(changes)
    assert (await SignalRepository(db).get(kept.id)).recommendation is Recommendation.HOLD
    assert [a.payload["title"] for a in await AlertRepository(db).for_chat("telegram", "60")] == [f"tip {kept.id}"]
    assert await db.scalar("SELECT COUNT(*) FROM signal_history WHERE signal_id = ?", (gone.id,)) == 0


async def test_record_checked_stores_a_nan_score_as_null_and_keeps_neighbours_exact(db: Database):
    stored = await add_tips(db)
    repo = MonitorRepository(db)
    ids = np.array([stored[0].id, stored[1].id])
    await repo.record_checked([
        CheckedGroup(ids=ids[:1], fused=np.array([np.nan]), technical=np.array([0.5]), sentiment=0.0,
                     price="1", bar_time=BAR),
        CheckedGroup(ids=ids[1:], fused=np.array([1 / 7]), technical=np.array([-2 / 9]), sentiment=0.0,
                     price="1", bar_time=BAR),
    ])
    rows = {r[0]: (r[1], r[2], r[3]) for r in await db.fetchall(
        "SELECT signal_id, cycles, last_fused, last_technical FROM signal_monitor")}
    assert rows == {stored[0].id: (1, None, 0.5), stored[1].id: (1, 1 / 7, -2 / 9)}
