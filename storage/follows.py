"""What chats follow: watchlists (scanned for tips) and subscriptions (status-change and exit alerts)."""

from __future__ import annotations

from datetime import datetime

import aiosqlite
from pydantic import BaseModel

from storage.db import Database, from_db_time, to_db_time, utcnow

ALL = "*"  # a subscription to every symbol


class WatchEntry(BaseModel):
    id: int
    platform: str
    chat_id: str
    user_id: int
    symbol: str
    timeframe: str
    created_at: datetime
    last_pushed_rec: str | None = None
    last_pushed_bar: datetime | None = None


class WatchRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, platform: str, chat_id: str, user_id: int, symbol: str, timeframe: str) -> bool:
        """True if added, False if the chat already watches it."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO watchlist(platform, chat_id, user_id, symbol, timeframe, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)", (platform, chat_id, user_id, symbol, timeframe, to_db_time(utcnow())))
            return cur.rowcount > 0

    async def remove(self, platform: str, chat_id: str, symbol: str, timeframe: str | None = None) -> int:
        sql = "DELETE FROM watchlist WHERE platform = ? AND chat_id = ? AND symbol = ?"
        params: list[str] = [platform, chat_id, symbol]
        if timeframe:
            sql += " AND timeframe = ?"
            params.append(timeframe)
        async with self.db.transaction() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    async def for_chat(self, platform: str, chat_id: str) -> list[WatchEntry]:
        rows = await self.db.fetchall(
            "SELECT * FROM watchlist WHERE platform = ? AND chat_id = ? ORDER BY symbol, timeframe",
            (platform, chat_id))
        return [_watch(r) for r in rows]

    async def all(self) -> list[WatchEntry]:
        rows = await self.db.fetchall(
            "SELECT w.* FROM watchlist w LEFT JOIN chats c ON c.platform = w.platform AND c.chat_id = w.chat_id"
            " WHERE c.blocked_at IS NULL ORDER BY w.symbol, w.timeframe, w.id")
        return [_watch(r) for r in rows]

    async def mark_pushed(self, watch_id: int, recommendation: str, bar_time: datetime) -> None:
        await self.db.execute("UPDATE watchlist SET last_pushed_rec = ?, last_pushed_bar = ? WHERE id = ?",
                              (recommendation, to_db_time(bar_time), watch_id))

    async def count(self) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM watchlist"))


def _watch(r: aiosqlite.Row) -> WatchEntry:
    return WatchEntry(id=r["id"], platform=r["platform"], chat_id=r["chat_id"], user_id=r["user_id"],
                      symbol=r["symbol"], timeframe=r["timeframe"], created_at=from_db_time(r["created_at"]),
                      last_pushed_rec=r["last_pushed_rec"], last_pushed_bar=from_db_time(r["last_pushed_bar"]))


class SubscriptionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, platform: str, chat_id: str, symbol: str, user_id: int | None) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO subscriptions(platform, chat_id, symbol, user_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)", (platform, chat_id, symbol, user_id, to_db_time(utcnow())))
            return cur.rowcount > 0

    async def remove(self, platform: str, chat_id: str, symbol: str | None) -> int:
        """Remove one symbol's subscription, or all of the chat's when symbol is None."""
        async with self.db.transaction() as conn:
            if symbol is None:
                cur = await conn.execute("DELETE FROM subscriptions WHERE platform = ? AND chat_id = ?",
                                         (platform, chat_id))
            else:
                cur = await conn.execute(
                    "DELETE FROM subscriptions WHERE platform = ? AND chat_id = ? AND symbol = ?",
                    (platform, chat_id, symbol))
            return cur.rowcount

    async def for_chat(self, platform: str, chat_id: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT symbol FROM subscriptions WHERE platform = ? AND chat_id = ? ORDER BY symbol", (platform, chat_id))
        return [r[0] for r in rows]

    async def chats_for(self, symbol: str) -> list[tuple[str, str]]:
        """(platform, chat_id) of every chat subscribed to `symbol` or to all, skipping chats that blocked us."""
        rows = await self.db.fetchall(
            "SELECT DISTINCT s.platform, s.chat_id FROM subscriptions s LEFT JOIN chats c"
            " ON c.platform = s.platform AND c.chat_id = s.chat_id"
            " WHERE s.symbol IN (?, ?) AND c.blocked_at IS NULL ORDER BY s.platform, s.chat_id", (symbol, ALL))
        return [(r[0], r[1]) for r in rows]

    async def count(self) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM subscriptions"))


class JobRun(BaseModel):
    id: int
    job: str
    started_at: datetime
    duration_ms: float
    monitored: int
    changed: int
    expired: int
    errors: int


class JobRunRepository:
    KEEP = 200  # per job; older rows are pruned so the table stays small

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, job: str, started_at: datetime, duration_ms: float, monitored: int = 0,
                     changed: int = 0, expired: int = 0, errors: int = 0) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO job_runs(job, started_at, duration_ms, monitored, changed, expired, errors)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job, to_db_time(started_at), duration_ms, monitored, changed, expired, errors))
            await conn.execute(
                "DELETE FROM job_runs WHERE job = ? AND id NOT IN"
                " (SELECT id FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?)", (job, job, self.KEEP))

    async def recent(self, job: str, limit: int = 5) -> list[JobRun]:
        rows = await self.db.fetchall("SELECT * FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?", (job, limit))
        return [JobRun(id=r["id"], job=r["job"], started_at=from_db_time(r["started_at"]),
                       duration_ms=r["duration_ms"], monitored=r["monitored"], changed=r["changed"],
                       expired=r["expired"], errors=r["errors"]) for r in rows]
