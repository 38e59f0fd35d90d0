"""Storage side of the signal monitor: active tips as columns, compact per-cycle records, status changes with
their alerts committed together, expiry.

A cycle over 10,000 tips must not build 10,000 `Signal` models or read 10,000 ~4 KB rows: what it reads
every cycle comes from the `ix_signals_status` covering index and the small `monitor_tips` table (the
thresholds, weights and creation bar, copied once per tip from its data_json; see migration 006).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, Protocol

import numpy as np

from engine.models import Recommendation, Signal, SignalParams
from engine.reevaluate import CODES
from storage.alerts import AlertRepository, AlertSpec
from storage.db import Database, from_db_time, to_db_time, utcnow
from storage.follows import ALL
from storage.models import User
from storage.signals import _dec, _signal
from storage.users import _user

# Each cycle reads every active tip as one fixed-width hex record, a group's records as one string: the
# id and recommendation from the signals index (printf in SQL), then monitor_tips.packed (written by
# `_packed`). 10,000 rows of Python values would cost more than all the SQL.
_RECORD = np.dtype([("id", ">u8"), ("code", "u1"), ("buy", "<f8"), ("sell", "<f8"), ("tw", "<f8"), ("sw", "<f8"),
                    ("scale", "<f8"), ("born", "<f8")])
_PACKED = struct.Struct("<6d")  # buy .. born of _RECORD
_CODE_SQL = ("CASE s.recommendation "  # code + 1, so it fits one unsigned byte
             + " ".join(f"WHEN '{r.value}' THEN {c + 1}" for r, c in CODES.items()) + " END")
_ACTIVE_SQL = (
    "SELECT s.symbol, s.timeframe, COUNT(*) - COUNT(m.signal_id),"
    f" group_concat(printf('%016X%02X', s.id, {_CODE_SQL}) || m.packed, '')"
    " FROM signals s LEFT JOIN monitor_tips m ON m.signal_id = s.id"
    " WHERE s.status = 'active' GROUP BY s.symbol, s.timeframe ORDER BY s.symbol, s.timeframe")
# MACD scales as numbers: 0 is "atr", -1 any scale technical_score refuses, else the divisor itself.
_ATR_SCALE, _BAD_SCALE = 0.0, -1.0


def _scale_number(scale: str | float) -> float:
    if scale == "atr":
        return _ATR_SCALE
    try:
        value = float(scale)
    except ValueError:
        return _BAD_SCALE
    return value if math.isfinite(value) and value > 0 else _BAD_SCALE


def _scale(number: float) -> str | float:
    return "atr" if number == _ATR_SCALE else float(number)


def _packed(params: SignalParams, created_bar_ts: float) -> str:
    return _PACKED.pack(params.buy_threshold, params.sell_threshold, params.technical_weight,
                        params.sentiment_weight, _scale_number(params.macd_scale), created_bar_ts).hex()


class TipIdentity(Protocol):
    """What a status change needs of the tip it replaces: a `Signal`, or a `MonitoredTip` of a cycle."""

    @property
    def id(self) -> int | None: ...

    @property
    def user_id(self) -> int | None: ...

    @property
    def recommendation(self) -> Recommendation: ...

    @property
    def created_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class MonitoredTip:
    """One tip the cycle changes, with what its alerts and its stored update need (no full model)."""

    id: int
    user_id: int
    recommendation: Recommendation
    created_at: datetime | None
    platform: str  # the chat the tip was created in: where its owner hears of it
    chat_id: str
    params: SignalParams
    created_bar: str  # ISO time of the bar the tip was first created on


@dataclass(frozen=True, slots=True)
class TipGroup:
    """The tips of one (symbol, timeframe): rows start:stop of `ActiveTips`."""

    symbol: str
    timeframe: str
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class ActiveTips:
    """Every active tip as columns, ordered by (symbol, timeframe, id) and cut into `groups`."""

    ids: np.ndarray  # int64
    codes: np.ndarray  # int8 recommendation codes (CODES)
    buy_threshold: np.ndarray
    sell_threshold: np.ndarray
    technical_weight: np.ndarray
    sentiment_weight: np.ndarray
    scale_index: np.ndarray  # index into `scales`: each tip's MACD scale
    scales: list[str | float]  # the distinct MACD scales ("atr" or a divisor; -1.0 stands for any invalid one)
    created_bar_ts: np.ndarray  # epoch seconds of the bar each tip was created on
    groups: list[TipGroup]

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class CheckedGroup:
    """A group's unchanged tips after a cycle: per-tip scores, and what the whole group shares."""

    ids: np.ndarray
    fused: np.ndarray
    technical: np.ndarray
    sentiment: float
    price: str
    bar_time: datetime


def _bar_seconds(moment: datetime) -> float:
    # A bar time is always UTC; a naive one is read as UTC too (as storage.db.to_db_time does).
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def created_bar(signal: Signal) -> datetime:
    """The bar a tip was first created on: re-evaluations keep it in extra, so expiry counts from it."""
    raw = signal.extra.get("created_bar_time")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else signal.bar_time


class MonitorRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.alerts = AlertRepository(db)

    async def active(self) -> list[Signal]:
        rows = await self.db.fetchall("SELECT * FROM signals WHERE status = 'active' ORDER BY symbol, timeframe, id")
        return [_signal(r) for r in rows]

    async def active_tips(self) -> ActiveTips:
        """Every active tip as columns: one indexed read, one string per group, no Python value per tip."""
        rows = await self.db.fetchall(_ACTIVE_SQL)
        if any(r[2] for r in rows):  # tips this monitor has not seen yet: copy their fields, read again
            await self._copy_new_tips()
            rows = await self.db.fetchall(_ACTIVE_SQL)
        parts, groups, start = [], [], 0
        for symbol, timeframe, _, records in rows:
            if not records:
                continue
            part = np.frombuffer(bytes.fromhex(records), _RECORD)
            parts.append(part[np.argsort(part["id"], kind="stable")])  # group_concat's order is not defined
            groups.append(TipGroup(symbol, timeframe, start, start + len(part)))
            start += len(part)
        tips = np.concatenate(parts) if parts else np.empty(0, _RECORD)
        scale_numbers, scale_index = np.unique(tips["scale"], return_inverse=True)
        return ActiveTips(
            ids=tips["id"].astype(np.int64), codes=tips["code"].astype(np.int8) - 1,
            buy_threshold=tips["buy"].copy(), sell_threshold=tips["sell"].copy(),
            technical_weight=tips["tw"].copy(), sentiment_weight=tips["sw"].copy(),
            scale_index=scale_index.reshape(-1), scales=[_scale(float(x)) for x in scale_numbers],
            created_bar_ts=tips["born"].copy(), groups=groups)

    async def _copy_new_tips(self) -> None:
        """Copy the monitor's fields of active tips it has not seen yet out of their data_json."""
        rows = await self.db.fetchall(
            "SELECT s.* FROM signals s WHERE s.status = 'active'"
            " AND NOT EXISTS (SELECT 1 FROM monitor_tips m WHERE m.signal_id = s.id)")
        if not rows:
            return
        copies = []
        for row in rows:
            signal = _signal(row)  # the same reading of data_json as every other consumer of tips
            params, born = signal.params, created_bar(signal)
            copies.append((signal.id, row["user_id"], row["platform"], row["chat_id"], row["created_at"],
                           params.model_dump_json(), born.isoformat(), _packed(params, _bar_seconds(born)), signal.id))
        async with self.db.transaction() as conn:
            # A tip deleted since the read above has no row to copy (and would break the foreign key).
            await conn.executemany(
                "INSERT OR REPLACE INTO monitor_tips(signal_id, user_id, platform, chat_id, created_at, params_json,"
                " created_bar, packed) SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM signals WHERE id = ?)",
                copies)

    async def tips(self, ids: Iterable[int], recommendations: Iterable[Recommendation]) -> dict[int, MonitoredTip]:
        """The tips a cycle changes, by id, with the recommendation the cycle read for each of them."""
        wanted = dict(zip((int(i) for i in ids), recommendations, strict=True))
        if not wanted:
            return {}
        rows = await self.db.fetchall(
            "SELECT signal_id, user_id, created_at, platform, chat_id, params_json, created_bar FROM monitor_tips"
            " WHERE signal_id IN (SELECT value FROM json_each(?))", (json.dumps(list(wanted)),))
        return {r[0]: MonitoredTip(id=r[0], user_id=r[1], recommendation=wanted[r[0]], created_at=from_db_time(r[2]),
                                   platform=r[3], chat_id=r[4], params=SignalParams.model_validate_json(r[5]),
                                   created_bar=r[6]) for r in rows}

    async def strategies(self, ids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]] | None]:
        """For each of these tips, the strategy it was made by with that strategy's parameters, or None for the
        fused rule (the monitor's fast path). Read from data_json, so the monitor asks once per tip."""
        if not ids:
            return {}
        rows = await self.db.fetchall(
            "SELECT id, json_extract(data_json, '$.extra.strategy'), json_extract(data_json, '$.extra.strategy_params')"
            " FROM signals WHERE id IN (SELECT value FROM json_each(?))", (json.dumps([int(i) for i in ids]),))
        found: dict[int, tuple[str, dict[str, Any]] | None] = {}
        for signal_id, name, params in rows:
            own = isinstance(name, str) and name != "fused"
            found[int(signal_id)] = (name, json.loads(params) if params else {}) if own else None
        return found

    async def owners(self, user_ids: Iterable[int]) -> dict[int, User]:
        """The users with these ids (the owners of a cycle's changed tips), in one read."""
        wanted = list(dict.fromkeys(int(i) for i in user_ids))
        if not wanted:
            return {}
        rows = await self.db.fetchall("SELECT * FROM users WHERE id IN (SELECT value FROM json_each(?))",
                                      (json.dumps(wanted),))
        return {r["id"]: _user(r) for r in rows}

    async def subscribers(self, symbols: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """`SubscriptionRepository.chats_for` of many symbols in one read: per symbol, every chat subscribed to
        it or to all, skipping chats that blocked us, ordered by (platform, chat_id)."""
        wanted = list(dict.fromkeys(symbols))
        out: dict[str, list[tuple[str, str]]] = {symbol: [] for symbol in wanted}
        if not wanted:
            return out
        rows = await self.db.fetchall(
            "SELECT DISTINCT w.value, s.platform, s.chat_id FROM json_each(?) w"
            " JOIN subscriptions s ON s.symbol IN (w.value, ?)"
            " LEFT JOIN chats c ON c.platform = s.platform AND c.chat_id = s.chat_id"
            " WHERE c.blocked_at IS NULL ORDER BY w.value, s.platform, s.chat_id", (json.dumps(wanted), ALL))
        for symbol, platform, chat_id in rows:
            out[symbol].append((platform, chat_id))
        return out

    async def record_checked(self, groups: Sequence[CheckedGroup]) -> None:
        """Unchanged tips: bump a counter and keep the last values (history does not grow per cycle).

        Every group of the cycle in one transaction and one batch.
        """
        now = to_db_time(utcnow())
        params: list[tuple[object, ...]] = []
        for g in groups:
            params.extend(zip(g.ids.tolist(), repeat(now), g.fused.tolist(), g.technical.tolist(),
                              repeat(g.sentiment), repeat(g.price), repeat(to_db_time(g.bar_time)), strict=False))
        if not params:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO signal_monitor(signal_id, cycles, last_checked_at, last_fused, last_technical,"
                " last_sentiment, last_price, last_bar_time) VALUES (?, 1, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(signal_id) DO UPDATE SET cycles = cycles + 1,"
                " last_checked_at = excluded.last_checked_at, last_fused = excluded.last_fused,"
                " last_technical = excluded.last_technical, last_sentiment = excluded.last_sentiment,"
                " last_price = excluded.last_price, last_bar_time = excluded.last_bar_time", params)

    async def apply_changes(self, changes: Sequence[tuple[TipIdentity, Signal, list[AlertSpec]]]) -> None:
        """Store re-evaluated tips, their `status_changed` events and their alerts in one transaction.

        Each change is (old, new, alerts) with alerts as (platform, chat_id, kind, payload, dedupe_key); a
        crash commits all of the changes and alerts or none of them. Each statement runs once as a batch. A
        tip deleted meanwhile (e.g. /forgetme during the cycle) is left out with its alerts.
        """
        if not changes:
            return
        now = to_db_time(utcnow())
        rows: list[tuple[int, tuple[object, ...], tuple[object, ...], list[AlertSpec]]] = []
        bars: dict[datetime, str] = {}  # a group's changes share their bar
        for old, new, specs in changes:
            assert old.id is not None
            stored = new.model_copy(update={"id": old.id, "user_id": old.user_id, "created_at": old.created_at,
                                            "status": "active"})
            data = {
                "old": old.recommendation.value, "new": new.recommendation.value,
                "technical": round(new.technical_score, 6), "sentiment": round(new.sentiment_score, 6),
                "fused": round(new.fused_score, 6), "confidence": round(new.confidence, 6),
                "price": str(new.price),
            }
            bar = bars.get(new.bar_time) or bars.setdefault(new.bar_time, to_db_time(new.bar_time))
            update = (new.recommendation.value, new.confidence, new.technical_score, new.sentiment_score,
                      new.fused_score, _dec(new.price), _dec(new.atr), _dec(new.stop_loss), _dec(new.take_profit),
                      bar, stored.model_dump_json(exclude={"id"}), now, old.id)
            event = (old.id, f"Status changed: {old.recommendation.value} → {new.recommendation.value}",
                     json.dumps(data), now)
            rows.append((old.id, update, event, specs))
        async with self.db.transaction() as conn:
            found = await conn.execute_fetchall("SELECT id FROM signals WHERE id IN (SELECT value FROM json_each(?))",
                                                (json.dumps([r[0] for r in rows]),))
            present = {r[0] for r in found}
            rows = [r for r in rows if r[0] in present]
            await conn.executemany(
                "UPDATE signals SET recommendation = ?, confidence = ?, technical_score = ?,"
                " sentiment_score = ?, fused_score = ?, price = ?, atr = ?, stop_loss = ?, take_profit = ?,"
                " bar_time = ?, data_json = ?, updated_at = ? WHERE id = ?", [r[1] for r in rows])
            await conn.executemany(
                "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                " VALUES (?, 'status_changed', ?, ?, ?)", [r[2] for r in rows])
            await conn.executemany("DELETE FROM signal_monitor WHERE signal_id = ?", [(r[0],) for r in rows])
            await self.alerts.enqueue_many((spec for r in rows for spec in r[3]), conn=conn)

    async def expire(self, signal_ids: list[int], reason: str) -> None:
        if not signal_ids:
            return
        now = to_db_time(utcnow())
        async with self.db.transaction() as conn:
            await conn.executemany("UPDATE signals SET status = 'expired', updated_at = ? WHERE id = ?",
                                   [(now, sid) for sid in signal_ids])
            await conn.executemany(
                "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                " VALUES (?, 'expired', ?, '{}', ?)", [(sid, reason, now) for sid in signal_ids])
