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
from typing import Any, Protocol

import aiosqlite

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
        before that commit is harmless: the drainer's claim needs the write lock, so it sees the rows only
        once committed (or not at all after a rollback).
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
        return OutboxDrainer(self.alerts, self.chats, sender, max_in_flight,
                             wake=self.wake_event(sender.platform), **options)


def outbox_of(services: Any) -> AlertOutbox:
    """The one AlertOutbox of a `Services`, created on first use and kept on it, so the enqueuing core and
    the adapters' drainers share the wake-up events."""
    outbox = getattr(services, "outbox", None)
    if not isinstance(outbox, AlertOutbox):
        outbox = AlertOutbox.for_db(services.db)
        services.outbox = outbox
    return outbox


# ---- draining ---------------------------------------------------------------------------------------


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so a burst of failures after an
    outage does not come back as a synchronized burst of retries."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def telegram_style_is_group(chat_id: str) -> bool:
    """Fallback when the chats table does not know the type: Telegram groups/channels have negative ids."""
    return chat_id.startswith("-")


@dataclass
class DrainerStats:
    sent: int = 0
    retried: int = 0
    flood_waits: int = 0
    failed: int = 0
    dropped_chats: int = 0
    max_in_flight_seen: int = 0


class OutboxDrainer:
    """A long-running task that sends one platform's alerts. `start()` … `stop()`."""

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
    ) -> None:
        """
        `clock` is the wall clock for due times in storage; pacing uses the monotonic clock.
        `group_per_minute` sends per `group_window` seconds (a sliding window) is the group limit.
        `poll_interval` (≤ 1 s) catches rows that become due later or were queued by another process.
        `overall_per_second` caps sends across all chats (Telegram: ~30/s) when nothing else does.
        `on_unreachable(platform, chat_id, reason)` runs after a chat is marked blocked (e.g. unsubscribe).
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
        self.stats = DrainerStats()

        self._wake = wake or asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._sends: dict[asyncio.Task[None], str] = {}  # in-flight send → its chat
        self._not_before: dict[str, float] = {}  # chat → monotonic time before which it gets nothing
        self._group_sends: dict[str, deque[float]] = {}  # group chat → its last sends (sliding minute)
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

    async def stop(self, grace: float | None = 30.0) -> None:
        """Claim nothing more, wait for the sends in flight to finish and be marked, then return.

        Sends still running after `grace` seconds are cancelled; their rows stay `sending` and are re-queued by
        the next start's recovery.
        """
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sends:
            _, pending = await asyncio.wait(set(self._sends), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
                log.warning("outbox %s: %d send(s) cancelled at stop", self.platform, len(pending))

    async def __aenter__(self) -> OutboxDrainer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- the loop ---------------------------------------------------------------------------------------

    async def _run(self) -> None:
        log.info("outbox %s: draining (max %d in flight)", self.platform, self.max_in_flight)
        while not self._stopping:
            # Cleared before claiming: an enqueue during the claim sets it again and we look once more.
            self._wake.clear()
            free = self.max_in_flight - len(self._sends)
            starved = True
            if free > 0:
                try:
                    alerts = await self._claim(free)
                except Exception:
                    log.exception("outbox %s: claiming alerts failed; retrying shortly", self.platform)
                    alerts = []
                for alert in alerts:
                    self._launch(alert)
                starved = len(alerts) < free
            await self._idle(self._wait_time(starved))
        log.info("outbox %s: stopped claiming", self.platform)

    def _wait_time(self, starved: bool) -> float:
        if not starved:
            return self.poll_interval  # all slots busy: a finished send sets the event
        # Nothing more was due for the free slots: look again when the next paced chat opens up.
        now = time.monotonic()
        soonest = min((t for t in self._not_before.values() if t > now), default=None)
        if soonest is None:
            return self.poll_interval
        return min(self.poll_interval, max(soonest - now, 0.005))

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _claim(self, limit: int) -> list[Alert]:
        now = time.monotonic()
        for chat, t in list(self._not_before.items()):
            if t <= now:
                del self._not_before[chat]
        exclude = set(self._not_before) | set(self._sends.values())
        alerts = await self.repo.claim(self.platform, limit, self.clock(), exclude)
        unknown = [a.chat_id for a in alerts if a.chat_id not in self._group_types]
        if unknown:
            await self._learn_types(unknown)
        return alerts

    def _launch(self, alert: Alert) -> None:
        task = asyncio.create_task(self._deliver(alert), name=f"outbox-send-{alert.id}")
        self._sends[task] = alert.chat_id
        self.stats.max_in_flight_seen = max(self.stats.max_in_flight_seen, len(self._sends))
        task.add_done_callback(self._send_done)

    def _send_done(self, task: asyncio.Task[None]) -> None:
        self._sends.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox %s: send task crashed", self.platform, exc_info=task.exception())
        self._wake.set()  # a slot is free

    # ---- one alert ----------------------------------------------------------------------------------------

    async def _deliver(self, alert: Alert) -> None:
        chat = alert.chat_id
        if alert.attempts > self.max_attempts:
            # Claimed this often without an outcome (e.g. the process died while sending it every time).
            await self._fail(alert, f"gave up after {alert.attempts - 1} attempts")
            return
        try:
            reply = Reply.model_validate(alert.payload)
        except ValueError as exc:
            await self._fail(alert, f"unreadable payload: {exc}")
            return
        await self._overall_slot()
        try:
            await self.sender.send(chat, reply)
        except RetryLater as exc:
            self.stats.flood_waits += 1
            self._hold(chat, exc.seconds)
            log.info("outbox %s: chat %s flood wait %.1f s (alert %d)", self.platform, chat, exc.seconds, alert.id)
            await self.repo.mark_retry(alert.id, exc.seconds, str(exc), count_attempt=False, now=self.clock())
        except ChatUnreachable as exc:
            await self._unreachable(alert, exc.reason)
        except PermanentSendError as exc:
            self._paced(chat)
            await self._fail(alert, f"refused: {exc}")
        except Exception as exc:
            self._paced(chat)
            if not isinstance(exc, TransientSendError):
                log.exception("outbox %s: unexpected error sending alert %d; treating it as transient",
                              self.platform, alert.id)
            if alert.attempts >= self.max_attempts:
                await self._fail(alert, f"gave up after {alert.attempts} attempts: {exc}")
            else:
                delay = backoff_delay(alert.attempts, self.backoff_base, self.backoff_cap)
                self.stats.retried += 1
                log.info("outbox %s: alert %d to %s failed (%s); retry %d in %.1f s", self.platform, alert.id,
                         chat, exc, alert.attempts, delay)
                await self.repo.mark_retry(alert.id, delay, str(exc) or type(exc).__name__, now=self.clock())
        else:
            self._paced(chat)
            await self.repo.mark_sent(alert.id, self.clock())
            self.stats.sent += 1

    async def _fail(self, alert: Alert, error: str) -> None:
        self.stats.failed += 1
        log.error("outbox %s: alert %d (%s) to chat %s failed: %s", self.platform, alert.id, alert.kind,
                  alert.chat_id, error)
        await self.repo.mark_failed(alert.id, error)

    async def _unreachable(self, alert: Alert, reason: str) -> None:
        chat = alert.chat_id
        async with self.repo.db.transaction() as conn:
            await self.chats.mark_blocked(self.platform, chat, reason, conn=conn)
            await conn.execute("UPDATE alerts SET status = 'dropped', last_error = ? WHERE id = ?",
                               (f"chat unreachable: {reason}"[:500], alert.id))
            dropped = await self.repo.drop_for_chat(self.platform, chat, f"chat unreachable: {reason}", conn=conn)
        self.stats.dropped_chats += 1
        log.warning("outbox %s: chat %s unreachable (%s); marked blocked, %d queued alert(s) dropped until "
                    "/start", self.platform, chat, reason, dropped + 1)
        if self.on_unreachable is not None:
            try:
                await self.on_unreachable(self.platform, chat, reason)
            except Exception:
                log.exception("outbox %s: on_unreachable hook failed for chat %s", self.platform, chat)

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
