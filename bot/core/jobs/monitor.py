"""The signal monitor (SPEC §3; seed 000 §2): every live tip re-evaluated with its own thresholds and weights.

Tips are grouped by (symbol, timeframe) so candles, indicators and sentiment are computed once per group,
and the group's tips are re-scored as arrays. A changed recommendation is stored with its
`status_changed` event and its alerts in one transaction; unchanged tips only bump a compact counter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core import cards
from bot.core.replies import Reply
from engine.market import timeframe_seconds
from engine.market.symbols import asset_class
from engine.models import Recommendation, Signal
from engine.reevaluate import rescore_group
from engine.signals import MIN_BARS, build_signal, snapshot
from storage.alerts import AlertSpec
from storage.follows import SubscriptionRepository
from storage.models import User
from storage.monitoring import MonitorRepository

if TYPE_CHECKING:
    from bot.core.service import TipsterCore

log = logging.getLogger(__name__)
GROUP_CONCURRENCY = 8


@dataclass
class CycleResult:
    started_at: datetime
    monitored: int = 0
    changed: int = 0
    expired: int = 0
    errors: int = 0
    failed_groups: list[str] = field(default_factory=list)
    duration_ms: float = 0.0


class SignalMonitor:
    def __init__(self, core: TipsterCore) -> None:
        self.core = core
        self.repo = MonitorRepository(core.services.db)
        self.subscriptions = SubscriptionRepository(core.services.db)
        # Per cycle: where each tip's owner hears of it, and owners' timezones (looked up once).
        self._chats: dict[int, tuple[str, str]] = {}
        self._owners: dict[int, User | None] = {}

    async def run_cycle(self) -> CycleResult:
        started = time.perf_counter()
        result = CycleResult(started_at=self.core.now())
        self._chats: dict[int, tuple[str, str]] = {}
        self._owners: dict[int, User | None] = {}
        groups: dict[tuple[str, str], list[Signal]] = defaultdict(list)
        for signal, chat in await self.repo.active_with_chats():
            groups[(signal.symbol, signal.timeframe)].append(signal)
            self._chats[signal.id or 0] = chat
        semaphore = asyncio.Semaphore(GROUP_CONCURRENCY)

        async def one(key: tuple[str, str], members: list[Signal]) -> None:
            async with semaphore:
                try:
                    await self._group(key, members, result)
                except Exception as exc:  # one failing market never stops the cycle
                    result.errors += 1
                    result.failed_groups.append(f"{key[0]} {key[1]}")
                    log.warning("monitor: %s %s skipped: %s", key[0], key[1], exc)

        await asyncio.gather(*(one(k, v) for k, v in groups.items()))
        result.duration_ms = (time.perf_counter() - started) * 1000
        await self.core.services.job_runs.record(
            "monitor", result.started_at, result.duration_ms, result.monitored, result.changed, result.expired,
            result.errors)
        if result.duration_ms > self.core.settings.monitor.signals_interval * 1000 / 2:
            log.warning("monitor cycle took %.0f ms (interval %s s)", result.duration_ms,
                        self.core.settings.monitor.signals_interval)
        return result

    async def _group(self, key: tuple[str, str], members: list[Signal], result: CycleResult) -> None:
        symbol, timeframe = key
        settings = self.core.settings
        services = self.core.services
        candles = await services.market.fetch_ohlcv(symbol, timeframe, settings.market.bars)
        if len(candles) < MIN_BARS:
            raise ValueError(f"only {len(candles)} bars")
        values = await asyncio.to_thread(snapshot, candles)
        reading = await services.sentiment.reading(symbol, asset_class(symbol), at=services.market.as_of(symbol))
        sentiment = reading.score if reading.available else 0.0
        market_now = candles.last_time
        ttl = settings.monitor.signal_ttl_bars * timeframe_seconds(timeframe)

        live: list[Signal] = []
        expired: list[int] = []
        for signal in members:
            born = _created_bar(signal)
            if (market_now - born).total_seconds() >= ttl:
                expired.append(signal.id or 0)
            else:
                live.append(signal)
        if expired:
            await self.repo.expire(expired, f"Expired after {settings.monitor.signal_ttl_bars} bars of {timeframe}")
            result.expired += len(expired)
        if not live:
            return
        scores = rescore_group(values, sentiment, [s.params for s in live])
        result.monitored += len(live)
        unchanged = []
        changes: list[tuple[Signal, Signal, list[AlertSpec]]] = []
        price = str(candles.close[-1])
        subscribers = None
        for i, signal in enumerate(live):
            new_rec = scores.recommendation(i)
            if new_rec == signal.recommendation:
                unchanged.append((signal.id or 0, float(scores.fused[i]), float(scores.technical[i]), sentiment,
                                  price, market_now))
                continue
            if subscribers is None:
                subscribers = await self.subscriptions.chats_for(symbol)
            fresh = build_signal(candles, values, reading, signal.params, sl_atr=settings.risk.sl_atr,
                                 tp_atr=settings.risk.tp_atr)
            fresh = fresh.model_copy(update={
                "extra": {**fresh.extra, "created_bar_time": _created_bar(signal).isoformat()}})
            changes.append((signal, fresh, await self._alerts(signal, fresh, subscribers, result.started_at)))
        await self.repo.apply_changes(changes)
        result.changed += len(changes)
        if settings.risk.exit_on_reversal and self.core.trading is not None:
            await self._exit_reversed(changes)
        await self.repo.record_checked(unchanged)

    async def _exit_reversed(self, changes: list[tuple[Signal, Signal, list[AlertSpec]]]) -> None:
        """`risk.exit_on_reversal`: a tip that turned BUY <-> SELL closes the positions opened from it."""
        trading = self.core.trading
        for old, new, _ in changes:
            if {old.recommendation, new.recommendation} != {Recommendation.BUY, Recommendation.SELL}:
                continue
            for position in await trading.repo.with_status("open", user_id=old.user_id):
                if position.signal_id == old.id:
                    try:
                        await trading.close(position, "signal_reversal")
                    except Exception:  # the position monitor will still watch it; never stop the cycle
                        log.exception("monitor: reversal exit of position %s failed", position.id)

    async def _owner(self, user_id: int) -> User | None:
        if user_id not in self._owners:
            self._owners[user_id] = await self.core.services.users.get(user_id)
        return self._owners[user_id]

    async def _alerts(self, old: Signal, new: Signal, subscribers: list[tuple[str, str]],
                      cycle: datetime) -> list[AlertSpec]:
        """The owner gets the updated card; each subscribed chat one market-level line per transition."""
        owner_chat = self._chats.get(old.id or 0)
        change = f"{old.recommendation.value} → {new.recommendation.value}"
        out: list[AlertSpec] = []
        if owner_chat is not None:
            from bot.core.handlers.signals import card_buttons

            shown = new.model_copy(update={"id": old.id, "created_at": old.created_at})
            owner = await self._owner(old.user_id or 0)
            tz = self.core.user_tz(owner) if owner else "UTC"
            reply = Reply(title=f"🔁 Tip #{old.id} changed: {change} · {new.symbol} {new.timeframe}",
                          text=cards.tip_card(shown, tz), buttons=card_buttons(self.core, shown, owner))
            out.append((owner_chat[0], owner_chat[1], "status_change", reply.model_dump(mode="json"), None))
        stamp = int(cycle.timestamp())
        for platform, chat_id in subscribers:
            if owner_chat == (platform, chat_id):
                continue
            reply = Reply(title=f"🔁 {new.symbol} {new.timeframe}: {change}",
                          text=f"A monitored tip turned {new.recommendation.value} · fused {new.fused_score:+.2f} · "
                               f"price {cards.fmt.price(new.price, new.price_decimals)}"
                               f"{' · DEMO' if new.demo else ''}\n"
                               f"/signal {new.symbol} {new.timeframe} for a fresh tip.")
            dedupe = f"status:{stamp}:{platform}:{chat_id}:{new.symbol}:{new.timeframe}:{change}"
            out.append((platform, chat_id, "status_change", reply.model_dump(mode="json"), dedupe))
        return out


def _created_bar(signal: Signal) -> datetime:
    raw = signal.extra.get("created_bar_time")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else signal.bar_time
