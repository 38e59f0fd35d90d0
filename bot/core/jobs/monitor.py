"""The signal monitor (SPEC §3; seed 000 §2): every live tip re-evaluated with its own thresholds and weights.

Tips are grouped by (symbol, timeframe) and read as columns, never as one model per tip. A cycle fetches
every group's candles and every symbol's sentiment concurrently, computes all indicator sets and scores in
one worker-thread call, and re-scores each group's tips as arrays. A changed recommendation is stored with
its `status_changed` event and its alerts in one transaction; unchanged tips only bump a compact counter,
all of them in one batched write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from bot.core.kernel import Core
from bot.core.usecases.tips import recarded
from bot.core.views.alerts import market_change_line, status_change_card
from engine.market import timeframe_seconds
from engine.market.symbols import asset_class
from engine.models import Candles, IndicatorSnapshot, Recommendation, SentimentReading, Signal, SignalParams
from engine.reevaluate import (
    CODES,
    GroupRebuild,
    Scores,
    StrategyRebuild,
    recommendation,
    rescore,
    settle_changes,
    technical_scores,
)
from engine.signals import MIN_BARS, snapshot
from engine.strategies import registry as strategies
from storage.alerts import AlertSpec
from storage.models import User
from storage.monitoring import ActiveTips, CheckedGroup, MonitoredTip, MonitorRepository, TipGroup, TipIdentity

log = logging.getLogger(__name__)
GROUP_CONCURRENCY = 8  # market and sentiment requests in flight at once


@dataclass
class CycleResult:
    started_at: datetime
    monitored: int = 0
    changed: int = 0
    expired: int = 0
    errors: int = 0
    failed_groups: list[str] = field(default_factory=list)
    duration_ms: float = 0.0


@dataclass
class _Group:
    """One (symbol, timeframe) of a cycle: its inputs, then what the worker thread made of them."""

    tips: TipGroup
    candles: Candles | None = None
    reading: SentimentReading | None = None
    error: Exception | None = None  # the group is skipped (after its expiries, if it got that far)
    values: IndicatorSnapshot | None = None
    expired: np.ndarray | None = None  # ids
    live: np.ndarray | None = None  # row numbers in ActiveTips
    scores: Scores | None = None
    # Tips another strategy made, by position in `live`: their fresh Signal by their own strategy, and those
    # whose change is taken without hysteresis (their score is not the fused score the thresholds belong to).
    own: dict[int, Signal] = field(default_factory=dict)
    direct: set[int] = field(default_factory=set)

    @property
    def sentiment(self) -> float:
        reading = self.reading
        return reading.score if reading is not None and reading.available else 0.0

    @property
    def label(self) -> str:
        return f"{self.tips.symbol} {self.tips.timeframe}"


class SignalMonitor:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.repo = MonitorRepository(core.storage.db)
        # Per cycle: the owners of the changed tips (for timezone and role), read at once.
        self._owners: dict[int, User] = {}
        # Tip id -> the change (a code) held back last cycle by hysteresis; taken if proposed again.
        self._pending: dict[int, int] = {}
        # Tip id -> (strategy, its parameters) for tips another strategy than fused made; None for fused ones.
        self._strategies: dict[int, tuple[str, dict[str, Any]] | None] = {}

    async def run_cycle(self) -> CycleResult:
        started = time.perf_counter()
        result = CycleResult(started_at=self.core.now())
        self._owners = {}
        tips = await self.repo.active_tips()
        groups = [_Group(g) for g in tips.groups]
        await self._fetch(groups)
        ttl_bars = self.core.settings.monitor.signal_ttl_bars
        own = await self._own_strategies(tips)
        risk = self.core.settings.risk
        await asyncio.to_thread(_evaluate, groups, tips, ttl_bars, own, risk.sl_atr, risk.tp_atr)
        self._settle(groups, tips)
        await self._expire(groups, result)
        checked = await self._apply(groups, tips, result)
        for group in groups:
            if group.error is not None:
                await self._failed(group, result)
        await self.repo.record_checked(checked)
        result.duration_ms = (time.perf_counter() - started) * 1000
        await self.core.storage.job_runs.record(
            "monitor", result.started_at, result.duration_ms, result.monitored, result.changed, result.expired,
            result.errors)
        if result.duration_ms > self.core.settings.monitor.signals_interval * 1000 / 2:
            log.warning("monitor cycle took %.0f ms (interval %s s)", result.duration_ms,
                        self.core.settings.monitor.signals_interval)
        return result

    async def _own_strategies(self, tips: ActiveTips) -> dict[int, tuple[str, dict[str, Any]]]:
        """The active tips another strategy made, with its parameters: read once per tip from its stored
        extra, then remembered while it stays active (fused tips cost nothing per cycle)."""
        ids = tips.ids.tolist()
        unknown = [i for i in ids if i not in self._strategies]
        if unknown:
            found = await self.repo.strategies(unknown)
            self._strategies.update({i: found.get(i) for i in unknown})
        self._strategies = {i: self._strategies[i] for i in ids}
        return {i: own for i, own in self._strategies.items() if own is not None}

    def _settle(self, groups: list[_Group], tips: ActiveTips) -> None:
        """Hysteresis: a proposed change that is only just past its threshold waits for the next cycle, and is
        taken then if the cycle proposes it again (`monitor.hysteresis`)."""
        hysteresis = self.core.settings.monitor.hysteresis
        pending: dict[int, int] = {}
        for group in groups:
            if group.error is not None or group.scores is None or group.live is None:
                continue
            live, scores = group.live, group.scores
            moving = np.flatnonzero(scores.codes != tips.codes[live])
            if not len(moving):
                continue
            rows = live[moving]
            ids = tips.ids[rows]
            proposed = scores.codes[moving]
            before = np.fromiter((self._pending.get(int(i), 9) for i in ids), np.int64, len(ids))
            settled = settle_changes(tips.codes[rows], proposed, scores.fused[moving], tips.buy_threshold[rows],
                                     tips.sell_threshold[rows], hysteresis, before)
            if group.direct:
                direct = np.fromiter((int(m) in group.direct for m in moving), bool, len(moving))
                settled = np.where(direct, proposed, settled)
            held = settled != proposed
            pending.update(zip(ids[held].tolist(), proposed[held].tolist(), strict=True))
            codes = scores.codes.copy()
            codes[moving] = settled
            group.scores = Scores(scores.technical, scores.fused, codes)
        self._pending = pending  # only consecutive cycles count: a proposal not repeated is forgotten

    async def _fetch(self, groups: list[_Group]) -> None:
        """Candles per group and sentiment per symbol (not per symbol × timeframe), concurrently."""
        services = self.core.services
        bars = self.core.settings.market.bars
        semaphore = asyncio.Semaphore(GROUP_CONCURRENCY)

        async def candles(group: _Group) -> Candles:
            async with semaphore:
                return await services.market.fetch_ohlcv(group.tips.symbol, group.tips.timeframe, bars)

        async def sentiment(symbol: str) -> SentimentReading:
            async with semaphore:
                at = await services.market.as_of(symbol)
                return await services.sentiment.reading(symbol, asset_class(symbol), at=at)

        symbols = list(dict.fromkeys(g.tips.symbol for g in groups))
        found = await asyncio.gather(*(candles(g) for g in groups), *(sentiment(s) for s in symbols),
                                     return_exceptions=True)
        for outcome in found:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # cancellation and the like stop the cycle; only errors skip a group
        readings = dict(zip(symbols, found[len(groups):], strict=True))
        for group, got in zip(groups, found[:len(groups)], strict=True):
            reading = readings[group.tips.symbol]
            if isinstance(got, Exception):
                group.error = got
            elif isinstance(reading, Exception):
                group.error = reading
            else:
                assert isinstance(got, Candles) and isinstance(reading, SentimentReading)
                group.candles, group.reading = got, reading

    async def _expire(self, groups: list[_Group], result: CycleResult) -> None:
        by_reason: dict[str, list[int]] = defaultdict(list)
        for group in groups:
            if group.expired is not None and len(group.expired):
                reason = f"Expired after {self.core.settings.monitor.signal_ttl_bars} bars of {group.tips.timeframe}"
                by_reason[reason].extend(group.expired.tolist())
        for reason, ids in by_reason.items():
            await self.repo.expire(ids, reason)
            result.expired += len(ids)

    async def _apply(self, groups: list[_Group], tips: ActiveTips, result: CycleResult) -> list[CheckedGroup]:
        """Store the changed tips with their alerts (one transaction); return the unchanged ones to record."""
        settings = self.core.settings
        checked: dict[int, CheckedGroup] = {}
        changed_rows: dict[int, np.ndarray] = {}
        for n, group in enumerate(groups):
            if group.error is not None or group.scores is None or group.live is None:
                continue
            assert group.candles is not None
            rows, scores = group.live, group.scores
            result.monitored += len(rows)
            same = scores.codes == tips.codes[rows]
            checked[n] = CheckedGroup(ids=tips.ids[rows[same]], fused=scores.fused[same],
                                      technical=scores.technical[same], sentiment=group.sentiment,
                                      price=str(group.candles.close[-1]), bar_time=group.candles.last_time)
            if not same.all():
                changed_rows[n] = np.flatnonzero(~same)
        rows = np.concatenate([groups[n].live[picks] for n, picks in changed_rows.items()]) if changed_rows \
            else np.empty(0, np.intp)
        known = await self.repo.tips(tips.ids[rows].tolist(), map(recommendation, tips.codes[rows].tolist()))
        subscribers = await self.repo.subscribers(groups[n].tips.symbol for n in changed_rows)
        self._owners = await self.repo.owners(tip.user_id for tip in known.values())
        changes: list[tuple[MonitoredTip, Signal, list[AlertSpec]]] = []
        in_changes: list[int] = []
        for n, picks in changed_rows.items():
            group = groups[n]
            try:
                group_changes = await self._changes(group, picks, tips, known, subscribers[group.tips.symbol],
                                                    result.started_at)
            except Exception as exc:  # e.g. indicators a tip cannot be built on: the group is skipped
                group.error = exc
                del checked[n]
                continue
            changes.extend(group_changes)
            in_changes.append(n)
            await asyncio.sleep(0)  # cards are built on the event loop: let chats in between groups
        try:
            await self.repo.apply_changes(changes)
        except Exception as exc:  # the changes commit together or not at all; their groups are skipped
            for n in in_changes:
                groups[n].error = exc
                checked.pop(n, None)
            return list(checked.values())
        result.changed += len(changes)
        if settings.risk.exit_on_reversal and self.core.trading is not None:
            await self._exit_reversed(changes)
        return list(checked.values())

    async def _changes(self, group: _Group, picks: np.ndarray, tips: ActiveTips, known: dict[int, MonitoredTip],
                       subscribers: list[tuple[str, str]], cycle: datetime
                       ) -> list[tuple[MonitoredTip, Signal, list[AlertSpec]]]:
        assert group.candles is not None and group.values is not None and group.reading is not None
        assert group.live is not None and group.scores is not None
        settings = self.core.settings
        rebuild = GroupRebuild(group.candles, group.values, group.reading, sl_atr=settings.risk.sl_atr,
                               tp_atr=settings.risk.tp_atr)
        out = []
        for i in picks.tolist():
            old = known.get(int(tips.ids[group.live[i]]))
            if old is None:  # deleted while the cycle ran (e.g. /forgetme): nothing left to change
                continue
            fresh = group.own.get(i) or rebuild.signal(old.params)
            fresh = fresh.model_copy(update={"extra": {**fresh.extra, "created_bar_time": old.created_bar}})
            fresh = await self._recarded(fresh, group.candles)
            out.append((old, fresh, self._alerts(old, fresh, subscribers, cycle)))
        return out

    async def _recarded(self, fresh: Signal, candles: Candles) -> Signal:
        """The changed tip with its new side's card lines (contract, grid table, record), chosen by the code a
        fresh tip's card uses. If that fails (say the options chain is down) the change still goes out, without
        them: a missed alert costs more than a missing line."""
        try:
            return await recarded(self.core, fresh, candles)
        except Exception:
            log.exception("monitor: card lines of %s %s not rebuilt", fresh.symbol, fresh.timeframe)
            return fresh

    async def _failed(self, group: _Group, result: CycleResult) -> None:
        """One failing market never stops the cycle: it is counted, named and skipped."""
        assert group.error is not None
        await self.core.source_alerts.failed(group.error)
        result.errors += 1
        result.failed_groups.append(group.label)
        log.warning("monitor: %s skipped: %s", group.label, group.error)

    async def _exit_reversed(self, changes: list[tuple[TipIdentity, Signal, list[AlertSpec]]]) -> None:
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

    def _alerts(self, old: MonitoredTip, new: Signal, subscribers: list[tuple[str, str]],
                      cycle: datetime) -> list[AlertSpec]:
        """The owner gets the updated card; each subscribed chat one market-level line per transition."""
        owner_chat = (old.platform, old.chat_id)
        shown = new.model_copy(update={"id": old.id, "created_at": old.created_at})
        card = status_change_card(self.core, shown, old.recommendation, self._owners.get(old.user_id))
        out: list[AlertSpec] = [(owner_chat[0], owner_chat[1], "status_change", card.model_dump(mode="json"), None)]
        others = [chat for chat in subscribers if chat != owner_chat]
        if not others:
            return out
        line = market_change_line(new, old.recommendation).model_dump(mode="json")  # the same for every chat
        # The key names the transition itself, not the view's wording of it: rewording an alert must not change
        # which alerts the outbox counts as the same one.
        change = f"{old.recommendation.value} → {new.recommendation.value}"
        stamp = int(cycle.timestamp())
        for platform, chat_id in others:
            dedupe = f"status:{stamp}:{platform}:{chat_id}:{new.symbol}:{new.timeframe}:{change}"
            out.append((platform, chat_id, "status_change", line, dedupe))
        return out


def _evaluate(groups: list[_Group], tips: ActiveTips, ttl_bars: int,
              own: dict[int, tuple[str, dict[str, Any]]] | None = None, sl_atr: float = 2.0,
              tp_atr: float = 3.0) -> None:
    """CPU part of a cycle, in one worker-thread call: indicators, expiry and scores of every group."""
    for group in groups:
        if group.error is not None:
            continue
        try:
            _evaluate_group(group, tips, ttl_bars)
            if own:
                _own_strategy_scores(group, tips, own, sl_atr, tp_atr)
        except Exception as exc:  # one group's bad data never stops the others
            group.error = exc


def _evaluate_group(group: _Group, tips: ActiveTips, ttl_bars: int) -> None:
    candles = group.candles
    assert candles is not None
    if len(candles) < MIN_BARS:
        raise ValueError(f"only {len(candles)} bars")
    group.values = values = snapshot(candles)
    ttl = ttl_bars * timeframe_seconds(group.tips.timeframe)
    rows = np.arange(group.tips.start, group.tips.stop)
    old = (candles.last_time.timestamp() - tips.created_bar_ts[rows]) >= ttl
    group.expired = tips.ids[rows[old]]
    live = rows[~old]
    if not len(live):
        return
    # From here a failure skips the group's live tips; its expiries above still stand.
    used, where = np.unique(tips.scale_index[live], return_inverse=True)
    technical = technical_scores(values, [tips.scales[int(k)] for k in used])[where.reshape(-1)]
    group.scores = rescore(technical, group.sentiment, tips.technical_weight[live], tips.sentiment_weight[live],
                           tips.buy_threshold[live], tips.sell_threshold[live])
    group.live = live



def _own_strategy_scores(group: _Group, tips: ActiveTips, own: dict[int, tuple[str, dict[str, Any]]],
                         sl_atr: float, tp_atr: float) -> None:
    """Tips another strategy made are read again by that strategy (build_signal with its name and parameters,
    one decision per distinct parameter set), their row of the group's scores replaced by its reading."""
    live, scores = group.live, group.scores
    if live is None or scores is None:
        return
    mine = [(i, own[tip_id]) for i, tip_id in enumerate(tips.ids[live].tolist()) if tip_id in own]
    if not mine:
        return
    assert group.candles is not None and group.values is not None and group.reading is not None
    rebuild = StrategyRebuild(group.candles, group.values, group.reading, sl_atr=sl_atr, tp_atr=tp_atr)
    codes, fused, technical = scores.codes.copy(), scores.fused.copy(), scores.technical.copy()
    for i, (name, params) in mine:
        row = int(live[i])
        stored = SignalParams(buy_threshold=float(tips.buy_threshold[row]),
                              sell_threshold=float(tips.sell_threshold[row]),
                              technical_weight=float(tips.technical_weight[row]),
                              sentiment_weight=float(tips.sentiment_weight[row]),
                              macd_scale=tips.scales[int(tips.scale_index[row])])
        try:
            fresh = rebuild.signal(stored, name, params)
        except Exception as exc:  # e.g. a strategy no longer available: this tip keeps its reading, not the group
            log.warning("monitor: tip #%s (%s) not re-read: %s", int(tips.ids[row]), name, exc)
            codes[i] = tips.codes[row]
            continue
        group.own[i] = fresh
        codes[i], fused[i], technical[i] = CODES[fresh.recommendation], fresh.fused_score, fresh.technical_score
        if getattr(strategies.get(name), "extends", None) != "fused":
            group.direct.add(i)
    group.scores = Scores(technical, fused, codes)
