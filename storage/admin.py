"""Admin-side storage: the audit log, user <-> admin messages, user lifecycle changes and counts."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import aiosqlite
from pydantic import BaseModel

from storage.alerts import AlertRepository, AlertSpec
from storage.db import Database, from_db_time, to_db_time, utcnow
from storage.models import User
from storage.users import _user


class AuditEntry(BaseModel):
    id: int
    actor: str
    action: str
    target: str | None
    result: str
    detail: dict[str, Any]
    created_at: datetime


class ContactMessage(BaseModel):
    id: int
    user_id: int
    identity: str
    text: str
    reply_text: str | None
    created_at: datetime
    replied_at: datetime | None


def anonymous_id(identity: str) -> str:
    """What stays of a forgotten user in the audit log: a stable, non-reversible tag."""
    return "anon:" + hashlib.sha256(identity.encode()).hexdigest()[:10]


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, actor: User | None, action: str, target: str | None, result: str,
                     **detail: Any) -> int:
        async with self.db.transaction() as conn:
            return await self._insert(conn, actor, action, target, result, detail)

    async def record_with_alerts(self, actor: User | None, action: str, target: str | None, result: str,
                                 alerts: list[AlertSpec], **detail: Any) -> int:
        """Queue `alerts` and write their audit row in one transaction: all of them or none (a broadcast
        killed half-way must neither reach some users unrecorded nor leave a row for copies never queued)."""
        async with self.db.transaction() as conn:
            await AlertRepository(self.db).enqueue_many(alerts, conn)
            return await self._insert(conn, actor, action, target, result, detail)

    @staticmethod
    async def _insert(conn: aiosqlite.Connection, actor: User | None, action: str, target: str | None,
                      result: str, detail: dict[str, Any]) -> int:
        cur = await conn.execute(
            "INSERT INTO audit(actor_id, actor, action, target, result, detail_json, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (actor.id if actor else None, actor.identity if actor else "system", action, target, result,
             json.dumps(detail, default=str), to_db_time(utcnow())),
        )
        return int(cur.lastrowid or 0)

    async def recent(self, about: str | None = None, limit: int = 20, offset: int = 0) -> list[AuditEntry]:
        if about:
            rows = await self.db.fetchall(
                "SELECT * FROM audit WHERE actor = ? OR target = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                (about, about, limit, offset))
        else:
            rows = await self.db.fetchall("SELECT * FROM audit ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
        return [AuditEntry(id=r["id"], actor=r["actor"], action=r["action"], target=r["target"],
                           result=r["result"], detail=json.loads(r["detail_json"]),
                           created_at=from_db_time(r["created_at"])) for r in rows]

    async def count(self, about: str | None = None) -> int:
        if about:
            return int(await self.db.scalar("SELECT COUNT(*) FROM audit WHERE actor = ? OR target = ?",
                                            (about, about)))
        return int(await self.db.scalar("SELECT COUNT(*) FROM audit"))


class MessageRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, user_id: int, text: str) -> int:
        return await self.db.execute("INSERT INTO messages(user_id, text, created_at) VALUES (?, ?, ?)",
                                     (user_id, text, to_db_time(utcnow())))

    async def get(self, message_id: int) -> ContactMessage | None:
        row = await self.db.fetchone(
            "SELECT m.*, u.identity FROM messages m JOIN users u ON u.id = m.user_id WHERE m.id = ?", (message_id,))
        return _message(row) if row else None

    async def inbox(self, limit: int = 20) -> list[ContactMessage]:
        """Open messages first (oldest first, so none is forgotten), then the latest answered ones."""
        rows = await self.db.fetchall(
            "SELECT m.*, u.identity FROM messages m JOIN users u ON u.id = m.user_id"
            " ORDER BY m.replied_at IS NOT NULL, CASE WHEN m.replied_at IS NULL THEN m.id END ASC, m.id DESC"
            " LIMIT ?", (limit,))
        return [_message(r) for r in rows]

    async def open_count(self) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM messages WHERE replied_at IS NULL"))

    async def reply(self, message_id: int, admin_id: int, text: str) -> None:
        await self.db.execute(
            "UPDATE messages SET reply_text = ?, replied_by = ?, replied_at = ? WHERE id = ?",
            (text, admin_id, to_db_time(utcnow()), message_id))


def _message(row: aiosqlite.Row) -> ContactMessage:
    return ContactMessage(id=row["id"], user_id=row["user_id"], identity=row["identity"], text=row["text"],
                          reply_text=row["reply_text"], created_at=from_db_time(row["created_at"]),
                          replied_at=from_db_time(row["replied_at"]))


class UserAdminRepository:
    """Lifecycle changes an admin makes, and the listings they read."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_access(self, user_id: int, *, role: str | None = None, state: str | None = None,
                         expires_at: datetime | bool | None = False) -> None:
        """Change role/state/expiry; `expires_at=None` clears the expiry, False leaves it as it is."""
        sets, params = [], []
        if role is not None:
            sets.append("role = ?")
            params.append(role)
        if state is not None:
            sets.append("state = ?")
            params.append(state)
        if expires_at is not False:
            sets.append("expires_at = ?")
            params.append(to_db_time(expires_at) if isinstance(expires_at, datetime) else None)
        if sets:
            await self.db.execute(f"UPDATE users SET {', '.join(sets)} WHERE id = ?", [*params, user_id])

    async def decide_pending(self, user_id: int, *, state: str, role: str | None = None,
                             expires_at: datetime | None = None) -> bool:
        """Approve or reject a user waiting for approval, in one conditional statement: of several presses
        (or admins) deciding at once exactly one changes the user; False when they no longer wait."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE users SET state = ?, role = COALESCE(?, role), expires_at = COALESCE(?, expires_at)"
                " WHERE id = ? AND role = 'pending' AND state = 'active'",
                (state, role, to_db_time(expires_at) if expires_at else None, user_id))
            return cur.rowcount > 0

    async def list(self, role: str | None = None, state: str | None = None, limit: int = 20,
                   offset: int = 0) -> tuple[list[User], int]:
        where, params = _filters(role, state)
        total = int(await self.db.scalar(f"SELECT COUNT(*) FROM users {where}", params))
        rows = await self.db.fetchall(f"SELECT * FROM users {where} ORDER BY id LIMIT ? OFFSET ?",
                                      [*params, limit, offset])
        return [_user(r) for r in rows], total

    async def admins(self) -> list[User]:
        rows = await self.db.fetchall("SELECT * FROM users WHERE role = 'admin' AND state = 'active' ORDER BY id")
        return [_user(r) for r in rows]

    async def active_users(self) -> list[User]:
        rows = await self.db.fetchall("SELECT * FROM users WHERE state = 'active' AND role != 'pending'"
                                      " AND (expires_at IS NULL OR expires_at > ?) ORDER BY id",
                                      (to_db_time(utcnow()),))
        return [_user(r) for r in rows]

    async def counts_by(self, column: str, table: str = "users") -> dict[str, int]:
        if (table, column) not in {("users", "role"), ("users", "state"), ("signals", "recommendation"),
                                   ("signals", "status")}:
            raise ValueError("not a countable column")
        rows = await self.db.fetchall(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column} ORDER BY {column}")
        return {r[0]: int(r[1]) for r in rows}

    async def activity_since(self, since: datetime) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM activity WHERE created_at >= ?", (to_db_time(since),)))

    async def tombstone(self, user: User) -> None:
        """Delete a user but keep their tips (attached to an anonymous tombstone row)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE users SET identity = ?, username = NULL, display_name = NULL, state = 'deleted',"
                " role = 'viewer', settings_json = '{}' WHERE id = ?", (f"deleted:{user.id}", user.id))
            await conn.execute("DELETE FROM flows WHERE user_id = ?", (user.id,))
            await conn.execute("DELETE FROM messages WHERE user_id = ?", (user.id,))
            await _anonymise_audit(conn, user)

    async def delete(self, user: User) -> dict[str, int]:
        """Delete a user and everything of theirs (tips, history, messages); audit keeps an anonymous id."""
        counts = {
            "signals": int(await self.db.scalar("SELECT COUNT(*) FROM signals WHERE user_id = ?", (user.id,))),
            "messages": int(await self.db.scalar("SELECT COUNT(*) FROM messages WHERE user_id = ?", (user.id,))),
        }
        async with self.db.transaction() as conn:
            await _anonymise_audit(conn, user)
            await conn.execute("DELETE FROM activity WHERE user_id = ?", (user.id,))
            await conn.execute("DELETE FROM users WHERE id = ?", (user.id,))  # cascades to tips, flows, messages
        return counts


async def _anonymise_audit(conn: aiosqlite.Connection, user: User) -> None:
    anon = anonymous_id(user.identity)
    await conn.execute("UPDATE audit SET actor = ?, actor_id = NULL WHERE actor_id = ? OR actor = ?",
                       (anon, user.id, user.identity))
    await conn.execute("UPDATE audit SET target = ? WHERE target = ?", (anon, user.identity))


def _filters(role: str | None, state: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if role:
        clauses.append("role = ?")
        params.append(role)
    if state == "expired":
        clauses.append("expires_at IS NOT NULL AND expires_at <= ?")
        params.append(to_db_time(utcnow()))
    elif state:
        clauses.append("state = ?")
        params.append(state)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


class ChatSettingsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, platform: str, chat_id: str) -> dict[str, Any]:
        raw = await self.db.scalar("SELECT settings_json FROM chat_settings WHERE platform = ? AND chat_id = ?",
                                   (platform, chat_id))
        return json.loads(raw) if raw else {}

    async def update(self, platform: str, chat_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        current = await self.get(platform, chat_id)
        current.update(changes)
        await self.db.execute(
            "INSERT INTO chat_settings(platform, chat_id, settings_json, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(platform, chat_id) DO UPDATE SET settings_json = excluded.settings_json,"
            " updated_at = excluded.updated_at",
            (platform, chat_id, json.dumps(current, sort_keys=True), to_db_time(utcnow())))
        return current
