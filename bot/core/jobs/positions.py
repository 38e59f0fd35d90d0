"""The position monitor (SPEC §4; seed 002's 3-second loop, seed 004's trailing stops): for every open
position, PnL at the price now and stop-loss / take-profit / trailing-stop exits decided on what the market
did since the last look — every bar's high and low (`MarketData.bars_since`: the replay's bars passed, 1m
candles live), counting only bars after the position opened — so a target touched between two looks is not
missed, and the exit fills at the level touched (engine.positions), not at a later price past it. Alerts
inform without spamming (near target once, PnL moves larger than `alerts.pnl_move_pct` since the last one)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from bot.core.replies import Reply
from bot.core.usecases.trading import Trading
from bot.core.views.alerts import near_target_alert, pnl_move_alert
from engine.brokers.base import ExitTrigger
from engine.positions import (
    EXIT_NONE,
    EXIT_REASONS,
    EXIT_TARGET,
    ExitBook,
    Position,
    SymbolBars,
    TickDecisions,
    build_window,
    decide,
    from_ticks,
)
from storage.alerts import AlertSpec

if TYPE_CHECKING:
    from bot.core.kernel import Core

log = logging.getLogger(__name__)
BOOK_MAX_AGE = 60.0  # seconds the in-memory open book may be reused without re-reading it
MAX_CATCH_UP = 86_400.0  # market seconds of bars read at most after a pause (a day of 1m bars: two requests)


@dataclass
class TickResult:
    started_at: datetime
    positions: int = 0
    exits: int = 0
    alerts: int = 0
    reconciled: int = 0
    errors: int = 0
    failed_symbols: list[str] = field(default_factory=list)
    duration_ms: float = 0.0


class PositionMonitor:
    def __init__(self, core: Core, trading: Trading) -> None:
        self.core = core
        self.trading = trading
        # The open book is kept between ticks and re-read only when positions opened or closed (the
        # repository's version says so); the trailing state this monitor writes is updated in place.
        self._book: ExitBook | None = None
        self._book_version = -1
        self._book_loaded = 0.0
        # Per symbol, the market time from which bars are unread (loaded from storage on the first tick).
        self._marks: dict[str, float] | None = None
        # Per position, the market time this process first saw it: where bars start for a position whose
        # trailing state predates any mark (its history is not replayed over the state it produced).
        self._first_seen: dict[int, float] = {}
        self._first = np.empty(0)  # the same, as a column of the book (NaN: not seen yet)

    async def _open_book(self) -> ExitBook:
        repo = self.trading.repo
        # Also re-read once a minute: a user deleting their account removes rows behind the repository.
        stale = time.monotonic() - self._book_loaded > BOOK_MAX_AGE
        if self._book is None or self._book_version != repo.open_set_version or stale:
            version = repo.open_set_version
            self._book = ExitBook.from_rows(await repo.open_levels())
            self._book_version = version
            self._book_loaded = time.monotonic()
            ids = self._book.ids.tolist()
            self._first_seen = {i: self._first_seen[i] for i in ids if i in self._first_seen}
            self._first = np.array([self._first_seen.get(i, np.nan) for i in ids], dtype=np.float64)
        return self._book

    async def run(self) -> TickResult:
        started = time.perf_counter()
        result = TickResult(started_at=self.core.now())
        result.reconciled = await self.trading.reconcile()
        result.exits += await self.trading.sync_broker_exits()
        book = await self._open_book()
        if len(book):
            symbols = set(book.symbols)
            prices, nows = await asyncio.gather(self._prices(symbols, result), self._market_nows(symbols))
            since = await self._since(book, nows)
            bars = await self._bars(book, since, nows)
            await self.evaluate(book, prices, result, bars=bars, since=since)
        result.duration_ms = (time.perf_counter() - started) * 1000
        if len(book) or result.reconciled or result.errors:
            await self.core.storage.job_runs.record("positions", result.started_at, result.duration_ms,
                                                     result.positions, result.exits, 0, result.errors)
        return result

    async def _prices(self, symbols: set[str], result: TickResult) -> dict[str, Decimal]:
        prices, errors = await self.trading.current_prices(symbols)
        for symbol, error in errors.items():
            result.errors += 1
            result.failed_symbols.append(symbol)
            log.warning("positions: no price for %s: %s", symbol, error)
        return prices

    async def _market_nows(self, symbols: set[str]) -> dict[str, float]:
        """Each symbol's market time now: the replay's virtual clock, else the core's."""
        names = sorted(symbols)
        answers = await asyncio.gather(*(self.core.services.market.as_of(s) for s in names), return_exceptions=True)
        wall = self.core.now().timestamp()
        return {s: a.timestamp() if isinstance(a, datetime) else wall for s, a in zip(names, answers, strict=True)}

    async def _since(self, book: ExitBook, nows: dict[str, float]) -> np.ndarray:
        """Per position, the market time from which bars are its own and unread: after it opened and after
        its symbol's mark; with no mark yet, a position whose trailing state already moved starts where this
        process first saw it. Never more than MAX_CATCH_UP back."""
        if self._marks is None:
            stored = await self.trading.repo.bar_marks()
            # A mark in the future belongs to another run of a replay that has started over: not this one's.
            self._marks = {s: t.timestamp() for s, t in stored.items() if t.timestamp() <= nows.get(s, math.inf)}
        now = book.per_position(nows)
        unseen = np.flatnonzero(np.isnan(self._first))
        self._first[unseen] = now[unseen]
        self._first_seen.update(zip(book.ids[unseen].tolist(), now[unseen].tolist(), strict=True))
        first = self._first
        # A start later than the market's now (a replay run over again, rows from before market time was
        # stored) means the position is new to this run: it starts when first seen.
        start = np.where(np.isnan(book.start) | (book.start > now), first, book.start)
        mark = book.per_position(self._marks)
        touched = book.trail_active | (book.extreme_t != book.entry_t)
        unmarked_from = np.where(touched, np.maximum(start, first), start)
        since = np.where(np.isnan(mark), unmarked_from, np.maximum(start, mark))
        return np.maximum(since, now - MAX_CATCH_UP)

    async def _bars(self, book: ExitBook, since: np.ndarray, nows: dict[str, float]) -> dict[str, SymbolBars | None]:
        """Each symbol's bars since the earliest of its positions' `since`, fetched concurrently. A source
        without bars maps to None (prices alone decide); a failure leaves the symbol out this tick."""
        earliest = book.earliest(since)
        names = [s for s, t in earliest.items() if t <= nows[s]]
        market = self.core.services.market
        fetch = getattr(market, "bars_since", None)
        if fetch is None:
            return dict.fromkeys(earliest)
        answers = await asyncio.gather(
            *(fetch(s, datetime.fromtimestamp(earliest[s], tz=UTC)) for s in names), return_exceptions=True)
        out: dict[str, SymbolBars | None] = {}
        for symbol, answer in zip(names, answers, strict=True):
            if isinstance(answer, NotImplementedError):
                out[symbol] = None
            elif isinstance(answer, BaseException):
                log.info("positions: no bars for %s this tick (its price alone decides): %s", symbol, answer)
            else:
                out[symbol] = SymbolBars.from_candles(answer)
        return out

    def _next_marks(self, bars: dict[str, SymbolBars | None], since: np.ndarray,
                    book: ExitBook) -> dict[str, float]:
        """Marks past every closed bar read (the forming one is read again next time)."""
        assert self._marks is not None
        earliest = book.earliest(since)
        moved: dict[str, float] = {}
        for symbol, b in bars.items():
            if b is None:
                continue
            mark = float(b.timestamps[-1]) + 1.0 if len(b.timestamps) else earliest[symbol]
            mark = max(mark, self._marks.get(symbol, -math.inf))
            if mark != self._marks.get(symbol):
                moved[symbol] = mark
        return moved

    async def evaluate(self, book: ExitBook, prices: dict[str, Decimal], result: TickResult, *,
                       bars: dict[str, SymbolBars | None] | None = None, since: np.ndarray | None = None) -> None:
        """Decide for every open position at once (integer ticks in numpy), then act only on the few that
        need it. Without `bars`, prices are the only observations (a source with no bars)."""
        settings = self.core.settings
        if bars is None:
            bars = dict.fromkeys(set(book.symbols))
        if since is None:
            since = np.full(len(book), -math.inf)
        window = build_window(book, bars, {s: float(p) for s, p in prices.items()}, since)
        tick = decide(book, window, settings.risk.trailing_stop_pct, settings.risk.trailing_activation_pct,
                      settings.alerts.near_target_pct, settings.alerts.pnl_move_pct)
        result.positions += int(tick.observed.sum())
        exiting = tick.observed & (tick.exit_code != EXIT_NONE)
        for i in np.flatnonzero(exiting):
            await self._exit(book, i, int(tick.exit_code[i]), int(tick.fill_t[i]), prices, result)
        keep = tick.observed & ~exiting
        moved = keep & ((tick.extreme_t != book.extreme_t) | (tick.trail_active != book.trail_active))
        book.extreme_t[moved] = tick.extreme_t[moved]
        book.trail_active[moved] = tick.trail_active[moved]
        marks = self._next_marks(bars, since, book) if self._marks is not None else {}
        await self.trading.repo.save_exit_state(
            [(int(book.ids[i]), str(book.extreme_price(i)), int(book.trail_active[i])) for i in np.flatnonzero(moved)],
            {s: datetime.fromtimestamp(t, tz=UTC) for s, t in marks.items()})
        if self._marks is not None:
            self._marks.update(marks)
        await self._alerts(book, tick, keep, prices, result)

    async def _exit(self, book: ExitBook, i: int, code: int, fill_t: int, prices: dict[str, Decimal],
                    result: TickResult) -> None:
        position = await self.trading.repo.get(int(book.ids[i]))
        if position is None or position.status != "open":
            return
        level = from_ticks(fill_t, int(book.decimals[i]))
        trigger = ExitTrigger(kind="limit" if code == EXIT_TARGET else "stop", price=level)
        position = position.model_copy(update={"last_price": prices.get(position.symbol, level)})
        try:
            await self.trading.close(position, EXIT_REASONS[code], trigger=trigger)
            result.exits += 1
        except Exception as exc:  # one failing exit never stops the others
            result.errors += 1
            log.exception("positions: exit of #%s failed: %s", position.id, exc)

    async def _alerts(self, book: ExitBook, tick: TickDecisions, keep: np.ndarray, prices: dict[str, Decimal],
                      result: TickResult) -> None:
        marks, alerts = [], []
        for i in np.flatnonzero(keep & (tick.pnl_move | tick.near_target)):
            position = await self.trading.repo.get(int(book.ids[i]))
            if position is None or position.symbol not in prices:
                continue
            now_price = prices[position.symbol]
            alert_pnl = float(tick.pnl[i]) if tick.pnl_move[i] else position.last_alert_pnl
            if tick.pnl_move[i]:
                alerts.append(self._alert(position, "pnl_move", pnl_move_alert(position, now_price, alert_pnl)))
            if tick.near_target[i]:
                alerts.append(self._alert(position, "near_target", near_target_alert(position, now_price)))
            marks.append((position.id, alert_pnl, int(position.near_target_sent or bool(tick.near_target[i])),
                          str(now_price)))
            book.last_alert_pnl[i] = alert_pnl
            book.near_sent[i] = book.near_sent[i] or bool(tick.near_target[i])
        await self.trading.repo.save_alert_marks(marks, alerts)
        result.alerts += len(alerts)

    @staticmethod
    def _alert(p: Position, kind: str, reply: Reply) -> AlertSpec:
        return (p.platform, p.chat_id, kind, reply.model_dump(mode="json"), None)
