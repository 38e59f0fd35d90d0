"""Tips and their history. A tip is stored (with its `signal_created` event and activity entry, in one
transaction) before its card is sent, so a crash between the two never loses it. A user has at most one
active tip per chat, symbol and timeframe: a new one supersedes the one before, in the same transaction."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiosqlite

from engine.models import Signal
from storage.db import Database, from_db_time, to_db_time, utcnow
from storage.models import HistoryEvent


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _signal(row: aiosqlite.Row) -> Signal:
    signal = Signal.model_validate_json(row["data_json"])
    # Columns are the truth for what changes after creation (status, recommendation, scores).
    return signal.model_copy(
        update={
            "id": row["id"],
            "user_id": row["user_id"],
            "status": row["status"],
            "created_at": from_db_time(row["created_at"]),
            "updated_at": from_db_time(row["updated_at"]),
        }
    )


class SignalRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, signal: Signal, user_id: int, platform: str, chat_id: str, *,
                     supersede: bool = True) -> Signal:
        """Store a new tip with its `signal_created` history event and an activity entry, atomically.

        The same transaction marks the user's older active tip(s) of this chat, symbol and timeframe
        `superseded` (with a history event): pressing Refresh k times, or sending the same /signal three
        times at once, leaves one monitored tip, not k that each alert. Writers are serialised, so
        concurrent creates supersede one another in commit order and exactly one stays active.
        `supersede=False` is for seeding many live tips on one market (monitoring tests and benchmarks).
        """
        now = utcnow()
        stored = signal.model_copy(update={"user_id": user_id, "created_at": now, "updated_at": now})
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO signals(user_id, platform, chat_id, symbol, timeframe, recommendation, status,"
                " confidence, technical_score, sentiment_score, fused_score, price, atr, stop_loss,"
                " take_profit, bar_time, demo, data_json, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, platform, chat_id, stored.symbol, stored.timeframe, stored.recommendation.value,
                 stored.confidence, stored.technical_score, stored.sentiment_score, stored.fused_score,
                 _dec(stored.price), _dec(stored.atr), _dec(stored.stop_loss), _dec(stored.take_profit),
                 to_db_time(stored.bar_time), int(stored.demo), stored.model_dump_json(exclude={"id"}),
                 to_db_time(now), to_db_time(now)),
            )
            signal_id = int(cur.lastrowid or 0)
            await cur.close()
            replaced: list[aiosqlite.Row] = []
            if supersede:
                replaced = list(await conn.execute_fetchall(
                    "UPDATE signals SET status = 'superseded', updated_at = ? WHERE status = 'active'"
                    " AND symbol = ? AND timeframe = ? AND user_id = ? AND platform = ? AND chat_id = ? AND id != ?"
                    " RETURNING id",
                    (to_db_time(now), stored.symbol, stored.timeframe, user_id, platform, chat_id, signal_id),
                ))
            await conn.executemany(
                "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                " VALUES (?, 'superseded', ?, ?, ?)",
                [(int(r[0]), f"Replaced by tip #{signal_id}", json.dumps({"by": signal_id}), to_db_time(now))
                 for r in replaced],
            )
            await conn.execute(
                "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                " VALUES (?, 'signal_created', ?, ?, ?)",
                (signal_id, f"Signal created: {stored.recommendation.value} for {stored.symbol}",
                 json.dumps(_score_data(stored)), to_db_time(now)),
            )
            await conn.execute(
                "INSERT INTO activity(user_id, kind, description, data_json, created_at)"
                " VALUES (?, 'signal_generated', ?, ?, ?)",
                (user_id, f"Generated {stored.recommendation.value} for {stored.symbol} {stored.timeframe}",
                 json.dumps({"signal_id": signal_id}), to_db_time(now)),
            )
        return stored.model_copy(update={"id": signal_id})

    async def get(self, signal_id: int) -> Signal | None:
        row = await self.db.fetchone("SELECT * FROM signals WHERE id = ?", (signal_id,))
        return _signal(row) if row else None

    async def for_user(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Signal]:
        rows = await self.db.fetchall(
            "SELECT * FROM signals WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [_signal(r) for r in rows]

    async def count_for_user(self, user_id: int) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM signals WHERE user_id = ?", (user_id,)))

    async def count_active(self) -> int:
        """Tips the monitor is watching, over every user."""
        return int(await self.db.scalar("SELECT COUNT(*) FROM signals WHERE status = 'active'"))

    async def latest_by_symbol(self, user_id: int, symbols: list[str]) -> dict[str, Signal]:
        """The user's newest tip on each of `symbols` (any timeframe), for /market."""
        if not symbols:
            return {}
        marks = ", ".join("?" * len(symbols))
        rows = await self.db.fetchall(
            "SELECT s.* FROM signals s JOIN (SELECT symbol, MAX(id) AS id FROM signals"
            f" WHERE user_id = ? AND symbol IN ({marks}) GROUP BY symbol) last ON last.id = s.id",
            (user_id, *symbols))
        return {r["symbol"]: _signal(r) for r in rows}

    async def search(self, symbol: str | None = None, user_id: int | None = None, limit: int = 10,
                     offset: int = 0) -> tuple[list[tuple[Signal, str]], int]:
        """Every user's tips (admins), newest first, with the owner's identity."""
        clauses, params = [], []
        if symbol:
            clauses.append("s.symbol = ?")
            params.append(symbol)
        if user_id is not None:
            clauses.append("s.user_id = ?")
            params.append(user_id)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        total = int(await self.db.scalar(f"SELECT COUNT(*) FROM signals s {where}", params))
        rows = await self.db.fetchall(
            f"SELECT s.*, u.identity AS owner FROM signals s JOIN users u ON u.id = s.user_id {where}"
            " ORDER BY s.created_at DESC, s.id DESC LIMIT ? OFFSET ?", [*params, limit, offset])
        return [(_signal(r), r["owner"]) for r in rows], total

    async def tips_since(self, since: datetime, symbol: str | None = None,
                         timeframe: str | None = None) -> list[Signal]:
        """Every user's BUY/SELL tips created at or after `since` (whatever became of them since: superseded,
        dismissed and closed tips were still given), optionally one market, oldest first: what /track follows."""
        clauses, params = ["recommendation IN ('BUY', 'SELL')", "created_at >= ?"], [to_db_time(since)]
        if symbol:
            clauses.append("symbol = ?")
            params.append(symbol)
        if timeframe:
            clauses.append("timeframe = ?")
            params.append(timeframe)
        rows = await self.db.fetchall(
            f"SELECT * FROM signals WHERE {' AND '.join(clauses)} ORDER BY created_at, id", params)
        return [_signal(r) for r in rows]

    async def set_status(self, signal_id: int, status: str, event: str, description: str,
                         **data: Any) -> None:
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE signals SET status = ?, updated_at = ? WHERE id = ?",
                               (status, now, signal_id))
            await conn.execute(
                "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                " VALUES (?, ?, ?, ?, ?)", (signal_id, event, description, json.dumps(data, default=str), now),
            )

    async def history(self, signal_id: int, limit: int = 50) -> list[HistoryEvent]:
        rows = await self.db.fetchall(
            "SELECT * FROM signal_history WHERE signal_id = ? ORDER BY id DESC LIMIT ?", (signal_id, limit)
        )
        return [
            HistoryEvent(id=r["id"], signal_id=r["signal_id"], event=r["event"], description=r["description"],
                         data=json.loads(r["data_json"]), created_at=from_db_time(r["created_at"]))
            for r in reversed(rows)
        ]


def _score_data(signal: Signal) -> dict[str, Any]:
    return {
        "recommendation": signal.recommendation.value,
        "confidence": round(signal.confidence, 6),
        "technical": round(signal.technical_score, 6),
        "sentiment": round(signal.sentiment_score, 6),
        "fused": round(signal.fused_score, 6),
        "price": str(signal.price),
        "thresholds": [signal.params.buy_threshold, signal.params.sell_threshold],
        "weights": [signal.params.technical_weight, signal.params.sentiment_weight],
    }
