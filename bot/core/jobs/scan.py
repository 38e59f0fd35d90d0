"""The watchlist scan (SPEC §5): every `monitor.scan_interval`, a tip for each watched market.

Watches are grouped by (symbol, timeframe), so a market watched by a hundred chats is computed once, with
the default thresholds and weights (a chat's watch is not any one user's request). A BUY or SELL with
confidence ≥ `scan.min_confidence` is stored as a tip of the user who added the watch and posted to the
chat through the outbox as a tip card with its buttons. A chat hears about a market again only when the
recommendation changes or a new bar has started, so a steady BUY is not repeated every five minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime

from bot.core.access import access_message
from bot.core.kernel import Core
from bot.core.usecases.chats import chat_timezone
from bot.core.usecases.track import tip_record
from bot.core.views.alerts import scan_card
from engine.models import Recommendation, Signal
from engine.signals import generate_signal
from storage.follows import WatchEntry

log = logging.getLogger(__name__)
GROUP_CONCURRENCY = 8  # markets computed at once; the replay and live sources both like a bounded burst


@dataclass
class ScanResult:
    scanned: int = 0  # markets (symbol, timeframe) computed
    pushed: int = 0  # tips queued to chats
    errors: int = 0  # markets that failed and were skipped
    duration_ms: float = 0.0
    started_at: datetime | None = None
    failed: list[str] = field(default_factory=list)


class WatchlistScanner:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def run(self) -> ScanResult:
        started = time.perf_counter()
        result = ScanResult(started_at=self.core.now())
        groups: dict[tuple[str, str], list[WatchEntry]] = defaultdict(list)
        for watch in await self.core.storage.watches.all():  # chats that blocked the bot are left out
            groups[(watch.symbol, watch.timeframe)].append(watch)
        semaphore = asyncio.Semaphore(GROUP_CONCURRENCY)

        async def one(key: tuple[str, str], watches: list[WatchEntry]) -> None:
            async with semaphore:
                try:
                    signal = await self._compute(*key)
                except Exception as exc:  # one failing market never stops the scan
                    result.errors += 1
                    result.failed.append(f"{key[0]} {key[1]}")
                    log.warning("scan: %s %s skipped: %s", key[0], key[1], exc)
                    return
                result.scanned += 1
                for watch in watches:
                    try:
                        # Awaited first, then added: `x += await ...` reads x before the await, and the
                        # other markets' tasks update it meanwhile.
                        pushed = await self._push(watch, signal)
                        result.pushed += pushed
                    except Exception:
                        result.errors += 1
                        log.exception("scan: pushing %s %s to %s:%s failed", key[0], key[1], watch.platform,
                                      watch.chat_id)

        await asyncio.gather(*(one(k, v) for k, v in groups.items()))
        result.duration_ms = (time.perf_counter() - started) * 1000
        await self.core.storage.job_runs.record("scan", result.started_at or self.core.now(), result.duration_ms,
                                                 monitored=result.scanned, changed=result.pushed,
                                                 errors=result.errors)
        if result.duration_ms > self.core.settings.monitor.scan_interval * 1000 / 2:
            log.warning("scan took %.0f ms (interval %s s)", result.duration_ms,
                        self.core.settings.monitor.scan_interval)
        return result

    async def _compute(self, symbol: str, timeframe: str) -> Signal:
        settings = self.core.settings
        return await generate_signal(
            symbol, timeframe, self.core.user_params_from({}), self.core.services.market,
            self.core.services.sentiment, bars=settings.market.bars, sl_atr=settings.risk.sl_atr,
            tp_atr=settings.risk.tp_atr)

    def _worth_pushing(self, signal: Signal) -> bool:
        return (signal.recommendation is not Recommendation.HOLD
                and signal.confidence >= self.core.settings.scan.min_confidence)

    async def _push(self, watch: WatchEntry, signal: Signal) -> int:
        """Queue the tip to one watching chat if it is news there; returns 1 if queued."""
        if not self._worth_pushing(signal):
            return 0
        rec = signal.recommendation.value
        if watch.last_pushed_rec == rec and watch.last_pushed_bar == signal.bar_time:
            return 0  # already told this chat, for this very bar
        services = self.core.services
        dedupe = f"scan:{watch.id}:{signal.bar_time.isoformat()}:{rec}"
        if await services.storage.alerts.exists(dedupe):
            # Queued by a run that died before marking the watch: finish that run's bookkeeping only,
            # rather than storing a second tip nobody will see.
            await services.storage.watches.mark_pushed(watch.id, rec, signal.bar_time)
            return 0
        owner = await services.storage.users.get(watch.user_id)
        if owner is None or access_message(owner, self.core.now()) is not None:
            return 0  # a disabled or expired user's watch stays, silent, until they are back
        record = await tip_record(self.core, signal)  # the card's line on past tips, kept with the tip as /signal does
        if record is not None:
            signal = signal.model_copy(update={"extra": {**signal.extra, "record": asdict(record)}})
        stored = await services.storage.signals.create(signal, owner.id, watch.platform, watch.chat_id)
        tz = await chat_timezone(self.core, watch.platform, watch.chat_id)
        await self.core.notify_chat(watch.platform, watch.chat_id, scan_card(self.core, stored, tz, owner), "scan",
                                    dedupe_key=dedupe)
        await services.storage.watches.mark_pushed(watch.id, rec, signal.bar_time)
        return 1
