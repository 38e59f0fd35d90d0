"""Small durable state: key/value pairs (e.g. the button-signing secret) and multi-step chat flows."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from storage.db import Database, from_db_time, to_db_time, utcnow
from storage.models import Flow


class KeyValueRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        value = await self.db.scalar("SELECT value FROM kv WHERE key = ?", (key,))
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def secret(self, key: str, nbytes: int = 32) -> bytes:
        """A random secret created once and kept, so signed buttons stay valid across restarts."""
        existing = await self.get(key)
        if existing is None:
            await self.db.execute("INSERT OR IGNORE INTO kv(key, value) VALUES (?, ?)",
                                  (key, secrets.token_hex(nbytes)))
            existing = await self.get(key)
        assert existing is not None
        return bytes.fromhex(existing)


class FlowRepository:
    """At most one open multi-step flow per user and chat; flows time out (SPEC: after 5 minutes)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, user_id: int, chat_key: str, kind: str, state: dict[str, Any],
                    ttl: timedelta = timedelta(minutes=5)) -> Flow:
        expires = utcnow() + ttl
        await self.db.execute(
            "INSERT INTO flows(user_id, chat_key, kind, state_json, expires_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(user_id, chat_key) DO UPDATE SET kind = excluded.kind,"
            " state_json = excluded.state_json, expires_at = excluded.expires_at",
            (user_id, chat_key, kind, json.dumps(state), to_db_time(expires)),
        )
        return Flow(user_id=user_id, chat_key=chat_key, kind=kind, state=state, expires_at=expires)

    async def get(self, user_id: int, chat_key: str, now: datetime | None = None) -> Flow | None:
        row = await self.db.fetchone("SELECT * FROM flows WHERE user_id = ? AND chat_key = ?",
                                     (user_id, chat_key))
        if row is None:
            return None
        expires = from_db_time(row["expires_at"])
        assert expires is not None
        if expires <= (now or utcnow()):
            await self.end(user_id, chat_key)
            return None
        return Flow(user_id=user_id, chat_key=chat_key, kind=row["kind"], state=json.loads(row["state_json"]),
                    expires_at=expires)

    async def take(self, user_id: int, chat_key: str, kind: str, nonce: str | None = None,
                   now: datetime | None = None) -> Flow | None:
        """Consume the open flow of `kind` (and `nonce`, when given): read and delete it in one statement.

        Of N identical presses racing for one confirmation exactly one gets the flow; the others get None,
        as do a flow that has expired (deleted all the same) and one replaced by a newer flow of the chat.
        """
        sql = "DELETE FROM flows WHERE user_id = ? AND chat_key = ? AND kind = ?"
        params: list[Any] = [user_id, chat_key, kind]
        if nonce is not None:
            sql += " AND json_extract(state_json, '$.nonce') = ?"
            params.append(nonce)
        async with self.db.transaction() as conn:
            rows = list(await conn.execute_fetchall(sql + " RETURNING state_json, expires_at", params))
        if not rows:
            return None
        expires = from_db_time(rows[0]["expires_at"])
        assert expires is not None
        if expires <= (now or utcnow()):
            return None
        return Flow(user_id=user_id, chat_key=chat_key, kind=kind, state=json.loads(rows[0]["state_json"]),
                    expires_at=expires)

    async def end(self, user_id: int, chat_key: str) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM flows WHERE user_id = ? AND chat_key = ?", (user_id, chat_key))
            return cur.rowcount > 0
