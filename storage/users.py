"""Users: registration on first message, lookups by id or platform identity, per-user settings."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from storage.db import Database, from_db_time, to_db_time, utcnow
from storage.models import User


def _user(row: aiosqlite.Row) -> User:
    return User(
        id=row["id"],
        identity=row["identity"],
        platform=row["platform"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        state=row["state"],
        settings=json.loads(row["settings_json"]),
        created_at=from_db_time(row["created_at"]),
        last_seen_at=from_db_time(row["last_seen_at"]),
        expires_at=from_db_time(row["expires_at"]),
    )


class UserRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: int) -> User | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    async def by_identity(self, identity: str) -> User | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE identity = ?", (identity,))
        return _user(row) if row else None

    async def register(
        self,
        identity: str,
        role: str,
        *,
        username: str | None = None,
        display_name: str | None = None,
        state: str = "active",
        expires_at: datetime | None = None,
    ) -> tuple[User, bool]:
        """Return the user for `identity`, creating it if new (and saying so); refreshes names/last seen."""
        now = to_db_time(utcnow())
        platform = identity.partition(":")[0]
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO users(identity, platform, username, display_name, role, state, created_at,"
                " last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(identity) DO UPDATE SET last_seen_at = excluded.last_seen_at,"
                " username = COALESCE(excluded.username, users.username),"
                " display_name = COALESCE(excluded.display_name, users.display_name)"
                " RETURNING id, created_at = last_seen_at AS created",
                (identity, platform, username, display_name, role, state, now, now,
                 to_db_time(expires_at) if expires_at else None),
            )
            row = await cur.fetchone()
            await cur.close()
        assert row is not None
        user = await self.get(int(row[0]))
        assert user is not None
        return user, bool(row[1])

    async def update_settings(self, user_id: int, settings: dict[str, Any]) -> None:
        await self.db.execute(
            "UPDATE users SET settings_json = ? WHERE id = ?", (json.dumps(settings, sort_keys=True), user_id)
        )

    async def set_role(self, user_id: int, role: str) -> None:
        await self.db.execute("UPDATE users SET role = ? WHERE id = ?", (role, user_id))

    async def count(self) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM users"))
