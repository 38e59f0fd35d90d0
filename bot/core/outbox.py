"""The durable alert outbox, platform-free (SPEC §5).

Alerts (status changes, scans, summaries, broadcasts …) are stored as rows by `AlertOutbox.enqueue` before
anything is sent; each platform adapter runs an `OutboxDrainer` with its own `AlertSender` that sends them,
marks them sent, and copes with what platforms do to bulk senders:

* pacing: at most one message a second per chat and 20 a minute per group (Telegram's limits), kept here
  because PTB's AIORateLimiter has no per-private-chat limit;
* flood waits (`RetryLater`) and backoff hold back only their own chat — every chat has its own "not before"
  time and the queue is claimed per chat head-of-line, so one chat's wait never stalls the others;
* a chat that blocked the bot (`ChatUnreachable`) is marked blocked and its queue dropped until its user
  sends /start again (`AlertOutbox.unblock_chat`);
* a chat's `/notify` choice is applied as the row is stored (storage.alerts), whichever code queues it: a
  kind set `off` is stored `dropped` with the reason, one set `silent` carries `"silent": true` in its payload
  (`Reply.silent`), which each sender honours (Telegram disable_notification, Discord's silent flag);
* at most `max_in_flight` rows are `sending` at once. A kill -9 leaves at most that many rows `sending`,
  `recover_in_flight` re-queues them at start-up, and they are the only alerts that can arrive twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import aiosqlite

from bot.core.metrics import Metrics, NoMetrics
from bot.core.replies import Reply
from storage.alerts import Alert, AlertRepository
from storage.chats import GROUP_TYPES, ChatRepository
from storage.db import Database, utcnow

log = logging.getLogger(__name__)

# ---- what a sender may raise ------------------------------------------------------------------------


class SendError(Exception):
    """Base of the errors an `AlertSender` raises; anything else is treated as transient (and logged)."""


class RetryLater(SendError):
    """The platform asked us to wait (Telegram's 429 RetryAfter): retry this chat after `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:g} s")
        self.seconds = max(float(seconds), 0.0)


class ChatUnreachable(SendError):
    """The chat blocked the bot, was deleted, or the bot was removed: stop sending to it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientSendError(SendError):
    """A network error, timeout or 5xx: worth retrying with backoff."""


class PermanentSendError(SendError):
    """The platform refused this message for good (e.g. malformed markup): mark it failed."""


class AlertSender(Protocol):
    """One platform's way of delivering an alert to one chat."""

    platform: str

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver `reply`, or raise RetryLater / ChatUnreachable / TransientSendError / PermanentSendError."""
        ...


# ---- enqueueing -------------------------------------------------------------------------------------


class AlertOutbox:
    """What the core uses: queue alerts, wake the drainers, unblock a chat on /start."""

    def __init__(self, alerts: AlertRepository, chats: ChatRepository) -> None:
        self.alerts = alerts
        self.chats = chats
        self._wake: dict[str, asyncio.Event] = {}
        self.metrics: Metrics = NoMetrics()  # handed to every drainer: sends and their lag (metrics.port)

    @classmethod
    def for_db(cls, db: Database) -> AlertOutbox:
        return cls(AlertRepository(db), ChatRepository(db))

    def wake_event(self, platform: str) -> asyncio.Event:
        """The event a platform's drainer waits on; set whenever an alert for that platform is queued."""
        return self._wake.setdefault(platform, asyncio.Event())

    def notify(self, platform: str) -> None:
        self.wake_event(platform).set()

    async def enqueue(self, platform: str, chat_id: str, reply: Reply, kind: str, dedupe_key: str | None = None,
                      *, conn: aiosqlite.Connection | None = None) -> int:
        """Store an alert and wake the platform's drainer; returns the alert id.

        With `conn` (from `db.transaction()`) the alert commits together with the caller's change. Waking
        before that commit is harmless: the drainer claims rows in a transaction of its own, which waits for
        the write lock and re-checks every row, so it takes them only once committed (never after a
        rollback).
        """
        alert_id = await self.alerts.enqueue(platform, str(chat_id), kind, reply.model_dump(mode="json"),
                                             dedupe_key=dedupe_key, conn=conn)
        self.notify(platform)
        return alert_id

    async def unblock_chat(self, platform: str, chat_id: str) -> bool:
        """Call on /start: a chat that had blocked the bot receives alerts again. True if it was blocked."""
        unblocked = await self.chats.unblock(platform, str(chat_id))
        if unblocked:
            log.info("chat %s:%s unblocked (/start); alerts resume", platform, chat_id)
        return unblocked

    def drainer(self, sender: AlertSender, max_in_flight: int = 4, **options: Any) -> OutboxDrainer:
        """A drainer for `sender`'s platform, woken by this outbox's enqueues."""
        drainer = OutboxDrainer(self.alerts, self.chats, sender, max_in_flight,
                                wake=self.wake_event(sender.platform), **options)
        drainer.metrics = self.metrics
        return drainer


# ---- draining ---------------------------------------------------------------------------------------


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so a burst of failures after an
    outage does not come back as a synchronized burst of retries."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def telegram_style_is_group(chat_id: str) -> bool:
    """Fallback when the chats table does not know the type: Telegram groups/channels have negative ids."""
    return chat_id.startswith("-")


MIN_RECHECK = 0.02  # s; bounds how often an idle drainer rescans the queue for chats whose pacing ended
# s; how long a stopping drainer waits for its sends in flight: a graceful shutdown has 10 s in all.
STOP_GRACE = 4.0


@dataclass
class DrainerStats:
    sent: int = 0
    retried: int = 0
    flood_waits: int = 0
    failed: int = 0
    dropped_chats: int = 0
    max_in_flight_seen: int = 0
    transactions: int = 0


@dataclass
class _Outcome:
    """How one send ended, waiting to be written with the drainer's next transaction."""

    alert: Alert
    status: Literal["sent", "retry", "failed", "unreachable"]
    error: str = ""
    delay: float = 0.0
    count_attempt: bool = True


class OutboxDrainer:
    """A long-running task that sends one platform's alerts. `start()` … `stop()`.

    One loop owns the database side: each turn writes the outcomes of the sends that finished and claims
    rows for the free slots, both in one transaction ("group commit"). A slot is free only once its
    outcome is committed, so rows that may have been sent but are not marked `sent` — the only ones a
    kill -9 can duplicate — are never more than `max_in_flight`. The sends themselves run as tasks and
    touch no storage.
    """

    def __init__(
        self,
        repo: AlertRepository,
        chats: ChatRepository,
        sender: AlertSender,
        max_in_flight: int = 4,
        per_chat_interval: float = 1.0,
        group_per_minute: int = 20,
        clock: Callable[[], datetime] = utcnow,
        *,
        group_window: float = 60.0,
        wake: asyncio.Event | None = None,
        poll_interval: float = 0.5,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        overall_per_second: float | None = None,
        is_group: Callable[[str], bool] = telegram_style_is_group,
        on_unreachable: Callable[[str, str, str], Awaitable[None]] | None = None,
        lookahead: int = 64,
    ) -> None:
        """
        `clock` is the wall clock for due times in storage; pacing uses the monotonic clock.
        `group_per_minute` sends per `group_window` seconds (a sliding window) is the group limit.
        `poll_interval` (≤ 1 s) catches rows that become due later or were queued by another process.
        `overall_per_second` caps sends across all chats (Telegram: ~30/s) when nothing else does.
        `on_unreachable(platform, chat_id, reason)` runs after a chat is marked blocked (e.g. unsubscribe).
        `lookahead` is how many due rows one scan of the queue reads ahead (they are not claimed by it).
        """
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.repo = repo
        self.chats = chats
        self.sender = sender
        self.platform = sender.platform
        self.max_in_flight = max_in_flight
        self.per_chat_interval = per_chat_interval
        self.group_per_minute = group_per_minute
        self.group_window = group_window
        self.clock = clock
        self.poll_interval = min(poll_interval, 1.0)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.overall_interval = 1.0 / overall_per_second if overall_per_second else 0.0
        self.is_group_fallback = is_group
        self.on_unreachable = on_unreachable
        self.lookahead = max(lookahead, max_in_flight)
        self.stats = DrainerStats()
        self.metrics: Metrics = NoMetrics()

        self._wake = wake or asyncio.Event()  # set by AlertOutbox.enqueue
        self._kick = asyncio.Event()  # set when a send finishes
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._running: dict[asyncio.Task[_Outcome], str] = {}  # sends under way → their chat
        self._claimed: dict[asyncio.Task[_Outcome], Alert] = {}  # sends under way → their row
        self._outcomes: list[_Outcome] = []  # finished sends whose outcome is not yet written
        self._ready: deque[tuple[int, str]] = deque()  # looked-ahead due heads of line: (alert id, chat)
        self._exhausted = False  # the last look-ahead saw everything that was due
        self._recheck_at = 0.0
        self._not_before: dict[str, float] = {}  # chat → monotonic time before which it gets nothing
        self._group_sends: dict[str, deque[float]] = {}  # group chat → its last sends (sliding window)
        self._group_types: dict[str, bool] = {}  # chat → is a group (cached)
        self._overall_next = 0.0

    # ---- lifecycle --------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, *, recover: bool = True) -> None:
        """Start draining. With `recover` (the default; leave it on unless another live process of this
        platform drains the same database) rows a dead process left `sending` are queued again first."""
        if self.running:
            return
        if recover:
            recovered = await self.repo.recover_in_flight(self.platform)
            if recovered:
                log.warning("outbox %s: %d alert(s) were in flight at the last stop; sending them again "
                            "(they may arrive twice)", self.platform, recovered)
        await self._restore_pacing()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self.platform}")

    async def stop(self, grace: float | None = STOP_GRACE) -> None:
        """Claim nothing more, wait for the sends in flight, write their outcomes, then return.

        Sends still running after `grace` seconds are cancelled and their rows put back to `pending` (due
        now, the attempt not counted), so a stop leaves no row `sending`; only a kill can.
        """
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=grace)
            cut = [self._claimed[task] for task in late if task in self._claimed]
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
                self._outcomes.extend(_Outcome(alert, "retry", "cancelled at shutdown", count_attempt=False)
                                      for alert in cut)
                log.warning("outbox %s: %d send(s) cancelled at stop; queued again", self.platform, len(late))
        if self._outcomes:
            await self._commit([])

    async def __aenter__(self) -> OutboxDrainer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- the loop ---------------------------------------------------------------------------------------

    async def _run(self) -> None:
        log.info("outbox %s: draining (max %d in flight)", self.platform, self.max_in_flight)
        while not self._stopping:
            if self._wake.is_set() or time.monotonic() >= self._recheck_at:
                self._exhausted = False  # new alerts were queued, or paced chats and backoffs came due
            # Cleared before looking: an enqueue or a finished send meanwhile sets them and we look again.
            self._wake.clear()
            self._kick.clear()
            try:
                await self._turn()
            except Exception:
                log.exception("outbox %s: writing outcomes or claiming alerts failed; retrying shortly",
                              self.platform)
                self._exhausted = True
            await self._idle(self._wait_time())
        log.info("outbox %s: stopped claiming", self.platform)

    async def _turn(self) -> None:
        """Write finished outcomes and fill the free slots, until no slot is free or nothing is due."""
        looked = 0
        while not self._stopping:
            free = self.max_in_flight - len(self._running)  # outcomes written below free their slots
            picked = self._pick(free)
            if not picked and free > 0 and not self._exhausted and looked < 2:
                await self._look_ahead()
                looked += 1
                picked = self._pick(free)
            if not picked and not self._outcomes:
                if looked >= 2:
                    self._exhausted = True  # whatever we read could not be claimed; wait for the recheck
                return
            for alert in await self._commit(picked):
                self._launch(alert)

    def _pick(self, free: int) -> list[int]:
        """Up to `free` looked-ahead alerts whose chats may be sent to now, one per chat."""
        if free <= 0 or not self._ready:
            return []
        busy = self._busy_chats()
        picked: dict[str, int] = {}
        while self._ready and len(picked) < free:
            alert_id, chat = self._ready.popleft()
            if chat not in busy and chat not in picked:
                picked[chat] = alert_id
        return list(picked.values())

    async def _look_ahead(self) -> None:
        """Read the next due heads of line: one scan of the queue for many sends (claiming re-checks)."""
        found = await self.repo.candidates(self.platform, self.lookahead, self.clock(), self._busy_chats())
        self._ready = deque(found)
        self._exhausted = len(found) < self.lookahead

    async def _commit(self, claim: list[int]) -> list[Alert]:
        """One transaction: the finished sends' outcomes, then the claim of `claim`'s rows."""
        outcomes, self._outcomes = self._outcomes, []
        now = self.clock()
        try:
            async with self.repo.transaction() as conn:
                for outcome in outcomes:
                    await self._write(conn, outcome, now)
                claimed = await self.repo.claim_ids(claim, now, conn=conn) if claim else []
        except BaseException:
            self._outcomes[:0] = outcomes  # not written: keep them (and their slots) for the next turn
            raise
        self.stats.transactions += 1
        for outcome in outcomes:
            await self._after(outcome)
        unknown = [a.chat_id for a in claimed if a.chat_id not in self._group_types]
        if unknown:
            await self._learn_types(unknown)
        return claimed

    async def _write(self, conn: aiosqlite.Connection, outcome: _Outcome, now: datetime) -> None:
        alert = outcome.alert
        if outcome.status == "sent":
            await self.repo.mark_sent(alert.id, now, conn=conn)
        elif outcome.status == "retry":
            await self.repo.mark_retry(alert.id, outcome.delay, outcome.error, count_attempt=outcome.count_attempt,
                                       now=now, conn=conn)
        elif outcome.status == "failed":
            await self.repo.mark_failed(alert.id, outcome.error, conn=conn)
        else:  # unreachable: block the chat and drop its queue with this alert, all or nothing
            reason = f"chat unreachable: {outcome.error}"
            await self.chats.mark_blocked(self.platform, alert.chat_id, outcome.error, conn=conn)
            await self.repo.mark_dropped(alert.id, reason, conn=conn)
            outcome.delay = await self.repo.drop_for_chat(self.platform, alert.chat_id, reason, conn=conn)

    async def _after(self, outcome: _Outcome) -> None:
        """Count and log an outcome once it is stored; run the unreachable hook."""
        alert = outcome.alert
        lag = (self.clock() - alert.created_at).total_seconds() if outcome.status == "sent" else None
        self.metrics.alert_sent(self.platform, outcome.status, lag)
        if outcome.status == "sent":
            self.stats.sent += 1
        elif outcome.status == "retry":
            if outcome.count_attempt:
                self.stats.retried += 1
            else:
                self.stats.flood_waits += 1
        elif outcome.status == "failed":
            self.stats.failed += 1
            log.error("outbox %s: alert %d (%s) to chat %s failed: %s", self.platform, alert.id, alert.kind,
                      alert.chat_id, outcome.error)
        else:
            self.stats.dropped_chats += 1
            log.warning("outbox %s: chat %s unreachable (%s); marked blocked, %d queued alert(s) dropped until "
                        "/start", self.platform, alert.chat_id, outcome.error, int(outcome.delay) + 1)
            if self.on_unreachable is not None:
                try:
                    await self.on_unreachable(self.platform, alert.chat_id, outcome.error)
                except Exception:
                    log.exception("outbox %s: on_unreachable hook failed for chat %s", self.platform,
                                  alert.chat_id)

    def _busy_chats(self) -> set[str]:
        """Chats that may not be sent to now: paced, flood-waiting, backing off, or with a send in flight."""
        now = time.monotonic()
        for chat, t in list(self._not_before.items()):
            if t <= now:
                del self._not_before[chat]
        busy = set(self._not_before) | set(self._running.values())
        busy.update(o.alert.chat_id for o in self._outcomes)
        return busy

    def _wait_time(self) -> float:
        """How long to sleep unless woken (a new alert, a finished send)."""
        if not self._exhausted:
            return self.poll_interval  # every slot is busy: a finished send wakes us
        # Everything due is taken: look again when the next paced chat opens up, or at the poll interval
        # (rows queued by another process, backoffs of a previous run).
        now = time.monotonic()
        soonest = min((t for t in self._not_before.values() if t > now), default=None)
        gap = self.poll_interval if soonest is None else min(self.poll_interval, max(soonest - now, MIN_RECHECK))
        self._recheck_at = now + gap
        return gap

    async def _idle(self, seconds: float) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._kick.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _launch(self, alert: Alert) -> None:
        task = asyncio.create_task(self._deliver(alert), name=f"outbox-send-{alert.id}")
        self._running[task] = alert.chat_id
        self._claimed[task] = alert
        self.stats.max_in_flight_seen = max(self.stats.max_in_flight_seen, len(self._running) + len(self._outcomes))
        task.add_done_callback(self._send_done)

    def _send_done(self, task: asyncio.Task[_Outcome]) -> None:
        self._running.pop(task, None)
        alert = self._claimed.pop(task, None)
        if task.cancelled():
            return  # stop() re-queues it (its row stays `sending` only if the process dies first)
        if task.exception() is not None:  # _deliver catches everything; this would be a bug in it
            log.error("outbox %s: send task crashed", self.platform, exc_info=task.exception())
            if alert is not None:  # not left `sending`: retried later like a transient error
                self._outcomes.append(_Outcome(alert, "retry", "send task crashed", delay=self.backoff_base))
                self._kick.set()
            return
        self._outcomes.append(task.result())
        self._kick.set()

    # ---- one alert ----------------------------------------------------------------------------------------

    async def _deliver(self, alert: Alert) -> _Outcome:
        """Send one alert and say how it went; storage is written by the loop."""
        chat = alert.chat_id
        if alert.attempts > self.max_attempts:
            # Claimed this often without an outcome (e.g. the process died while sending it every time).
            return _Outcome(alert, "failed", f"gave up after {alert.attempts - 1} attempts")
        try:
            reply = Reply.model_validate(alert.payload)
        except ValueError as exc:
            return _Outcome(alert, "failed", f"unreadable payload: {exc}")
        await self._overall_slot()
        try:
            await self.sender.send(chat, reply)
        except RetryLater as exc:
            self._hold(chat, exc.seconds)
            log.info("outbox %s: chat %s flood wait %.1f s (alert %d)", self.platform, chat, exc.seconds, alert.id)
            return _Outcome(alert, "retry", str(exc), delay=exc.seconds, count_attempt=False)
        except ChatUnreachable as exc:
            return _Outcome(alert, "unreachable", exc.reason)
        except PermanentSendError as exc:
            self._paced(chat)
            return _Outcome(alert, "failed", f"refused: {exc}")
        except Exception as exc:
            self._paced(chat)
            if not isinstance(exc, TransientSendError):
                log.exception("outbox %s: unexpected error sending alert %d; treating it as transient",
                              self.platform, alert.id)
            error = str(exc) or type(exc).__name__
            if alert.attempts >= self.max_attempts:
                return _Outcome(alert, "failed", f"gave up after {alert.attempts} attempts: {error}")
            delay = backoff_delay(alert.attempts, self.backoff_base, self.backoff_cap)
            self._hold(chat, delay)
            log.info("outbox %s: alert %d to %s failed (%s); retry %d in %.1f s", self.platform, alert.id, chat,
                     error, alert.attempts, delay)
            return _Outcome(alert, "retry", error, delay=delay)
        self._paced(chat)
        return _Outcome(alert, "sent")

    # ---- pacing -------------------------------------------------------------------------------------------

    async def _overall_slot(self) -> None:
        """Space send starts `overall_interval` apart across all chats (a no-op when uncapped)."""
        if not self.overall_interval:
            return
        now = time.monotonic()
        slot = max(now, self._overall_next)
        self._overall_next = slot + self.overall_interval
        if slot > now:
            await asyncio.sleep(slot - now)

    def _hold(self, chat: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        self._not_before[chat] = max(self._not_before.get(chat, 0.0), until)

    def _paced(self, chat: str, at: float | None = None) -> None:
        """Record a send to `chat` that finished at `at`. Counting from the finish (not the start) keeps two
        sends at least `per_chat_interval` apart as the platform sees them, whatever the latency."""
        at = time.monotonic() if at is None else at
        until = at + self.per_chat_interval
        if self._is_group(chat) and self.group_per_minute:
            window = self._group_sends.setdefault(chat, deque(maxlen=self.group_per_minute))
            window.append(at)
            if len(window) == self.group_per_minute:
                until = max(until, window[0] + self.group_window)
            if len(self._group_sends) > 4096:  # forget groups idle for a minute
                self._group_sends = {c: w for c, w in self._group_sends.items() if w and w[-1] > at - self.group_window}
        if until > time.monotonic():
            self._not_before[chat] = max(self._not_before.get(chat, 0.0), until)

    def _is_group(self, chat: str) -> bool:
        known = self._group_types.get(chat)
        return self.is_group_fallback(chat) if known is None else known

    async def _learn_types(self, chat_ids: list[str]) -> None:
        types = await self.chats.chat_types(self.platform, chat_ids)
        for chat in chat_ids:
            self._group_types[chat] = (types[chat] in GROUP_TYPES) if chat in types else self.is_group_fallback(chat)
        if len(self._group_types) > 100_000:
            self._group_types.clear()

    async def _restore_pacing(self) -> None:
        """After a restart, count the sends of the last minute so pacing goes on where it stopped."""
        wall_now = self.clock()
        horizon = timedelta(seconds=max(self.group_window, self.per_chat_interval))
        recent = await self.repo.recent_sends(self.platform, wall_now - horizon)
        if not recent:
            return
        await self._learn_types(sorted({chat for chat, _ in recent}))
        mono_now = time.monotonic()
        for chat, sent_at in recent:
            self._paced(chat, at=mono_now - (wall_now - sent_at).total_seconds())
