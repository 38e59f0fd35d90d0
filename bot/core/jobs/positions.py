"""The position monitor (SPEC §4; seed 002's 3-second loop, seed 004's trailing stops): one price per
symbol, PnL for every open position, stop-loss / take-profit / trailing-stop exits, and alerts that inform
without spamming (near target once, PnL moves larger than `alerts.pnl_move_pct` since the last alert)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from bot.core.replies import Reply
from bot.core.trading import Trading
from engine.brokers.base import Side
from engine.positions import EXIT_NONE, EXIT_REASONS, Position, decide

if TYPE_CHECKING:
    from bot.core.service import TipsterCore

log = logging.getLogger(__name__)


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

    async def run(self) -> TickResult:
        started = time.perf_counter()
        result = TickResult(started_at=self.core.now())
        result.reconciled = await self.trading.reconcile()
        positions = await self.trading.repo.with_status("open")
        if positions:
            prices = await self._prices({p.symbol for p in positions}, result)
            await self.evaluate([p for p in positions if p.symbol in prices], prices, result)
        result.duration_ms = (time.perf_counter() - started) * 1000
        if positions or result.reconciled or result.errors:
            await self.core.services.job_runs.record("positions", result.started_at, result.duration_ms,
                                                     result.positions, result.exits, 0, result.errors)
        return result

    async def _prices(self, symbols: set[str], result: TickResult) -> dict[str, Decimal]:
        market = self.core.services.market
        names = sorted(symbols)
        answers = await asyncio.gather(*(market.last_price(s) for s in names), return_exceptions=True)
        prices: dict[str, Decimal] = {}
        for symbol, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException):
                result.errors += 1
                result.failed_symbols.append(symbol)
                log.warning("positions: no price for %s: %s", symbol, answer)
            else:
                prices[symbol] = answer
        return prices

    async def evaluate(self, positions: list[Position], prices: dict[str, Decimal], result: TickResult) -> None:
        """Decide for all positions at once (numpy), then act on the few that need it."""
        settings = self.core.settings
        result.positions += len(positions)
        nan = float("nan")
        is_long = np.fromiter((p.side is Side.LONG for p in positions), bool, len(positions))
        entry = np.fromiter((float(p.entry_price or 0) for p in positions), float, len(positions))
        price = np.fromiter((float(prices[p.symbol]) for p in positions), float, len(positions))
        stop = np.fromiter((float(p.stop_loss) if p.stop_loss else nan for p in positions), float, len(positions))
        target = np.fromiter((float(p.take_profit) if p.take_profit else nan for p in positions), float,
                             len(positions))
        extreme = np.fromiter((float(p.trail_extreme or p.entry_price or 0) for p in positions), float,
                              len(positions))
        active = np.fromiter((p.trail_active for p in positions), bool, len(positions))
        last_alert = np.fromiter((p.last_alert_pnl for p in positions), float, len(positions))
        near_sent = np.fromiter((p.near_target_sent for p in positions), bool, len(positions))
        tick = decide(is_long, entry, price, stop, target, extreme, active, last_alert, near_sent,
                      settings.risk.trailing_stop_pct, settings.risk.trailing_activation_pct,
                      settings.alerts.near_target_pct, settings.alerts.pnl_move_pct)

        marks = []
        alerts = []
        for i in np.flatnonzero(tick.exit_code != EXIT_NONE):
            p = positions[i].model_copy(update={"last_price": prices[positions[i].symbol]})
            try:
                await self.trading.close(p, EXIT_REASONS[int(tick.exit_code[i])])
                result.exits += 1
            except Exception as exc:  # one failing exit never stops the others
                result.errors += 1
                log.exception("positions: exit of #%s failed: %s", p.id, exc)
        for i in range(len(positions)):
            if tick.exit_code[i] != EXIT_NONE:
                continue
            p = positions[i]
            alert_pnl = p.last_alert_pnl
            if tick.pnl_move[i]:
                alert_pnl = float(tick.pnl[i])
                alerts.append(self._alert(p, prices[p.symbol], "pnl_move",
                                          f"📈 #{p.id} {p.symbol} PnL {tick.pnl[i] * 100:+.2f}%"))
            if tick.near_target[i]:
                alerts.append(self._alert(p, prices[p.symbol], "near_target",
                                          f"🎯 #{p.id} {p.symbol} is near its take-profit"))
            marks.append((p.id, str(prices[p.symbol]), repr(float(tick.extreme[i])), int(tick.trail_active[i]),
                          alert_pnl, int(p.near_target_sent or bool(tick.near_target[i]))))
        await self.trading.repo.update_marks(marks)
        await self.trading.repo.queue_alerts(alerts)
        result.alerts += len(alerts)

    @staticmethod
    def _alert(p: Position, price: Decimal, kind: str, title: str) -> tuple:
        d = p.price_decimals
        text = (f"{p.side.value} {p.symbol} · entry {p.entry_price:,.{d}f} · now {price:,.{d}f} · "
                f"TP {p.take_profit or '—'} · SL {p.stop_loss or '—'}")
        return (p.platform, p.chat_id, kind, Reply(title=title, text=text).model_dump(mode="json"), None)
