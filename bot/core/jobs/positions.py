"""The position monitor (SPEC §4; seed 002's 3-second loop, seed 004's trailing stops): one price per
symbol, PnL for every open position, stop-loss / take-profit / trailing-stop exits, and alerts that inform
without spamming (near target once, PnL moves larger than `alerts.pnl_move_pct` since the last alert)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from bot.core.replies import Reply
from bot.core.trading import Trading
from engine.positions import EXIT_NONE, EXIT_REASONS, Position, decide
from storage.alerts import AlertSpec
from storage.positions import OpenBook

if TYPE_CHECKING:
    from bot.core.service import TipsterCore

log = logging.getLogger(__name__)
BOOK_MAX_AGE = 60.0  # seconds the in-memory open book may be reused without re-reading it


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
    def __init__(self, core: TipsterCore, trading: Trading) -> None:
        self.core = core
        self.trading = trading
        # The open book is kept between ticks and re-read only when positions opened or closed (the
        # repository's version says so); the trailing state this monitor writes is updated in place.
        self._book: OpenBook | None = None
        self._book_version = -1
        self._book_loaded = 0.0

    async def _open_book(self) -> OpenBook:
        repo = self.trading.repo
        # Also re-read once a minute: a user deleting their account removes rows behind the repository.
        stale = time.monotonic() - self._book_loaded > BOOK_MAX_AGE
        if self._book is None or self._book_version != repo.open_set_version or stale:
            version = repo.open_set_version
            self._book = await repo.open_book()
            self._book_version = version
            self._book_loaded = time.monotonic()
        return self._book

    async def run(self) -> TickResult:
        started = time.perf_counter()
        result = TickResult(started_at=self.core.now())
        result.reconciled = await self.trading.reconcile()
        result.exits += await self.trading.sync_broker_exits()
        book = await self._open_book()
        if len(book):
            prices = await self._prices(set(book.symbols), result)
            await self.evaluate(book, prices, result)
        result.duration_ms = (time.perf_counter() - started) * 1000
        if len(book) or result.reconciled or result.errors:
            await self.core.services.job_runs.record("positions", result.started_at, result.duration_ms,
                                                     result.positions, result.exits, 0, result.errors)
        return result

    async def _prices(self, symbols: set[str], result: TickResult) -> dict[str, Decimal]:
        prices, errors = await self.trading.current_prices(symbols)
        for symbol, error in errors.items():
            result.errors += 1
            result.failed_symbols.append(symbol)
            log.warning("positions: no price for %s: %s", symbol, error)
        return prices

    async def evaluate(self, book: OpenBook, prices: dict[str, Decimal], result: TickResult) -> None:
        """Decide for every open position at once (numpy), then act only on the few that need it."""
        settings = self.core.settings
        # One float price per symbol, spread to positions through the symbol index.
        names = sorted(prices)
        index = {name: i for i, name in enumerate(names)}
        per_symbol = np.array([float(prices[n]) for n in names] + [np.nan])
        where = np.fromiter((index.get(s, len(names)) for s in book.symbols), np.int64, len(book))
        price = per_symbol[where]
        priced = ~np.isnan(price)
        result.positions += int(priced.sum())
        tick = decide(book.is_long, book.entry, price, book.stop, book.target, book.extreme, book.trail_active,
                      book.last_alert_pnl, book.near_sent, settings.risk.trailing_stop_pct,
                      settings.risk.trailing_activation_pct, settings.alerts.near_target_pct,
                      settings.alerts.pnl_move_pct)
        exits = np.flatnonzero(priced & (tick.exit_code != EXIT_NONE))
        for i in exits:
            position = await self.trading.repo.get(int(book.ids[i]))
            if position is None or position.status != "open":
                continue
            position = position.model_copy(update={"last_price": prices[position.symbol]})
            try:
                await self.trading.close(position, EXIT_REASONS[int(tick.exit_code[i])])
                result.exits += 1
            except Exception as exc:  # one failing exit never stops the others
                result.errors += 1
                log.exception("positions: exit of #%s failed: %s", position.id, exc)
        keep = priced & (tick.exit_code == EXIT_NONE)
        moved = keep & ((tick.extreme != book.extreme) | (tick.trail_active != book.trail_active))
        await self.trading.repo.save_trails([(int(book.ids[i]), repr(float(tick.extreme[i])),
                                              int(tick.trail_active[i])) for i in np.flatnonzero(moved)])
        book.extreme[moved] = tick.extreme[moved]
        book.trail_active[moved] = tick.trail_active[moved]
        marks, alerts = [], []
        for i in np.flatnonzero(keep & (tick.pnl_move | tick.near_target)):
            position = await self.trading.repo.get(int(book.ids[i]))
            if position is None:
                continue
            now_price = prices[position.symbol]
            alert_pnl = float(tick.pnl[i]) if tick.pnl_move[i] else position.last_alert_pnl
            if tick.pnl_move[i]:
                alerts.append(self._alert(position, now_price, "pnl_move",
                                          f"📈 #{position.id} {position.symbol} PnL {tick.pnl[i] * 100:+.2f}%"))
            if tick.near_target[i]:
                alerts.append(self._alert(position, now_price, "near_target",
                                          f"🎯 #{position.id} {position.symbol} is near its take-profit"))
            marks.append((position.id, alert_pnl, int(position.near_target_sent or bool(tick.near_target[i])),
                          str(now_price)))
            book.last_alert_pnl[i] = alert_pnl
            book.near_sent[i] = book.near_sent[i] or bool(tick.near_target[i])
        await self.trading.repo.save_alert_marks(marks, alerts)
        result.alerts += len(alerts)

    @staticmethod
    def _alert(p: Position, price: Decimal, kind: str, title: str) -> AlertSpec:
        d = p.price_decimals
        tp = f"{p.take_profit:,.{d}f}" if p.take_profit else "—"
        sl = f"{p.stop_loss:,.{d}f}" if p.stop_loss else "—"
        text = f"{p.side.value} {p.symbol} · entry {p.entry_price:,.{d}f} · now {price:,.{d}f} · TP {tp} · SL {sl}"
        return (p.platform, p.chat_id, kind, Reply(title=title, text=text).model_dump(mode="json"), None)
