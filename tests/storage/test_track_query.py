"""SignalRepository.tips_since: every user's BUY/SELL tips created since a time, optionally one market, oldest
first; HOLD tips and older tips left out, whatever their status."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.models import Recommendation
from storage.db import Database
from storage.signals import SignalRepository
from storage.users import UserRepository
from tests.storage.test_storage import make_signal


async def test_tips_since_filters_side_time_symbol_and_timeframe(tmp_path):
    async with Database(tmp_path / "t.sqlite") as db:
        users, repo = UserRepository(db), SignalRepository(db)
        ann, _ = await users.register("telegram:1", "trader", username="ann")
        bob, _ = await users.register("telegram:2", "trader", username="bob")
        rows = [(ann, "BTC/USDT", "1h", Recommendation.BUY), (bob, "BTC/USDT", "1h", Recommendation.SELL),
                (ann, "BTC/USDT", "1h", Recommendation.HOLD), (bob, "ETH/USDT", "1h", Recommendation.BUY),
                (ann, "BTC/USDT", "4h", Recommendation.SELL), (bob, "BTC/USDT", "1h", Recommendation.BUY)]
        ids = [(await repo.create(make_signal(symbol=s, timeframe=tf, recommendation=r), u.id, "telegram",
                                  str(u.id))).id for u, s, tf, r in rows]
        await db.execute("UPDATE signals SET created_at = '2024-01-01T00:00:00.000000Z' WHERE id = ?", (ids[5],))
        await repo.set_status(ids[0], "dismissed", "dismissed", "gone")
        since = datetime(2025, 1, 1, tzinfo=UTC)
        assert [s.id for s in await repo.tips_since(since)] == [ids[0], ids[1], ids[3], ids[4]]
        assert [s.id for s in await repo.tips_since(since, "BTC/USDT")] == [ids[0], ids[1], ids[4]]
        assert [s.id for s in await repo.tips_since(since, "BTC/USDT", "1h")] == [ids[0], ids[1]]
        assert [s.id for s in await repo.tips_since(since, timeframe="4h")] == [ids[4]]
        assert [s.id for s in await repo.tips_since(datetime(2023, 1, 1, tzinfo=UTC), "BTC/USDT", "1h")] == \
            [ids[5], ids[0], ids[1]]
        assert await repo.tips_since(datetime(2100, 1, 1, tzinfo=UTC)) == []
