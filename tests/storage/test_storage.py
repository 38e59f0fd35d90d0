import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engine.models import IndicatorSnapshot, Recommendation, Signal, SignalParams
from storage.db import Database, migrations
from storage.signals import SignalRepository
from storage.state import FlowRepository, KeyValueRepository
from storage.users import UserRepository


def make_signal(**kw) -> Signal:
    values = dict(
        symbol="BTC/USDT", timeframe="1h", recommendation=Recommendation.BUY, confidence=0.42,
        technical_score=0.5, sentiment_score=0.3, fused_score=0.42, rsi_score=0.2, macd_score=0.8,
        price=Decimal("58123.45"), atr=Decimal("345.6789"), stop_loss=Decimal("57432.09"),
        take_profit=Decimal("59160.49"),
        indicators=IndicatorSnapshot(rsi=60, ema_fast=1, ema_slow=1, macd=1, macd_signal=1, macd_hist=1, atr=345.6789,
                                     bb_upper=2, bb_middle=1, bb_lower=0, sma_20=1, sma_50=1, volume_ratio=1.2),
        params=SignalParams(), data_source="test", bar_time=datetime(2024, 8, 1, 12, tzinfo=UTC), demo=True,
    )
    values.update(kw)
    return Signal(**values)


async def test_signal_round_trip_keeps_decimals_exact(tmp_path):
    async with Database(tmp_path / "t.sqlite") as db:
        users = UserRepository(db)
        user, created = await users.register("telegram:1", "trader", username="ann")
        assert created
        repo = SignalRepository(db)
        # A price with more digits than a float can carry exactly.
        stored = await repo.create(make_signal(price=Decimal("0.123456789012345678")), user.id, "telegram", "1")
        loaded = await repo.get(stored.id)
        assert loaded is not None
        assert loaded.price == Decimal("0.123456789012345678")
        assert str(loaded.stop_loss) == "57432.09"
        assert loaded.user_id == user.id and loaded.status == "active"
        raw = await db.scalar("SELECT price FROM signals WHERE id = ?", (stored.id,))
        assert raw == "0.123456789012345678"
        events = await repo.history(stored.id)
        assert [e.event for e in events] == ["signal_created"]
        assert events[0].data["recommendation"] == "BUY"
        acts = await db.scalar("SELECT COUNT(*) FROM activity WHERE kind = 'signal_generated'")
        assert acts == 1


async def test_register_is_idempotent(tmp_path):
    async with Database(tmp_path / "t.sqlite") as db:
        users = UserRepository(db)
        a, created_a = await users.register("telegram:7", "trader")
        b, created_b = await users.register("telegram:7", "viewer", username="later")
        assert created_a and not created_b
        assert a.id == b.id and b.role == "trader" and b.username == "later"


async def test_migrations_apply_to_existing_file_once(tmp_path):
    path = tmp_path / "old.sqlite"
    # An existing database from before: migrations must apply once, keep data, and be recorded.
    async with Database(path) as db:
        await UserRepository(db).register("telegram:1", "trader")
        version = await db.schema_version()
        assert version == max(v for v, _, _ in migrations())
    async with Database(path) as db:
        assert await db.migrate() == []
        assert await UserRepository(db).count() == 1
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


async def test_transaction_rolls_back(tmp_path):
    async with Database(tmp_path / "t.sqlite") as db:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO kv(key, value) VALUES ('a', 'b')")
                raise RuntimeError("boom")
        assert await KeyValueRepository(db).get("a") is None


async def test_secret_is_stable(tmp_path):
    path = tmp_path / "t.sqlite"
    async with Database(path) as db:
        first = await KeyValueRepository(db).secret("s")
    async with Database(path) as db:
        assert await KeyValueRepository(db).secret("s") == first
    assert len(first) == 32


async def test_flows_expire(tmp_path):
    from datetime import timedelta

    async with Database(tmp_path / "t.sqlite") as db:
        user, _ = await UserRepository(db).register("console:local", "trader")
        flows = FlowRepository(db)
        await flows.start(user.id, "console:local", "pick_signal", {"x": 1})
        assert (await flows.get(user.id, "console:local")).state == {"x": 1}
        later = datetime.now(UTC) + timedelta(minutes=6)
        assert await flows.get(user.id, "console:local", now=later) is None
        assert await flows.end(user.id, "console:local") is False
