"""Chats the bot talks to, and whether a chat has blocked the bot (then nothing is sent to it until its
user sends /start again). Later issues hang subscriptions off this table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal, get_args

import aiosqlite
from pydantic import BaseModel

from storage.db import Database, from_db_time, to_db_time, utcnow

GROUP_TYPES = frozenset({"group", "supergroup", "channel"})

# ---- per-chat notifications (/notify) ---------------------------------------------------------------

NotifyState = Literal["on", "silent", "off"]
NOTIFY_STATES: tuple[NotifyState, ...] = get_args(NotifyState)
# The words a user types (/notify scans off) and the outbox alert kinds each one covers. Alerts of other kinds
# (admin notices, access decisions, a failed order) always come: they are not something to mute.
NOTIFY_KINDS: dict[str, tuple[str, ...]] = {
    "status": ("status_change",),  # a monitored tip changed side
    "exits": ("exit", "near_target", "pnl_move"),  # a position closed, neared its target, or moved a lot
    "scans": ("scan",),  # tips of the markets the chat watches
    "summaries": ("summary",),  # the daily summary
    "announcements": ("broadcast",),  # the admins' /broadcast
}
NOTIFY_WORD_OF_KIND: dict[str, str] = {kind: word for word, kinds in NOTIFY_KINDS.items() for kind in kinds}


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


def notify_word(alert_kind: str) -> str | None:
    """The /notify word that governs an alert kind, or None when the kind is always sent."""
    return NOTIFY_WORD_OF_KIND.get(alert_kind)


def _notify_states(raw: str | None) -> dict[str, NotifyState]:
    """Every /notify word with this chat's state ("on" unless set), in NOTIFY_KINDS order."""
    stored = json.loads(raw) if raw else {}
    return {word: stored[word] if stored.get(word) in NOTIFY_STATES else "on" for word in NOTIFY_KINDS}


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

    async def notify_states(self, platform: str, chat_id: str) -> dict[str, NotifyState]:
        """Each /notify word's state in this chat (an unknown chat has everything on)."""
        raw = await self.db.scalar("SELECT notify_json FROM chats WHERE platform = ? AND chat_id = ?",
                                   (platform, str(chat_id)))
        return _notify_states(raw)

    async def set_notify(self, platform: str, chat_id: str, word: str, state: NotifyState,
                         chat_type: str | None = None) -> dict[str, NotifyState]:
        """Set one word's state (the chat row is created if needed); returns every word's state after."""
        if word not in NOTIFY_KINDS or state not in NOTIFY_STATES:
            raise ValueError(f"unknown notification {word!r} or state {state!r}")
        # "on" is the default: removing the key keeps the stored object to what differs from it.
        value = None if state == "on" else state
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chats(platform, chat_id, chat_type, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(platform, chat_id) DO UPDATE SET"
                " chat_type = COALESCE(excluded.chat_type, chats.chat_type)",
                (platform, str(chat_id), chat_type, to_db_time(utcnow())))
            await conn.execute(
                "UPDATE chats SET notify_json = CASE WHEN ? IS NULL THEN json_remove(notify_json, '$.' || ?)"
                " ELSE json_set(notify_json, '$.' || ?, ?) END WHERE platform = ? AND chat_id = ?",
                (value, word, word, value, platform, str(chat_id)))
            # The alerts of that word still waiting to go follow the new choice too: a trader who turns scans
            # off hears no more scans, not the ones already queued. (`sending` rows are already on their way.)
            kinds = NOTIFY_KINDS[word]
            marks = ", ".join("?" * len(kinds))
            waiting = (platform, str(chat_id), *kinds)
            if state == "off":
                await conn.execute(
                    "UPDATE alerts SET status = 'dropped', last_error = ? WHERE platform = ? AND chat_id = ?"
                    f" AND status = 'pending' AND kind IN ({marks})",
                    (f"notifications off in this chat: {word}", *waiting))
            else:
                await conn.execute(
                    "UPDATE alerts SET payload_json = CASE WHEN ? THEN json_set(payload_json, '$.silent', json('true'))"
                    " ELSE json_remove(payload_json, '$.silent') END WHERE platform = ? AND chat_id = ?"
                    f" AND status = 'pending' AND kind IN ({marks})",
                    (state == "silent", *waiting))
            rows = list(await conn.execute_fetchall(
                "SELECT notify_json FROM chats WHERE platform = ? AND chat_id = ?", (platform, str(chat_id))))
        return _notify_states(rows[0][0] if rows else None)
