"""The daily summary's reads (SPEC §5): which chats get one, and the tips and status changes it counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.db import Database, from_db_time, to_db_time


@dataclass(frozen=True)
class SummaryCandidate:
    platform: str
    chat_id: str
    chat: dict[str, Any]  # chat_settings
    user_id: int | None  # the user whose private chat this is; None for a group
    user_tz: str | None


@dataclass(frozen=True)
class StatusChange:
    signal_id: int
    created_at: datetime | None
    symbol: str
    timeframe: str
    data: dict[str, Any]  # the history event's data: {"old": ..., "new": ...}


# Chats that follow something, plus private chats (chat id = the user's id) where a tip was given lately.
# Blocked chats are left out: nothing can reach them until their user sends /start again.
_CANDIDATES = """
WITH wanted(platform, chat_id) AS (
    SELECT platform, chat_id FROM watchlist
    UNION SELECT platform, chat_id FROM subscriptions
    UNION SELECT s.platform, s.chat_id FROM signals s JOIN users u ON u.id = s.user_id
          WHERE s.created_at >= ? AND u.identity = s.platform || ':' || s.chat_id
)
SELECT w.platform, w.chat_id, cs.settings_json AS chat_json, u.id AS user_id, u.settings_json AS user_json
FROM wanted w
LEFT JOIN chats c ON c.platform = w.platform AND c.chat_id = w.chat_id
LEFT JOIN chat_settings cs ON cs.platform = w.platform AND cs.chat_id = w.chat_id
LEFT JOIN users u ON u.identity = w.platform || ':' || w.chat_id AND COALESCE(c.chat_type, 'private') = 'private'
    AND u.state != 'deleted'
WHERE c.blocked_at IS NULL
ORDER BY w.platform, w.chat_id
"""


class SummaryRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def candidates(self, tips_since: datetime) -> list[SummaryCandidate]:
        """Every unblocked chat that follows something or is a private chat with a tip since `tips_since`."""
        rows = await self.db.fetchall(_CANDIDATES, (to_db_time(tips_since),))
        out = []
        for r in rows:
            user_settings = json.loads(r["user_json"]) if r["user_json"] else {}
            out.append(SummaryCandidate(r["platform"], r["chat_id"],
                                        json.loads(r["chat_json"]) if r["chat_json"] else {},
                                        r["user_id"], user_settings.get("timezone")))
        return out

    async def tip_counts(self, platform: str | None, chat_id: str | None, since: datetime,
                         until: datetime) -> dict[str, int]:
        """{recommendation: n} of the tips given in a chat over [since, until); chat None: in every chat."""
        rows = await self.db.fetchall(
            "SELECT recommendation, COUNT(*) AS n FROM signals WHERE (? IS NULL OR (platform = ? AND chat_id = ?))"
            " AND created_at >= ? AND created_at < ? GROUP BY recommendation",
            (chat_id, platform, chat_id, to_db_time(since), to_db_time(until)))
        return {r["recommendation"]: int(r["n"]) for r in rows}

    async def status_changes(self, platform: str | None, chat_id: str | None, since: datetime,
                             until: datetime) -> list[StatusChange]:
        """The status changes of a chat's tips over [since, until), newest first; chat None: every chat's."""
        rows = await self.db.fetchall(
            "SELECT h.signal_id, h.created_at, h.data_json, s.symbol, s.timeframe FROM signal_history h"
            " JOIN signals s ON s.id = h.signal_id"
            " WHERE (? IS NULL OR (s.platform = ? AND s.chat_id = ?)) AND h.event = 'status_changed'"
            " AND h.created_at >= ? AND h.created_at < ? ORDER BY h.id DESC",
            (chat_id, platform, chat_id, to_db_time(since), to_db_time(until)))
        return [StatusChange(r["signal_id"], from_db_time(r["created_at"]), r["symbol"], r["timeframe"],
                             json.loads(r["data_json"] or "{}")) for r in rows]
