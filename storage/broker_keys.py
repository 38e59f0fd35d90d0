"""Per-user broker keys, as the encrypted tokens the core hands over: this repository never sees a key in
clear and cannot decrypt one (the master key lives in the process's environment, bot.core.vault)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.db import Database, from_db_time, to_db_time, utcnow


@dataclass(frozen=True)
class StoredKeys:
    user_id: int
    broker: str
    key_token: str
    secret_token: str
    created_at: datetime


class BrokerKeyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, user_id: int, broker: str, key_token: str, secret_token: str) -> None:
        """Store (or replace) a user's tokens for a broker."""
        await self.db.execute(
            "INSERT INTO broker_keys(user_id, broker, key_token, secret_token, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(user_id, broker) DO UPDATE SET key_token = excluded.key_token,"
            " secret_token = excluded.secret_token, created_at = excluded.created_at",
            (user_id, broker, key_token, secret_token, to_db_time(utcnow())))

    async def get(self, user_id: int, broker: str) -> StoredKeys | None:
        row = await self.db.fetchone("SELECT * FROM broker_keys WHERE user_id = ? AND broker = ?", (user_id, broker))
        return None if row is None else _stored(row)

    async def of_user(self, user_id: int) -> list[StoredKeys]:
        rows = await self.db.fetchall("SELECT * FROM broker_keys WHERE user_id = ? ORDER BY broker", (user_id,))
        return [_stored(row) for row in rows]

    async def delete(self, user_id: int, broker: str) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM broker_keys WHERE user_id = ? AND broker = ?", (user_id, broker))
            return cur.rowcount > 0

    async def rotate_all(self, rotate: Callable[[str], str]) -> int:
        """Replace every token by `rotate(token)` (re-encrypted under the newest master key) in one transaction:
        a token that fails to rotate rolls all of them back, so no row is left under a key about to be retired."""
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT user_id, broker, key_token, secret_token FROM broker_keys") as cur:
                rows = list(await cur.fetchall())
            for row in rows:
                await conn.execute(
                    "UPDATE broker_keys SET key_token = ?, secret_token = ? WHERE user_id = ? AND broker = ?",
                    (rotate(row["key_token"]), rotate(row["secret_token"]), row["user_id"], row["broker"]))
        return len(rows)


def _stored(row: aiosqlite.Row) -> StoredKeys:
    created = from_db_time(row["created_at"])
    assert created is not None
    return StoredKeys(user_id=row["user_id"], broker=row["broker"], key_token=row["key_token"],
                      secret_token=row["secret_token"], created_at=created)
