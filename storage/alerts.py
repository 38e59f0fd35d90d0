"""The durable alert outbox: alerts are rows before anything is sent (SPEC §5).

Life of a row: `pending` → (claimed) `sending` → `sent`; a transient error puts it back to `pending` with a
later `next_attempt_at`; `failed` after too many attempts or a permanent error; `dropped` when its chat
blocked the bot. Only rows in `sending` can be sent twice after a crash (the send went out, the `sent`
mark did not), and the drainer claims no more rows than it has sends in flight — that is the whole
duplicate bound, so `claim` must stay the only way into `sending`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

import aiosqlite
from pydantic import BaseModel

from storage.chats import notify_word
from storage.db import Database, from_db_time, to_db_time, utcnow

AlertStatus = Literal["pending", "sending", "sent", "failed", "dropped"]
STATUSES: tuple[AlertStatus, ...] = ("pending", "sending", "sent", "failed", "dropped")
MAX_ERROR_LEN = 500  # last_error is for humans; a huge exception text must not bloat the table


class Alert(BaseModel):
    id: int
    platform: str
    chat_id: str
    kind: str
    payload: dict[str, Any]
    status: AlertStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = None
    dedupe_key: str | None = None


def _alert(row: aiosqlite.Row) -> Alert:
    return Alert(
        id=row["id"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        kind=row["kind"],
        payload=json.loads(row["payload_json"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=from_db_time(row["next_attempt_at"]),
        created_at=from_db_time(row["created_at"]),
        sent_at=from_db_time(row["sent_at"]),
        last_error=row["last_error"],
        dedupe_key=row["dedupe_key"],
    )


# A row is its chat's head of line when no older row of the chat is still waiting or being sent.
_IS_HEAD = ("NOT EXISTS (SELECT 1 FROM alerts AS b WHERE b.platform = a.platform AND b.chat_id = a.chat_id"
            " AND b.status IN ('pending', 'sending') AND b.id < a.id)")
# Due heads of line, oldest due first, skipping the chats the drainer paces or is sending to.
_DUE_HEADS = ("SELECT {columns} FROM alerts AS a"
              " WHERE a.platform = ? AND a.status = 'pending' AND a.next_attempt_at <= ?"
              "   AND a.chat_id NOT IN (SELECT value FROM json_each(?)) AND " + _IS_HEAD +
              " ORDER BY a.next_attempt_at, a.id LIMIT ?")


def _due_params(platform: str, now: datetime | None, exclude_chats: Iterable[str], limit: int) -> tuple[Any, ...]:
    return platform, to_db_time(now or utcnow()), json.dumps([str(c) for c in exclude_chats]), limit


def _error(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ERROR_LEN]


# An alert to queue with a change, in the change's transaction: (platform, chat_id, kind, payload, dedupe_key).
AlertSpec = tuple[str, str, str, dict[str, Any], str | None]

# One alert row; a chat that blocked the bot gets it already `dropped`, a seen dedupe key stores nothing.
# The chat's /notify choice for the alert's word (storage.chats.NOTIFY_KINDS; NULL word: always sent) is read
# in the same statement, so every path that queues alerts obeys it: `off` stores the row `dropped` with the
# reason (counted, never sent), `silent` adds "silent": true to the payload for the sender.
_INSERT = ("INSERT INTO alerts(platform, chat_id, kind, payload_json, status, next_attempt_at, created_at,"
           " dedupe_key, last_error)"
           " SELECT :platform, :chat_id, :kind,"
           "        CASE WHEN n.state = 'silent' THEN json_set(:payload, '$.silent', json('true')) ELSE :payload END,"
           "        CASE WHEN n.blocked_at IS NULL AND n.state IS NOT 'off' THEN 'pending' ELSE 'dropped' END,"
           "        :due, :now, :dedupe,"
           "        CASE WHEN n.blocked_at IS NOT NULL THEN 'chat blocked: ' || n.blocked_reason"
           "             WHEN n.state = 'off' THEN 'notifications off in this chat: ' || :word END"
           " FROM (SELECT c.blocked_at, c.blocked_reason, json_extract(c.notify_json, '$.' || :word) AS state"
           "       FROM (SELECT 1) LEFT JOIN chats c ON c.platform = :platform AND c.chat_id = :chat_id) AS n"
           " WHERE true ON CONFLICT(dedupe_key) DO NOTHING")


def _row(platform: str, chat_id: str, kind: str, payload: dict[str, Any], due: str, now: str,
         dedupe_key: str | None) -> dict[str, Any]:
    return {"platform": platform, "chat_id": str(chat_id), "kind": kind, "payload": json.dumps(payload, default=str),
            "due": due, "now": now, "dedupe": dedupe_key, "word": notify_word(kind)}


class AlertRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(
        self,
        platform: str,
        chat_id: str,
        kind: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
        conn: aiosqlite.Connection | None = None,
        *,
        not_before: datetime | None = None,
    ) -> int:
        """Store one alert and return its id.

        Pass `conn` from an open `db.transaction()` so the alert commits (or rolls back) together with the
        change it announces. A `dedupe_key` seen before returns the existing alert's id and stores nothing.
        An alert for a chat that blocked the bot is stored already `dropped`: it stays visible in the
        counts, and the queue cannot grow for a chat nobody can reach.
        """
        if conn is None:
            async with self.db.transaction() as own:
                return await self._insert(own, platform, chat_id, kind, payload, dedupe_key, not_before)
        return await self._insert(conn, platform, chat_id, kind, payload, dedupe_key, not_before)

    async def enqueue_many(self, alerts: Iterable[AlertSpec], conn: aiosqlite.Connection) -> None:
        """`enqueue` for many alerts in the caller's transaction, as one batch (the ids are not returned).

        The monitoring cycle queues hundreds of alerts with its changes; one statement each would cost a
        round trip to the database thread per alert.
        """
        now = utcnow()
        stamp = to_db_time(now)
        rows = [_row(platform, chat_id, kind, payload, stamp, stamp, dedupe_key)
                for platform, chat_id, kind, payload, dedupe_key in alerts]
        if rows:
            await conn.executemany(_INSERT, rows)

    async def _insert(self, conn: aiosqlite.Connection, platform: str, chat_id: str, kind: str,
                      payload: dict[str, Any], dedupe_key: str | None, not_before: datetime | None) -> int:
        now = utcnow()
        due = to_db_time(max(now, not_before) if not_before else now)
        rows = await conn.execute_fetchall(  # one round trip to the database thread
            _INSERT + " RETURNING id", _row(platform, chat_id, kind, payload, due, to_db_time(now), dedupe_key))
        for row in rows:
            return int(row[0])
        existing = list(await conn.execute_fetchall("SELECT id FROM alerts WHERE dedupe_key = ?", (dedupe_key,)))
        assert existing, "an INSERT that did nothing must have hit the dedupe key"
        return int(existing[0][0])

    async def claim(self, platform: str, limit: int, now: datetime | None = None,
                    exclude_chats: Iterable[str] = ()) -> list[Alert]:
        """Mark up to `limit` due alerts `sending` and return them, oldest due first.

        At most one per chat, and only a chat's oldest unsent alert (its head of line): alerts to one chat
        go out in order, and a chat whose head waits for a flood wait or backoff holds back only itself.
        `exclude_chats` are chats the caller is pacing or already sending to.
        """
        if limit <= 0:
            return []
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(_DUE_HEADS.format(columns="a.id"),
                                               _due_params(platform, now, exclude_chats, limit))
            return await self._mark_sending(conn, [int(r[0]) for r in rows], now)

    async def candidates(self, platform: str, limit: int, now: datetime | None = None,
                         exclude_chats: Iterable[str] = ()) -> list[tuple[int, str]]:
        """(id, chat_id) of what `claim` would take, without taking it: a read, outside the write lock.

        The drainer looks ahead with this once per batch (the scan is the costly part when many chats are
        paced) and then claims single rows with `claim_ids`, which re-checks everything atomically.
        """
        rows = await self.db.fetchall(_DUE_HEADS.format(columns="a.id, a.chat_id"),
                                      _due_params(platform, now, exclude_chats, limit))
        return [(int(r[0]), str(r[1])) for r in rows]

    async def claim_ids(self, ids: list[int], now: datetime | None = None,
                        conn: aiosqlite.Connection | None = None) -> list[Alert]:
        """Mark these alerts `sending` if they are still pending, due and their chat's head of line."""
        if not ids:
            return []
        if conn is not None:
            return await self._mark_sending(conn, ids, now)
        async with self.db.transaction() as own:
            return await self._mark_sending(own, ids, now)

    async def _mark_sending(self, conn: aiosqlite.Connection, ids: list[int], now: datetime | None) -> list[Alert]:
        if not ids:
            return []
        rows = await conn.execute_fetchall(
            "UPDATE alerts AS a SET status = 'sending', attempts = attempts + 1"
            " WHERE a.id IN (SELECT value FROM json_each(?)) AND a.status = 'pending' AND a.next_attempt_at <= ?"
            f"   AND {_IS_HEAD} RETURNING *",
            (json.dumps(ids), to_db_time(now or utcnow())),
        )
        return sorted((_alert(row) for row in rows), key=lambda a: (a.next_attempt_at, a.id))

    async def mark_sent(self, alert_id: int, sent_at: datetime | None = None,
                        conn: aiosqlite.Connection | None = None) -> None:
        await self._write(conn, "UPDATE alerts SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                          (to_db_time(sent_at or utcnow()), alert_id))

    async def mark_retry(self, alert_id: int, delay_s: float, error: str, *, count_attempt: bool = True,
                         now: datetime | None = None, conn: aiosqlite.Connection | None = None) -> None:
        """Back to `pending`, due after `delay_s`. A flood wait is not the alert's fault: with
        `count_attempt=False` it does not use up one of the alert's attempts."""
        due = (now or utcnow()) + timedelta(seconds=max(delay_s, 0.0))
        await self._write(conn, "UPDATE alerts SET status = 'pending', next_attempt_at = ?, last_error = ?,"
                                " attempts = attempts - ? WHERE id = ?",
                          (to_db_time(due), _error(error), 0 if count_attempt else 1, alert_id))

    async def mark_failed(self, alert_id: int, error: str, conn: aiosqlite.Connection | None = None) -> None:
        await self._write(conn, "UPDATE alerts SET status = 'failed', last_error = ? WHERE id = ?",
                          (_error(error), alert_id))

    async def mark_dropped(self, alert_id: int, reason: str, conn: aiosqlite.Connection | None = None) -> None:
        await self._write(conn, "UPDATE alerts SET status = 'dropped', last_error = ? WHERE id = ?",
                          (_error(reason), alert_id))

    async def drop_for_chat(self, platform: str, chat_id: str, reason: str,
                            conn: aiosqlite.Connection | None = None) -> int:
        """Every not-yet-sent alert of the chat becomes `dropped`; returns how many.

        `sending` rows are left alone: their sender marks them itself when its send returns.
        """
        return await self._write(conn, "UPDATE alerts SET status = 'dropped', last_error = ?"
                                       " WHERE platform = ? AND chat_id = ? AND status = 'pending'",
                                 (_error(reason), platform, str(chat_id)))

    async def _write(self, conn: aiosqlite.Connection | None, sql: str, params: tuple[Any, ...]) -> int:
        """One statement inside the caller's transaction, or in its own; returns the rows changed."""
        if conn is not None:
            cur = await conn.execute(sql, params)
            return cur.rowcount
        async with self.db.transaction() as own:
            cur = await own.execute(sql, params)
            return cur.rowcount

    async def recover_in_flight(self, platform: str) -> int:
        """At start-up, before draining: rows left `sending` by a dead process become `pending` again.

        Those are the only alerts that may be delivered twice (sent, but the process died before marking
        them), and there are never more of them than the drainer's max_in_flight.
        """
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE alerts SET status = 'pending', last_error = 'recovered after a restart'"
                " WHERE platform = ? AND status = 'sending'", (platform,))
            return cur.rowcount

    async def exists(self, dedupe_key: str) -> bool:
        """Whether an alert with this dedupe key was ever queued (in any status)."""
        return bool(await self.db.scalar("SELECT 1 FROM alerts WHERE dedupe_key = ?", (dedupe_key,)))

    def transaction(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]:
        """One write transaction for several of this repository's `conn=` calls (and its neighbours')."""
        return self.db.transaction()

    async def get(self, alert_id: int) -> Alert | None:
        row = await self.db.fetchone("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return _alert(row) if row else None

    async def for_chat(self, platform: str, chat_id: str, limit: int = 100) -> list[Alert]:
        rows = await self.db.fetchall(
            "SELECT * FROM alerts WHERE platform = ? AND chat_id = ? ORDER BY id LIMIT ?",
            (platform, str(chat_id), limit))
        return [_alert(r) for r in rows]

    async def counts(self, platform: str | None = None) -> dict[str, dict[str, int]]:
        """{kind: {status: n}} with every status present (0 when none), for /stats."""
        where, params = ("WHERE platform = ?", (platform,)) if platform else ("", ())
        rows = await self.db.fetchall(
            f"SELECT kind, status, COUNT(*) AS n FROM alerts {where} GROUP BY kind, status", params)
        out: dict[str, dict[str, int]] = {}
        for row in rows:
            out.setdefault(row["kind"], dict.fromkeys(STATUSES, 0))[row["status"]] = int(row["n"])
        return out

    async def status_totals(self, platform: str | None = None) -> dict[str, int]:
        """{status: n} over all kinds."""
        totals = dict.fromkeys(STATUSES, 0)
        for by_status in (await self.counts(platform)).values():
            for status, n in by_status.items():
                totals[status] += n
        return totals

    async def recent_sends(self, platform: str, since: datetime) -> list[tuple[str, datetime]]:
        """(chat_id, sent_at) of alerts sent since `since`, oldest first — to resume per-chat pacing
        after a restart instead of bursting at chats that were just written to."""
        rows = await self.db.fetchall(
            "SELECT chat_id, sent_at FROM alerts WHERE platform = ? AND sent_at >= ? ORDER BY sent_at",
            (platform, to_db_time(since)))
        out = []
        for row in rows:
            sent = from_db_time(row["sent_at"])
            assert sent is not None
            out.append((row["chat_id"], sent))
        return out
