"""The activity log: what each user did (tips generated, settings changed, refusals)."""

from __future__ import annotations

import json
from typing import Any

from storage.db import Database, from_db_time, to_db_time, utcnow
from storage.models import ActivityEntry


class ActivityRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def log(self, user_id: int | None, kind: str, description: str, **data: Any) -> int:
        return await self.db.execute(
            "INSERT INTO activity(user_id, kind, description, data_json, created_at) VALUES (?, ?, ?, ?, ?)",
            (user_id, kind, description, json.dumps(data, default=str), to_db_time(utcnow())),
        )

    async def recent(self, user_id: int | None = None, limit: int = 20, offset: int = 0) -> list[ActivityEntry]:
        where, params = ("WHERE user_id = ?", [user_id]) if user_id is not None else ("", [])
        rows = await self.db.fetchall(
            f"SELECT * FROM activity {where} ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset]
        )
        return [
            ActivityEntry(id=r["id"], user_id=r["user_id"], kind=r["kind"], description=r["description"],
                          data=json.loads(r["data_json"]), created_at=from_db_time(r["created_at"]))
            for r in rows
        ]
