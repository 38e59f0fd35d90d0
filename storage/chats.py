"""Chats the bot talks to, and whether a chat has blocked the bot (then nothing is sent to it until its
user sends /start again). Later issues hang subscriptions off this table."""

from __future__ import annotations

import json
from datetime import datetime

import aiosqlite
from pydantic import BaseModel

from storage.db import Database, from_db_time, to_db_time, utcnow

GROUP_TYPES = frozenset({"group", "supergroup", "channel"})


class Chat(BaseModel):
    platform: str
    chat_id: str
    chat_type: str | None = None
    title: str | None = None
    blocked_at: datetime | None = None
    blocked_reason: str | None = None
    created_at: datetime

    @property
    def is_group(self) -> bool | None:
        """True/False when the type is known, None when it is not."""
        return None if self.chat_type is None else self.chat_type in GROUP_TYPES


def _chat(row: aiosqlite.Row) -> Chat:
    created = from_db_time(row["created_at"])
    assert created is not None
    return Chat(platform=row["platform"], chat_id=row["chat_id"], chat_type=row["chat_type"], title=row["title"],
                blocked_at=from_db_time(row["blocked_at"]), blocked_reason=row["blocked_reason"],
                created_at=created)


class ChatRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert(self, platform: str, chat_id: str, chat_type: str | None = None,
                     title: str | None = None) -> None:
        """Record a chat; known type/title are kept when the caller does not know them."""
        await self.db.execute(
            "INSERT INTO chats(platform, chat_id, chat_type, title, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(platform, chat_id) DO UPDATE SET"
            " chat_type = COALESCE(excluded.chat_type, chats.chat_type),"
            " title = COALESCE(excluded.title, chats.title)",
            (platform, str(chat_id), chat_type, title, to_db_time(utcnow())),
        )

    async def get(self, platform: str, chat_id: str) -> Chat | None:
        row = await self.db.fetchone("SELECT * FROM chats WHERE platform = ? AND chat_id = ?",
                                     (platform, str(chat_id)))
        return _chat(row) if row else None

    async def mark_blocked(self, platform: str, chat_id: str, reason: str,
                           conn: aiosqlite.Connection | None = None) -> None:
        """The chat blocked the bot (or is gone); the chat row is created if it was not known."""
        now = to_db_time(utcnow())
        sql = ("INSERT INTO chats(platform, chat_id, created_at, blocked_at, blocked_reason) VALUES (?, ?, ?, ?, ?)"
               " ON CONFLICT(platform, chat_id) DO UPDATE SET blocked_at = excluded.blocked_at,"
               " blocked_reason = excluded.blocked_reason")
        params = (platform, str(chat_id), now, now, reason[:200])
        if conn is not None:
            await conn.execute(sql, params)
        else:
            await self.db.execute(sql, params)

    async def unblock(self, platform: str, chat_id: str) -> bool:
        """Clear the block (the user sent /start again); True if the chat was blocked."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE chats SET blocked_at = NULL, blocked_reason = NULL"
                " WHERE platform = ? AND chat_id = ? AND blocked_at IS NOT NULL", (platform, str(chat_id)))
            return cur.rowcount > 0

    async def is_blocked(self, platform: str, chat_id: str) -> bool:
        value = await self.db.scalar("SELECT blocked_at FROM chats WHERE platform = ? AND chat_id = ?",
                                     (platform, str(chat_id)))
        return value is not None

    async def chat_types(self, platform: str, chat_ids: list[str]) -> dict[str, str]:
        """The known types of these chats (chats of unknown type are left out)."""
        if not chat_ids:
            return {}
        rows = await self.db.fetchall(
            "SELECT chat_id, chat_type FROM chats WHERE platform = ? AND chat_type IS NOT NULL"
            " AND chat_id IN (SELECT value FROM json_each(?))",
            (platform, json.dumps([str(c) for c in chat_ids])))
        return {r["chat_id"]: r["chat_type"] for r in rows}

