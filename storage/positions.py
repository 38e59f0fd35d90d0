"""Positions, their broker orders and paper accounts. Every state change that moves money is one
transaction with its alerts, so a crash leaves either the old state or the new one, never half of each.

The lifecycle: `pending` (row and entry order stored BEFORE the broker is called) → `open` (fill stored)
or `failed`; `open` → `closing` (exit order stored before the broker is called) → `closed`. Pending and
closing rows are what reconciliation looks at after a timeout or a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import aiosqlite

from engine.brokers.base import Fill, Side
from engine.positions import Position
from storage.alerts import AlertRepository, AlertSpec
from storage.db import Database, from_db_time, to_db_time, utcnow

R = TypeVar("R")


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _position(r: aiosqlite.Row) -> Position:
    return Position(
        id=r["id"], user_id=r["user_id"], signal_id=r["signal_id"], platform=r["platform"], chat_id=r["chat_id"],
        symbol=r["symbol"], side=Side(r["side"]), broker=r["broker"], status=r["status"],
        notional=Decimal(r["notional"]), quantity=_d(r["quantity"]), entry_price=_d(r["entry_price"]),
        entry_fee=_d(r["entry_fee"]), stop_loss=_d(r["stop_loss"]), take_profit=_d(r["take_profit"]),
        price_decimals=r["price_decimals"], trail_extreme=_d(r["trail_extreme"]),
        trail_active=bool(r["trail_active"]), last_price=_d(r["last_price"]), last_alert_pnl=r["last_alert_pnl"],
        near_target_sent=bool(r["near_target_sent"]),
        exit_price=_d(r["exit_price"]), exit_fee=_d(r["exit_fee"]), exit_reason=r["exit_reason"],
        pnl_abs=_d(r["pnl_abs"]), pnl_pct=r["pnl_pct"], error=r["error"], created_at=from_db_time(r["created_at"]),
        opened_at=from_db_time(r["opened_at"]), closed_at=from_db_time(r["closed_at"]),
    )


@dataclass(frozen=True)
class AccountState:
    """What the risk checks of an open read: the paper cash, the positions held (pending, open, closing),
    the trades of the day and whether the tip already has a position."""

    cash: Decimal
    held: list[Position]
    trades_today: int
    duplicate: bool


class PaperAccount:
    def __init__(self, cash: Decimal, starting_equity: Decimal, reset_at: datetime) -> None:
        self.cash = cash
        self.starting_equity = starting_equity
        self.reset_at = reset_at


class PositionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.alerts = AlertRepository(db)
        # Bumped whenever the set of open positions changes through this repository, so the position
        # monitor can keep its in-memory book between ticks instead of re-reading every row every 5 s.
        self.open_set_version = 0

    # ---- paper accounts ------------------------------------------------------------------------------

    async def paper_account(self, user_id: int, starting_equity: Decimal) -> PaperAccount:
        now = to_db_time(utcnow())
        await self.db.execute(
            "INSERT OR IGNORE INTO paper_accounts(user_id, cash, starting_equity, reset_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)", (user_id, str(starting_equity), str(starting_equity), now, now))
        row = await self.db.fetchone("SELECT * FROM paper_accounts WHERE user_id = ?", (user_id,))
        assert row is not None
        return PaperAccount(Decimal(row["cash"]), Decimal(row["starting_equity"]), from_db_time(row["reset_at"]))

    async def reset_paper(self, user_id: int, starting_equity: Decimal) -> None:
        now = to_db_time(utcnow())
        await self.db.execute(
            "INSERT INTO paper_accounts(user_id, cash, starting_equity, reset_at, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(user_id) DO UPDATE SET cash = excluded.cash, starting_equity = excluded.starting_equity,"
            " reset_at = excluded.reset_at, updated_at = excluded.updated_at",
            (user_id, str(starting_equity), str(starting_equity), now, now))

    @staticmethod
    async def _move_cash(conn: aiosqlite.Connection, user_id: int, delta: Decimal) -> None:
        row = await (await conn.execute("SELECT cash FROM paper_accounts WHERE user_id = ?", (user_id,))).fetchone()
        if row is None:
            raise RuntimeError("paper account missing")
        await conn.execute("UPDATE paper_accounts SET cash = ?, updated_at = ? WHERE user_id = ?",
                           (str(Decimal(row[0]) + delta), to_db_time(utcnow()), user_id))

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def create_pending_checked(
            self, *, user_id: int, signal_id: int | None, platform: str, chat_id: str, symbol: str, side: Side,
            broker: str, notional: Decimal, stop_loss: Decimal | None, take_profit: Decimal | None,
            price_decimals: int, client_order_id: str, market_at: datetime, starting_equity: Decimal,
            day_starts: Mapping[str, datetime], check: Callable[[AccountState], list[R]]) -> tuple[int | None, list[R]]:
        """Store the position and its entry order as pending only if `check` finds nothing to refuse.

        One BEGIN IMMEDIATE transaction re-reads the cash, the held positions and the day's trades, asks
        `check` (pure and quick: it runs while the database is locked) and inserts: no other open can slip
        in between the checks and the row, in this process or another. Returns (position id, []) or
        (None, refusals)."""
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            await self._ensure_account(conn, user_id, starting_equity)
            state = await self._account_state(conn, user_id, signal_id, day_starts, symbol)
            refusals = check(state)
            if refusals:
                return None, refusals
            cur = await conn.execute(
                "INSERT INTO positions(user_id, signal_id, platform, chat_id, symbol, side, broker, status, notional,"
                " stop_loss, take_profit, price_decimals, market_at, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
                (user_id, signal_id, platform, chat_id, symbol, side.value, broker, str(notional), _s(stop_loss),
                 _s(take_profit), price_decimals, to_db_time(market_at), now, now))
            position_id = int(cur.lastrowid or 0)
            await conn.execute(
                "INSERT INTO orders(position_id, purpose, client_order_id, broker, status, created_at, updated_at)"
                " VALUES (?, 'entry', ?, ?, 'sent', ?, ?)", (position_id, client_order_id, broker, now, now))
        return position_id, []

    async def state_in(self, conn: aiosqlite.Connection, user_id: int, starting_equity: Decimal,
                       day_starts: Mapping[str, datetime], symbol: str) -> AccountState:
        """What the risk checks read, inside the caller's transaction (a paper grid's fills, storage.grids)."""
        await self._ensure_account(conn, user_id, starting_equity)
        return await self._account_state(conn, user_id, None, day_starts, symbol)

    async def insert_filled(self, conn: aiosqlite.Connection, *, user_id: int, platform: str, chat_id: str,
                            symbol: str, side: Side, broker: str, notional: Decimal, stop_loss: Decimal | None,
                            take_profit: Decimal | None, price_decimals: int, fill: Fill, market_at: datetime,
                            alerts: list[AlertSpec]) -> int:
        """A position whose entry fill is known before anything is stored (a paper grid's resting order the
        close crossed), stored open with its filled order, the paper cash debited and its alerts, inside the
        caller's transaction, so the grid's level and the position are written together or not at all."""
        now = to_db_time(utcnow())
        at = to_db_time(market_at)
        cur = await conn.execute(
            "INSERT INTO positions(user_id, signal_id, platform, chat_id, symbol, side, broker, status, notional,"
            " quantity, entry_price, entry_fee, stop_loss, take_profit, price_decimals, trail_extreme, last_price,"
            " market_at, opened_at, created_at, updated_at)"
            " VALUES (?, NULL, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (user_id, platform, chat_id, symbol, side.value, broker, str(notional), str(fill.quantity),
             str(fill.price), str(fill.fee), _s(stop_loss), _s(take_profit), price_decimals, str(fill.price),
             str(fill.price), at, at, now, now))
        position_id = int(cur.lastrowid or 0)
        await conn.execute(
            "INSERT INTO orders(position_id, purpose, client_order_id, broker, status, created_at, updated_at)"
            " VALUES (?, 'entry', ?, ?, 'sent', ?, ?)", (position_id, fill.client_order_id, broker, now, now))
        await self._order_done(conn, fill.client_order_id, fill)
        if broker == "paper":
            await self._move_cash(conn, user_id, -(fill.price * fill.quantity + fill.fee))
        for platform_, chat, kind, payload, dedupe in alerts:
            await self.alerts.enqueue(platform_, chat, kind, payload, dedupe, conn=conn)
        self.open_set_version += 1  # the position monitor re-reads its book
        return position_id

    async def account_state(self, user_id: int, starting_equity: Decimal, signal_id: int | None,
                            day_starts: Mapping[str, datetime], symbol: str) -> AccountState:
        """What the risk checks read, outside a transaction (a confirmation card; the open re-reads it)."""
        await self.paper_account(user_id, starting_equity)
        return await self._account_state(self.db.conn, user_id, signal_id, day_starts, symbol)

    @staticmethod
    async def _ensure_account(conn: aiosqlite.Connection, user_id: int, starting_equity: Decimal) -> None:
        now = to_db_time(utcnow())
        await conn.execute(
            "INSERT OR IGNORE INTO paper_accounts(user_id, cash, starting_equity, reset_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)", (user_id, str(starting_equity), str(starting_equity), now, now))

    @staticmethod
    async def _account_state(conn: aiosqlite.Connection, user_id: int, signal_id: int | None,
                             day_starts: Mapping[str, datetime], symbol: str) -> AccountState:
        async with conn.execute("SELECT cash FROM paper_accounts WHERE user_id = ?", (user_id,)) as cur:
            cash = Decimal((await cur.fetchone())[0])
        async with conn.execute("SELECT * FROM positions WHERE user_id = ? AND status IN ('pending', 'open',"
                                " 'closing') ORDER BY id", (user_id,)) as cur:
            held = [_position(r) for r in await cur.fetchall()]
        # A trade counts on its own symbol's market day (replay symbols each have their own clock); a symbol
        # the caller has no day for counts on the day of the symbol being opened.
        default = day_starts[symbol]
        starts = {s: to_db_time(t) for s, t in day_starts.items()}
        async with conn.execute(
                "SELECT symbol, market_at FROM positions WHERE user_id = ? AND status != 'failed'"
                " AND market_at >= ?", (user_id, min(starts.values()))) as cur:
            recent = await cur.fetchall()
        trades = sum(1 for s, at in recent if at >= starts.get(s, to_db_time(default)))
        duplicate = signal_id is not None and any(p.signal_id == signal_id for p in held)
        return AccountState(cash=cash, held=held, trades_today=trades, duplicate=duplicate)

    async def mark_open(self, position_id: int, client_order_id: str, fill: Fill, *, paper: bool,
                        alerts: list[AlertSpec], opened_at: datetime | None = None) -> bool:
        """Entry filled: position open, order filled, paper cash debited, fill alert queued — all or nothing.
        `opened_at` is the market's time of the fill (the replay's clock), else the fill's own time.
        False if the position was no longer pending (reconciled twice)."""
        now = to_db_time(utcnow())
        opened = to_db_time(opened_at or fill.filled_at or utcnow())
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE positions SET status = 'open', quantity = ?, entry_price = ?, entry_fee = ?, trail_extreme = ?,"
                " last_price = ?, opened_at = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
                (str(fill.quantity), str(fill.price), str(fill.fee), str(fill.price), str(fill.price), opened, now,
                 position_id))
            if cur.rowcount == 0:
                return False
            self.open_set_version += 1
            await self._order_done(conn, client_order_id, fill)
            if paper:
                cur = await conn.execute("SELECT user_id FROM positions WHERE id = ?", (position_id,))
                row = await cur.fetchone()
                await self._move_cash(conn, int(row[0]), -(fill.price * fill.quantity + fill.fee))
            for platform, chat_id, kind, payload, dedupe in alerts:
                await self.alerts.enqueue(platform, chat_id, kind, payload, dedupe, conn=conn)
        return True

    async def mark_failed(self, position_id: int, client_order_id: str, reason: str, order_status: str,
                          alerts: list[AlertSpec] | None = None) -> bool:
        """Never opened: position failed, order settled, and `alerts` (telling the owner when nobody is
        waiting for a reply) queued with it. False if the position was no longer pending."""
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            cur = await conn.execute("UPDATE positions SET status = 'failed', error = ?, updated_at = ? WHERE id = ?"
                                     " AND status = 'pending'", (reason[:300], now, position_id))
            await conn.execute("UPDATE orders SET status = ?, detail = ?, updated_at = ? WHERE client_order_id = ?",
                               (order_status, reason[:300], now, client_order_id))
            if cur.rowcount == 0:
                return False
            for platform, chat_id, kind, payload, dedupe in alerts or []:
                await self.alerts.enqueue(platform, chat_id, kind, payload, dedupe, conn=conn)
        return True

    async def start_closing(self, position_id: int, client_order_id: str, reason: str) -> bool:
        """Claim an open position for closing (exit order stored first). False if it is not open any more,
        so two closes (a button and the monitor) can never both run."""
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE positions SET status = 'closing', exit_reason = ?, updated_at = ?"
                " WHERE id = ? AND status = 'open'",
                (reason, now, position_id))
            if cur.rowcount == 0:
                return False
            self.open_set_version += 1
            row = await (await conn.execute("SELECT broker FROM positions WHERE id = ?", (position_id,))).fetchone()
            await conn.execute(
                "INSERT INTO orders(position_id, purpose, client_order_id, broker, status, created_at, updated_at)"
                " VALUES (?, 'exit', ?, ?, 'sent', ?, ?)", (position_id, client_order_id, row[0], now, now))
        return True

    async def reopen(self, position_id: int, client_order_id: str, reason: str) -> None:
        """The exit order was refused: the position stays open (and is said to be)."""
        now = to_db_time(utcnow())
        self.open_set_version += 1
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE positions SET status = 'open', exit_reason = NULL, error = ?, updated_at = ?"
                               " WHERE id = ? AND status = 'closing'", (reason[:300], now, position_id))
            await conn.execute("UPDATE orders SET status = 'rejected', detail = ?, updated_at = ?"
                               " WHERE client_order_id = ?", (reason[:300], now, client_order_id))

    async def mark_closed(self, position: Position, client_order_id: str, fill: Fill, pnl_abs: Decimal,
                          pnl_pct: float, *, paper: bool, alerts: list[AlertSpec],
                          closed_at: datetime | None = None) -> bool:
        """Exit filled: position closed with its PnL, order filled, paper cash back, alerts queued.
        `closed_at` is the market's time of the fill (the replay's clock), else the fill's own time."""
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE positions SET status = 'closed', exit_price = ?, exit_fee = ?, pnl_abs = ?, pnl_pct = ?,"
                " last_price = ?, closed_at = ?, updated_at = ? WHERE id = ? AND status = 'closing'",
                (str(fill.price), str(fill.fee), str(pnl_abs), pnl_pct, str(fill.price),
                 to_db_time(closed_at or fill.filled_at or utcnow()), now, position.id))
            if cur.rowcount == 0:
                return False
            await self._order_done(conn, client_order_id, fill)
            if paper:
                # Back comes what the entry cost, plus the gross result, minus the exit fee.
                assert position.entry_price is not None and position.quantity is not None
                cost = position.entry_price * position.quantity
                await self._move_cash(conn, position.user_id, cost + pnl_abs + (position.entry_fee or 0))
            for platform, chat_id, kind, payload, dedupe in alerts:
                await self.alerts.enqueue(platform, chat_id, kind, payload, dedupe, conn=conn)
        return True

    @staticmethod
    async def _order_done(conn: aiosqlite.Connection, client_order_id: str, fill: Fill) -> None:
        await conn.execute(
            "UPDATE orders SET status = ?, broker_order_id = ?, quantity = ?, price = ?, fee = ?, detail = ?,"
            " updated_at = ? WHERE client_order_id = ?",
            (fill.status.value, fill.broker_order_id, str(fill.quantity), str(fill.price), str(fill.fee),
             fill.detail[:300], to_db_time(utcnow()), client_order_id))

    async def save_alert_marks(self, rows: list[tuple[int, float, int, str]], alerts: list[AlertSpec]) -> None:
        """(id, last_alert_pnl, near_target_sent, last_price) for positions that were alerted, with the alerts."""
        if not rows and not alerts:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE positions SET last_alert_pnl = ?, near_target_sent = ?, last_price = ? WHERE id = ?",
                [(pnl, near, price, i) for i, pnl, near, price in rows])
            for platform, chat_id, kind, payload, dedupe in alerts:
                await self.alerts.enqueue(platform, chat_id, kind, payload, dedupe, conn=conn)

    # ---- the position monitor's exit state -----------------------------------------------------------

    async def open_levels(self) -> list[tuple[Any, ...]]:
        """Every open position as stored: (id, symbol, is_long, price_decimals, opened_at, entry_price,
        stop_loss, take_profit, trail_extreme, trail_active, last_alert_pnl, near_target_sent), prices as
        their exact text, for the monitor's integer-tick decisions (engine.positions.ExitBook)."""
        async with self.db.conn.execute(
            "SELECT id, symbol, side = 'long', price_decimals, opened_at, entry_price, stop_loss, take_profit,"
            " trail_extreme, trail_active, last_alert_pnl, near_target_sent FROM positions WHERE status = 'open'"
            " ORDER BY id") as cursor:
            cursor.row_factory = None  # plain tuples: sqlite3.Row objects cost more than the query itself
            return list(await cursor.fetchall())

    async def bar_marks(self) -> dict[str, datetime]:
        """Per symbol, the market time from which the monitor has not read bars yet."""
        rows = await self.db.fetchall("SELECT symbol, bars_from FROM position_bar_marks")
        return {r[0]: datetime.fromisoformat(r[1]) for r in rows}

    async def save_exit_state(self, trails: list[tuple[int, str, int]], marks: dict[str, datetime]) -> None:
        """(id, trail_extreme, trail_active) of positions whose trailing state moved, and the new marks, in one
        transaction: after a restart the monitor resumes at the marks with the state those bars produced."""
        if not trails and not marks:
            return
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE positions SET trail_extreme = ?, trail_active = ? WHERE id = ? AND status = 'open'",
                [(e, a, i) for i, e, a in trails])
            await conn.executemany(
                "INSERT INTO position_bar_marks(symbol, bars_from, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(symbol) DO UPDATE SET bars_from = excluded.bars_from, updated_at = excluded.updated_at",
                [(symbol, to_db_time(at), now) for symbol, at in marks.items()])

    # ---- reads ---------------------------------------------------------------------------------------

    async def get(self, position_id: int) -> Position | None:
        row = await self.db.fetchone("SELECT * FROM positions WHERE id = ?", (position_id,))
        return _position(row) if row else None

    async def with_status(self, *statuses: str, user_id: int | None = None,
                          brokers: list[str] | None = None) -> list[Position]:
        marks = ",".join("?" * len(statuses))
        sql = f"SELECT * FROM positions WHERE status IN ({marks})"
        params: list[Any] = list(statuses)
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        if brokers is not None:
            sql += f" AND broker IN ({','.join('?' * len(brokers))})"
            params.extend(brokers)
        rows = await self.db.fetchall(sql + " ORDER BY id", params)
        return [_position(r) for r in rows]

    async def status_counts(self) -> list[tuple[str, int]]:
        """(status, n) over every user's positions, by status name, for /stats."""
        rows = await self.db.fetchall("SELECT status, COUNT(*) FROM positions GROUP BY status ORDER BY status")
        return [(r[0], int(r[1])) for r in rows]

    async def order(self, position_id: int, purpose: str) -> str | None:
        """The newest client_order_id of a position's entry or exit."""
        return await self.db.scalar(
            "SELECT client_order_id FROM orders WHERE position_id = ? AND purpose = ? ORDER BY id DESC LIMIT 1",
            (position_id, purpose))

    async def closed(self, user_id: int, since: datetime | None = None, limit: int = 1000,
                     offset: int = 0) -> list[Position]:
        sql, params = "SELECT * FROM positions WHERE user_id = ? AND status = 'closed'", [user_id]
        if since is not None:
            sql += " AND closed_at >= ?"
            params.append(to_db_time(since))
        rows = await self.db.fetchall(sql + " ORDER BY closed_at DESC, id DESC LIMIT ? OFFSET ?",
                                      [*params, limit, offset])
        return [_position(r) for r in rows]

    async def count_closed(self, user_id: int) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM positions WHERE user_id = ? AND status = 'closed'",
                                        (user_id,)))

    async def closed_recorded_between(self, user_id: int | None, since: datetime, until: datetime
                                      ) -> list[Position]:
        """Positions whose close was *recorded* in [since, until) of wall-clock time (the daily summary's
        window), whatever market time they closed at: a closed row is not written again, so its
        `updated_at` is when its close was stored. user_id None: every user's."""
        rows = await self.db.fetchall(
            "SELECT * FROM positions WHERE (? IS NULL OR user_id = ?) AND status = 'closed'"
            " AND updated_at >= ? AND updated_at < ? ORDER BY closed_at DESC, id DESC",
            (user_id, user_id, to_db_time(since), to_db_time(until)))
        return [_position(r) for r in rows]

    async def traded_symbols(self, user_id: int) -> list[str]:
        """Every symbol the user has a position on (any status but failed): the clocks the day's count needs."""
        rows = await self.db.fetchall(
            "SELECT DISTINCT symbol FROM positions WHERE user_id = ? AND status != 'failed' ORDER BY symbol",
            (user_id,))
        return [r[0] for r in rows]
