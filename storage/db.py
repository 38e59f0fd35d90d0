"""The SQLite database: one aiosqlite connection in WAL mode, versioned migrations applied at open.

WAL lets readers go on while a writer commits, and with `synchronous=NORMAL` a committed transaction
survives a killed process (only an OS crash may lose the last commits). Writes that belong together go
through `transaction()` so nothing is ever stored half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db_time(value: datetime) -> str:
    """Timestamps are stored as ISO-8601 UTC with microseconds, so text order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    # fromisoformat is ~20x faster than strptime; it matters when a monitoring cycle loads 10,000 tips.
    return datetime.fromisoformat(value)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every file in storage/migrations, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class DatabaseUnavailable(Exception):
    """The database file cannot be created, opened or migrated; the message is one line naming the file."""


class Database:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def open(self) -> Database:
        """Connect, set the pragmas and migrate; DatabaseUnavailable (one line naming the file) if it cannot.

        A connection that fails half-way is closed here: aiosqlite's worker thread is not a daemon, and left
        running it keeps the process from ever exiting (a corrupt file used to hang start-up)."""
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                # A file that cannot be opened or is not a database fails here, in plain sqlite3: a failed
                # aiosqlite.connect leaves its worker thread to finish after the event loop is gone.
                await asyncio.to_thread(_probe, self.path)
            self._conn = await aiosqlite.connect(self.path, isolation_level=None)
            self._conn.row_factory = aiosqlite.Row
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute("PRAGMA synchronous=NORMAL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._conn.execute("PRAGMA busy_timeout=5000")
            # Checkpoint every ~80 MB of WAL instead of every 4 MB: a checkpoint costs two fsyncs whatever its
            # size, and a monitoring cycle over 10,000 tips writes a few MB, so the default paid them per cycle.
            await self._conn.execute("PRAGMA wal_autocheckpoint=20000")
            await self.migrate()
        except (OSError, sqlite3.Error) as exc:
            await self.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DatabaseUnavailable(f"cannot use the database {self.path}: {reason}") from None
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._conn is not None:
            if self.path != ":memory:":
                # Fold the WAL into the main file on the way out, so a stopped bot leaves one whole file.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        async with self.conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> list[str]:
        """Apply every migration newer than the file's version, each in its own transaction."""
        applied = []
        current = await self.schema_version()
        for version, name, sql in migrations():
            if version <= current:
                continue
            async with self.transaction() as conn:
                # executescript would COMMIT on its own; run the statements one by one inside our BEGIN.
                for statement in _split_sql(sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version(version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, to_db_time(utcnow())),
                )
            applied.append(name)
            log.info("applied migration %s", name)
        return applied

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error; one writer at a time in this process."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """A single write in its own transaction; returns lastrowid."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, tuple(params))
            return int(cur.lastrowid or 0)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, tuple(params)) as cur:
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return row[0] if row is not None else None


def _probe(path: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA schema_version").fetchone()  # reads the header: "file is not a database"
    finally:
        conn.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration file into statements (our files keep one statement per `;`-terminated block)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
