"""Paper grids: a grid's resting orders on its levels, and each level's state (open, filled by a held paper
position, cancelled when the grid stopped).

Every change that moves money is one transaction: a closed bar's fills (each a position opened with its fill,
its cash, its alert) are written with the level states and the bar mark they belong to, so a kill leaves
either the bar unapplied (the watcher applies it again after a restart) or applied whole — never a filled
level without its position, a position without its level, or a bar filled twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import aiosqlite

from engine.brokers.base import Fill, Side
from storage.alerts import AlertSpec
from storage.db import Database, from_db_time, to_db_time, utcnow
from storage.positions import AccountState, PositionRepository

R = TypeVar("R")
HELD = ("pending", "open", "closing")


@dataclass(frozen=True)
class GridLevelRow:
    k: int
    side: str  # "buy" or "sell"
    price: Decimal
    status: str  # open, filled, cancelled
    position_id: int | None = None  # filled: the paper position its fill opened
    entry: float | None = None  # filled: the close it filled at, as the grid's rule compares it


@dataclass(frozen=True)
class PaperGrid:
    id: int
    user_id: int
    signal_id: int | None
    platform: str
    chat_id: str
    symbol: str
    timeframe: str
    status: str  # active, stopped
    anchor: float
    params: dict[str, Any]
    size: Decimal
    price_decimals: int
    recentred: int
    last_bar_at: datetime
    last_close: float
    created_at: datetime
    stopped_at: datetime | None
    levels: list[GridLevelRow]  # highest price first

    @property
    def held(self) -> dict[int, float]:
        """The filled levels (k → the price each filled at), as `engine.strategies.grid.step_grid` takes them."""
        return {lv.k: lv.entry for lv in self.levels if lv.status == "filled" and lv.entry is not None}


@dataclass(frozen=True)
class LevelFill:
    """One level the close crossed, with the paper fill the broker gave it (computed before the transaction:
    a paper fill that is never stored does not exist anywhere)."""

    k: int
    side: Side
    notional: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    fill: Fill
    entry: float
    market_at: datetime


@dataclass(frozen=True)
class BarOutcome:
    applied: bool  # False: the grid was stopped or the bar was applied already (nothing written)
    opened: list[tuple[LevelFill, int]]  # (fill, position id)
    refused: list[tuple[LevelFill, list[Any]]]  # (fill, the risk checks that refused it): the level stays open


def _level(r: aiosqlite.Row) -> GridLevelRow:
    return GridLevelRow(k=r["k"], side=r["side"], price=Decimal(r["price"]), status=r["status"],
                        position_id=r["position_id"], entry=None if r["entry"] is None else float(r["entry"]))


def _time(value: str) -> datetime:
    moment = from_db_time(value)
    assert moment is not None
    return moment


class GridRepository:
    def __init__(self, db: Database, positions: PositionRepository) -> None:
        self.db = db
        self.positions = positions  # the one instance: its open-set version tells the monitor to re-read

    # ---- creating and stopping -----------------------------------------------------------------------

    async def create(self, *, user_id: int, signal_id: int | None, platform: str, chat_id: str, symbol: str,
                     timeframe: str, anchor: float, params: dict[str, Any], size: Decimal, price_decimals: int,
                     levels: Sequence[tuple[int, str, Decimal]], last_bar_at: datetime, last_close: float,
                     check: Callable[[AccountState], list[R]], starting_equity: Decimal,
                     day_starts: dict[str, datetime]) -> tuple[int | None, list[R]]:
        """The grid and its resting orders in one transaction, if `check` (the risk budget, on the account as
        this transaction reads it) refuses nothing. (None, []) when the tip already has a running grid."""
        now = to_db_time(utcnow())
        try:
            async with self.db.transaction() as conn:
                state = await self.positions.state_in(conn, user_id, starting_equity, day_starts, symbol)
                refusals = check(state)
                if refusals:
                    return None, refusals
                cur = await conn.execute(
                    "INSERT INTO paper_grids(user_id, signal_id, platform, chat_id, symbol, timeframe, status, anchor,"
                    " params, size, price_decimals, last_bar_at, last_close, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (user_id, signal_id, platform, chat_id, symbol, timeframe, repr(anchor),
                     json.dumps(params, sort_keys=True), str(size), price_decimals, to_db_time(last_bar_at),
                     repr(last_close), now, now))
                grid_id = int(cur.lastrowid or 0)
                await conn.executemany(
                    "INSERT INTO paper_grid_levels(grid_id, k, side, price, status) VALUES (?, ?, ?, ?, 'open')",
                    [(grid_id, k, side, str(price)) for k, side, price in levels])
        except sqlite3.IntegrityError:  # ux_paper_grids_signal: this tip's grid is already running
            return None, []
        return grid_id, []

    async def stop(self, grid_id: int) -> bool:
        """Cancel the grid's resting orders (its filled levels' positions stay open as normal positions).
        False if it was not running."""
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            cur = await conn.execute("UPDATE paper_grids SET status = 'stopped', stopped_at = ?, updated_at = ?"
                                     " WHERE id = ? AND status = 'active'", (now, now, grid_id))
            if cur.rowcount == 0:
                return False
            await conn.execute("UPDATE paper_grid_levels SET status = 'cancelled' WHERE grid_id = ?"
                               " AND status = 'open'", (grid_id,))
        return True

    # ---- the watcher -----------------------------------------------------------------------------------

    async def release_closed(self, grid_id: int) -> list[int]:
        """Levels whose position is no longer held (closed at its take-profit or stop, failed, deleted) are
        open again — or cancelled, on a stopped grid. Returns their k."""
        held = ",".join("?" * len(HELD))
        orphan = (f"position_id IS NULL OR position_id NOT IN (SELECT id FROM positions WHERE status IN ({held}))")
        async with self.db.transaction() as conn:
            async with conn.execute(f"SELECT k FROM paper_grid_levels WHERE grid_id = ? AND status = 'filled'"
                                    f" AND ({orphan}) ORDER BY k", (grid_id, *HELD)) as cur:
                ks = [int(r[0]) for r in await cur.fetchall()]
            if ks:
                await conn.execute(
                    "UPDATE paper_grid_levels SET status = CASE (SELECT status FROM paper_grids WHERE id = ?)"
                    " WHEN 'active' THEN 'open' ELSE 'cancelled' END, position_id = NULL, entry = NULL"
                    f" WHERE grid_id = ? AND status = 'filled' AND ({orphan})", (grid_id, grid_id, *HELD))
        return ks

    async def apply_bar(self, grid_id: int, bar_at: datetime, close: float, fills: Sequence[LevelFill], *,
                        check: Callable[[AccountState, LevelFill], list[Any]],
                        on_fill: Callable[[PaperGrid, LevelFill, int], list[AlertSpec]],
                        on_refused: Callable[[PaperGrid, LevelFill, list[Any]], list[AlertSpec]],
                        starting_equity: Decimal, day_starts: dict[str, datetime],
                        new_anchor: float | None = None, new_prices: dict[int, Decimal] | None = None) -> BarOutcome:
        """One closed bar of a running grid, whole or not at all: each crossed level's position (risk-checked
        on the account as the transaction reads it, the fills before it included), the level's state, the fill
        alerts, a re-centring (`new_anchor`, `new_prices` per k), and the grid's bar mark."""
        now = to_db_time(utcnow())
        opened: list[tuple[LevelFill, int]] = []
        refused: list[tuple[LevelFill, list[Any]]] = []
        async with self.db.transaction() as conn:
            grid = await self._get(conn, grid_id)
            if grid is None or grid.status != "active" or grid.last_bar_at >= bar_at:
                return BarOutcome(False, [], [])
            open_ks = {lv.k for lv in grid.levels if lv.status == "open"}
            for spec in fills:
                if spec.k not in open_ks:
                    continue
                state = await self.positions.state_in(conn, grid.user_id, starting_equity, day_starts, grid.symbol)
                refusals = check(state, spec)
                if refusals:
                    refused.append((spec, refusals))
                    await self._enqueue(conn, on_refused(grid, spec, refusals))
                    continue
                position_id = await self.positions.insert_filled(
                    conn, user_id=grid.user_id, platform=grid.platform, chat_id=grid.chat_id, symbol=grid.symbol,
                    side=spec.side, broker="paper", notional=spec.notional, stop_loss=spec.stop_loss,
                    take_profit=spec.take_profit, price_decimals=grid.price_decimals, fill=spec.fill,
                    market_at=spec.market_at, alerts=[])
                await self._enqueue(conn, on_fill(grid, spec, position_id))
                await conn.execute("UPDATE paper_grid_levels SET status = 'filled', position_id = ?, entry = ?"
                                   " WHERE grid_id = ? AND k = ? AND status = 'open'",
                                   (position_id, repr(spec.entry), grid_id, spec.k))
                opened.append((spec, position_id))
            if new_anchor is not None and new_prices is not None:
                await conn.execute("UPDATE paper_grids SET anchor = ?, recentred = recentred + 1 WHERE id = ?",
                                   (repr(new_anchor), grid_id))
                await conn.executemany("UPDATE paper_grid_levels SET price = ? WHERE grid_id = ? AND k = ?",
                                       [(str(p), grid_id, k) for k, p in new_prices.items()])
            await conn.execute("UPDATE paper_grids SET last_bar_at = ?, last_close = ?, updated_at = ? WHERE id = ?",
                               (to_db_time(bar_at), repr(close), now, grid_id))
        return BarOutcome(True, opened, refused)

    async def _enqueue(self, conn: aiosqlite.Connection, alerts: list[AlertSpec]) -> None:
        for platform, chat_id, kind, payload, dedupe in alerts:
            await self.positions.alerts.enqueue(platform, chat_id, kind, payload, dedupe, conn=conn)

    # ---- reads -------------------------------------------------------------------------------------------

    async def _get(self, conn: aiosqlite.Connection, grid_id: int) -> PaperGrid | None:
        async with conn.execute("SELECT * FROM paper_grids WHERE id = ?", (grid_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        async with conn.execute("SELECT * FROM paper_grid_levels WHERE grid_id = ? ORDER BY k DESC",
                                (grid_id,)) as cur:
            levels = [_level(r) for r in await cur.fetchall()]
        return PaperGrid(
            id=row["id"], user_id=row["user_id"], signal_id=row["signal_id"], platform=row["platform"],
            chat_id=row["chat_id"], symbol=row["symbol"], timeframe=row["timeframe"], status=row["status"],
            anchor=float(row["anchor"]), params=json.loads(row["params"]), size=Decimal(row["size"]),
            price_decimals=row["price_decimals"], recentred=row["recentred"],
            last_bar_at=_time(row["last_bar_at"]), last_close=float(row["last_close"]),
            created_at=_time(row["created_at"]), stopped_at=from_db_time(row["stopped_at"]),
            levels=levels)

    async def get(self, grid_id: int) -> PaperGrid | None:
        return await self._get(self.db.conn, grid_id)

    async def active(self) -> list[PaperGrid]:
        rows = await self.db.fetchall("SELECT id FROM paper_grids WHERE status = 'active' ORDER BY id")
        return [g for g in [await self.get(int(r[0])) for r in rows] if g is not None]

    async def for_user(self, user_id: int, limit: int, offset: int) -> list[PaperGrid]:
        """The user's grids, newest first."""
        rows = await self.db.fetchall("SELECT id FROM paper_grids WHERE user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                                      (user_id, limit, offset))
        return [g for g in [await self.get(int(r[0])) for r in rows] if g is not None]

    async def count_for_user(self, user_id: int) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM paper_grids WHERE user_id = ?", (user_id,)))

    async def for_signal(self, signal_id: int) -> PaperGrid | None:
        """The tip's running grid, if any."""
        grid_id = await self.db.scalar("SELECT id FROM paper_grids WHERE signal_id = ? AND status = 'active'",
                                       (signal_id,))
        return None if grid_id is None else await self.get(int(grid_id))
