"""The repository methods that replaced bot/core's raw SQL (issue 10), each against rows inserted by hand."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.alerts import AlertRepository
from storage.db import Database, to_db_time
from storage.positions import PositionRepository
from storage.signals import SignalRepository
from storage.summary import StatusChange, SummaryCandidate, SummaryRepository

T0 = datetime(2024, 8, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
async def db(tmp_path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "q.sqlite") as database:
        yield database


async def add_user(db: Database, identity: str, settings: dict[str, Any] | None = None,
                   state: str = "active") -> int:
    now = to_db_time(T0)
    return await db.execute(
        "INSERT INTO users(identity, platform, role, state, settings_json, created_at, last_seen_at)"
        " VALUES (?, ?, 'trader', ?, ?, ?, ?)",
        (identity, identity.split(":")[0], state, json.dumps(settings or {}), now, now))


async def add_signal(db: Database, user_id: int, platform: str, chat_id: str, at: datetime,
                     recommendation: str = "BUY", status: str = "active", symbol: str = "BTC/USDT") -> int:
    when = to_db_time(at)
    return await db.execute(
        "INSERT INTO signals(user_id, platform, chat_id, symbol, timeframe, recommendation, status, confidence,"
        " technical_score, sentiment_score, fused_score, price, atr, bar_time, demo, data_json, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, '1h', ?, ?, 0.5, 0.1, 0.1, 0.1, '100', '1', ?, 1, '{}', ?, ?)",
        (user_id, platform, chat_id, symbol, recommendation, status, when, when, when))


async def add_history(db: Database, signal_id: int, at: datetime, event: str = "status_changed",
                      data: dict[str, Any] | None = None) -> int:
    return await db.execute(
        "INSERT INTO signal_history(signal_id, event, description, data_json, created_at) VALUES (?, ?, 'x', ?, ?)",
        (signal_id, event, json.dumps(data or {}), to_db_time(at)))


async def add_chat(db: Database, platform: str, chat_id: str, chat_type: str | None,
                   blocked: bool = False) -> None:
    await db.execute("INSERT INTO chats(platform, chat_id, chat_type, blocked_at, created_at) VALUES (?, ?, ?, ?, ?)",
                     (platform, chat_id, chat_type, to_db_time(T0) if blocked else None, to_db_time(T0)))


async def add_watch(db: Database, platform: str, chat_id: str, user_id: int) -> None:
    await db.execute("INSERT INTO watchlist(platform, chat_id, user_id, symbol, timeframe, created_at)"
                     " VALUES (?, ?, ?, 'BTC/USDT', '1h', ?)", (platform, chat_id, user_id, to_db_time(T0)))


async def test_summary_candidates(db: Database) -> None:
    ann = await add_user(db, "telegram:10", {"timezone": "Europe/Berlin"})
    bob = await add_user(db, "console:bob")
    old = await add_user(db, "console:old")
    gone = await add_user(db, "telegram:30", state="deleted")
    carl = await add_user(db, "telegram:20")
    # A private chat with a watch, its own settings and a user timezone.
    await add_chat(db, "telegram", "10", "private")
    await add_watch(db, "telegram", "10", ann)
    await db.execute("INSERT INTO chat_settings(platform, chat_id, settings_json, updated_at) VALUES (?, ?, ?, ?)",
                     ("telegram", "10", json.dumps({"summary": "08:00"}), to_db_time(T0)))
    # A group that only subscribes: no user behind it.
    await add_chat(db, "telegram", "-5", "group")
    await db.execute("INSERT INTO subscriptions(platform, chat_id, symbol, user_id, created_at) VALUES (?, ?, ?, ?, ?)",
                     ("telegram", "-5", "*", ann, to_db_time(T0)))
    # A private chat that only got a tip in the window; one whose tip is older; a tip given in a group.
    await add_signal(db, bob, "console", "bob", T0 + HOUR)
    await add_signal(db, old, "console", "old", T0 - HOUR)
    await add_signal(db, ann, "telegram", "-7", T0 + HOUR)
    # A blocked chat with a watch, and a deleted user's watched private chat.
    await add_chat(db, "telegram", "20", "private", blocked=True)
    await add_watch(db, "telegram", "20", carl)
    await add_watch(db, "telegram", "30", gone)

    assert await SummaryRepository(db).candidates(T0) == [
        SummaryCandidate("console", "bob", {}, bob, None),
        SummaryCandidate("telegram", "-5", {}, None, None),
        SummaryCandidate("telegram", "10", {"summary": "08:00"}, ann, "Europe/Berlin"),
        SummaryCandidate("telegram", "30", {}, None, None),
    ]


async def test_summary_tip_counts(db: Database) -> None:
    ann = await add_user(db, "telegram:10")
    for at, rec in [(T0, "BUY"), (T0 + HOUR, "BUY"), (T0 + 2 * HOUR, "SELL"), (T0 - HOUR, "HOLD"),
                    (T0 + 24 * HOUR, "BUY")]:  # the last one is at `until`: outside [since, until)
        await add_signal(db, ann, "telegram", "10", at, rec)
    await add_signal(db, ann, "telegram", "11", T0 + HOUR, "SELL")  # another chat
    repo = SummaryRepository(db)
    assert await repo.tip_counts("telegram", "10", T0, T0 + 24 * HOUR) == {"BUY": 2, "SELL": 1}
    assert await repo.tip_counts("telegram", "12", T0, T0 + 24 * HOUR) == {}


async def test_summary_status_changes(db: Database) -> None:
    ann = await add_user(db, "telegram:10")
    tip = await add_signal(db, ann, "telegram", "10", T0)
    other_chat = await add_signal(db, ann, "telegram", "11", T0)
    first = await add_history(db, tip, T0 + HOUR, data={"old": "active", "new": "tp_hit"})
    await add_history(db, tip, T0 + HOUR, event="signal_created")
    await add_history(db, tip, T0 - HOUR, data={"old": "a", "new": "b"})  # before the window
    await add_history(db, other_chat, T0 + HOUR, data={"old": "a", "new": "b"})
    second = await add_history(db, tip, T0 + 2 * HOUR)
    assert first < second
    assert await SummaryRepository(db).status_changes("telegram", "10", T0, T0 + 24 * HOUR) == [
        StatusChange(tip, T0 + 2 * HOUR, "BTC/USDT", "1h", {}),
        StatusChange(tip, T0 + HOUR, "BTC/USDT", "1h", {"old": "active", "new": "tp_hit"}),
    ]


async def test_signals_count_active(db: Database) -> None:
    ann = await add_user(db, "telegram:10")
    bob = await add_user(db, "console:bob")
    for user, status in [(ann, "active"), (ann, "active"), (bob, "active"), (ann, "dismissed"), (bob, "expired")]:
        await add_signal(db, user, "telegram", "10", T0, status=status)
    assert await SignalRepository(db).count_active() == 3


async def test_positions_status_counts(db: Database) -> None:
    repo = PositionRepository(db)
    assert await repo.status_counts() == []
    ann = await add_user(db, "telegram:10")
    for status in ["open", "closed", "open", "failed"]:
        await db.execute(
            "INSERT INTO positions(user_id, platform, chat_id, symbol, side, broker, status, notional, created_at,"
            " updated_at) VALUES (?, 'telegram', '10', 'BTC/USDT', 'long', 'paper', ?, '100', ?, ?)",
            (ann, status, to_db_time(T0), to_db_time(T0)))
    assert await repo.status_counts() == [("closed", 1), ("failed", 1), ("open", 2)]


async def test_alerts_exists(db: Database) -> None:
    for key, status in [("k1", "sent"), ("k2", "pending"), (None, "pending")]:
        await db.execute(
            "INSERT INTO alerts(platform, chat_id, kind, payload_json, status, next_attempt_at, created_at,"
            " dedupe_key) VALUES ('telegram', '10', 'scan', '{}', ?, ?, ?, ?)",
            (status, to_db_time(T0), to_db_time(T0), key))
    repo = AlertRepository(db)
    assert await repo.exists("k1") and await repo.exists("k2")
    assert not await repo.exists("k3")


async def test_alerts_transaction_commits_or_rolls_back_together(db: Database) -> None:
    repo = AlertRepository(db)
    with pytest.raises(RuntimeError):
        async with repo.transaction() as conn:
            await repo.enqueue("telegram", "10", "scan", {}, dedupe_key="a", conn=conn)
            await conn.execute("UPDATE alerts SET last_error = 'x'")
            raise RuntimeError("boom")
    assert await db.scalar("SELECT COUNT(*) FROM alerts") == 0
    async with repo.transaction() as conn:
        await repo.enqueue("telegram", "10", "scan", {}, dedupe_key="a", conn=conn)
        await repo.enqueue("telegram", "10", "scan", {}, dedupe_key="b", conn=conn)
    assert [r[0] for r in await db.fetchall("SELECT dedupe_key FROM alerts ORDER BY id")] == ["a", "b"]
