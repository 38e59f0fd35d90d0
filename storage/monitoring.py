"""Storage side of the signal monitor: active tips, compact per-cycle records, status changes with their
alerts committed together, expiry."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from engine.models import Signal
from storage.alerts import AlertRepository, AlertSpec
from storage.db import Database, to_db_time, utcnow
from storage.signals import _dec, _signal


class MonitorRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.alerts = AlertRepository(db)

    async def active(self) -> list[Signal]:
        return [signal for signal, _ in await self.active_with_chats()]

    async def active_with_chats(self) -> list[tuple[Signal, tuple[str, str]]]:
        """Active tips with the (platform, chat_id) each was created in (where its owner hears of it)."""
        rows = await self.db.fetchall("SELECT * FROM signals WHERE status = 'active' ORDER BY symbol, timeframe, id")
        return [(_signal(r), (r["platform"], r["chat_id"])) for r in rows]

    async def record_checked(self, rows: Iterable[tuple[int, float, float, float, str, datetime]]) -> None:
        """Unchanged tips: bump a counter and keep the last values (history does not grow per cycle)."""
        now = to_db_time(utcnow())
        params = [(sid, now, fused, tech, sent, price, to_db_time(bar)) for sid, fused, tech, sent, price, bar in rows]
        if not params:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO signal_monitor(signal_id, cycles, last_checked_at, last_fused, last_technical,"
                " last_sentiment, last_price, last_bar_time) VALUES (?, 1, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(signal_id) DO UPDATE SET cycles = cycles + 1,"
                " last_checked_at = excluded.last_checked_at, last_fused = excluded.last_fused,"
                " last_technical = excluded.last_technical, last_sentiment = excluded.last_sentiment,"
                " last_price = excluded.last_price, last_bar_time = excluded.last_bar_time", params)

    async def apply_changes(self, changes: list[tuple[Signal, Signal, list[AlertSpec]]]) -> None:
        """Store re-evaluated tips, their `status_changed` events and their alerts in one transaction.

        Each change is (old, new, alerts) with alerts as (platform, chat_id, kind, payload, dedupe_key); a
        crash commits all of a group's changes and alerts or none of them.
        """
        if not changes:
            return
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            for old, new, alerts in changes:
                assert old.id is not None
                stored = new.model_copy(update={"id": old.id, "user_id": old.user_id, "created_at": old.created_at,
                                                "status": "active"})
                data = {
                    "old": old.recommendation.value, "new": new.recommendation.value,
                    "technical": round(new.technical_score, 6), "sentiment": round(new.sentiment_score, 6),
                    "fused": round(new.fused_score, 6), "confidence": round(new.confidence, 6),
                    "price": str(new.price),
                }
                await conn.execute(
                    "UPDATE signals SET recommendation = ?, confidence = ?, technical_score = ?,"
                    " sentiment_score = ?, fused_score = ?, price = ?, atr = ?, stop_loss = ?, take_profit = ?,"
                    " bar_time = ?, data_json = ?, updated_at = ? WHERE id = ?",
                    (new.recommendation.value, new.confidence, new.technical_score, new.sentiment_score,
                     new.fused_score, _dec(new.price), _dec(new.atr), _dec(new.stop_loss), _dec(new.take_profit),
                     to_db_time(new.bar_time), stored.model_dump_json(exclude={"id"}), now, old.id))
                await conn.execute(
                    "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                    " VALUES (?, 'status_changed', ?, ?, ?)",
                    (old.id, f"Status changed: {old.recommendation.value} → {new.recommendation.value}",
                     json.dumps(data), now))
                await conn.execute("DELETE FROM signal_monitor WHERE signal_id = ?", (old.id,))
                for platform, chat_id, kind, payload, dedupe in alerts:
                    await self.alerts.enqueue(platform, chat_id, kind, payload, dedupe, conn=conn)

    async def expire(self, signal_ids: list[int], reason: str) -> None:
        if not signal_ids:
            return
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            await conn.executemany("UPDATE signals SET status = 'expired', updated_at = ? WHERE id = ?",
                                   [(now, sid) for sid in signal_ids])
            await conn.executemany(
                "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                " VALUES (?, 'expired', ?, '{}', ?)", [(sid, reason, now) for sid in signal_ids])
