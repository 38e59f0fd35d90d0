"""One scheduler for every job, owned by the application (APScheduler's AsyncIOScheduler, which PTB's
JobQueue wraps), the same whether the console, Telegram, Discord or several of them are running.

Jobs keep no state of their own: what they work on (active tips, watches, open positions) is in storage,
so creating them at start-up resumes everything after a restart. Each job runs at most once at a time; a
cycle that overruns its interval is logged and the missed run is coalesced, never stacked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.jobs.config_watch import ConfigWatcher
from bot.core.jobs.grids import GridWatcher
from bot.core.jobs.monitor import SignalMonitor
from bot.core.jobs.positions import PositionMonitor
from bot.core.jobs.scan import WatchlistScanner
from bot.core.jobs.summary import DailySummary
from bot.core.kernel import Core

log = logging.getLogger(__name__)

PAUSED_KEY = "monitor_paused"
# Jobs that `/monitor pause` stops; summaries and (later) position exits keep running.
PAUSABLE = ("monitor", "scan")
# s; how long stop() lets a running cycle finish before cancelling it (a graceful shutdown has 10 s in all).
STOP_GRACE = 3.0


@dataclass
class JobSpec:
    name: str
    run: Callable[[], Awaitable[Any]]
    interval: Callable[[], float]  # read from settings each time, so /reload can change it
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_error: str | None = None
    task: asyncio.Task[Any] | None = None  # the scheduled run under way, for a bounded stop


class JobScheduler:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.jobs: dict[str, JobSpec] = {}
        self.paused = False
        self.stopping = False  # set by stop(): no run starts after it

    def add(self, name: str, run: Callable[[], Awaitable[Any]], interval: Callable[[], float]) -> None:
        self.jobs[name] = JobSpec(name, run, interval)

    async def start(self) -> None:
        self.paused = (await self.core.storage.kv.get(PAUSED_KEY)) == "1"
        for spec in self.jobs.values():
            self.scheduler.add_job(self._wrap(spec), "interval", seconds=spec.interval(), id=spec.name,
                                   max_instances=1, coalesce=True, misfire_grace_time=None)
        self.scheduler.start()
        if self.paused:
            self._pause_jobs()
        plan = ", ".join(f"{s.name} every {s.interval():g}s" for s in self.jobs.values())
        log.info("scheduler started: %s%s", plan, " (monitoring paused)" if self.paused else "")

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Start no more runs; let a running cycle finish its step (its transaction commits rather than being
        cut mid-write) for up to `grace` seconds, then cancel it: a cancelled transaction rolls back, and
        the jobs keep their state in storage, so the next start picks up where the cycle stopped."""
        self.stopping = True
        # Pause first and shut down after the wait: APScheduler's shutdown cancels the coroutine jobs under way.
        if self.scheduler.running:
            self.scheduler.pause()
        began = time.monotonic()
        running = [spec.task for spec in self.jobs.values() if spec.task is not None and not spec.task.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
                log.warning("scheduler: %d job run(s) cancelled at stop after %g s", len(late), grace)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        # A run a command started (/monitor now) belongs to that command's handler: wait for it, not past grace.
        for spec in self.jobs.values():
            left = grace - (time.monotonic() - began)
            if spec.lock.locked() and left > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_passed(spec.lock), left)

    def _wrap(self, spec: JobSpec) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.stopping:  # dispatched just before stop() paused the scheduler: not started, so not run
                return
            if spec.lock.locked():
                log.warning("job %s is still running; this run is skipped", spec.name)
                return
            async with spec.lock:
                spec.task = asyncio.current_task()
                started = time.perf_counter()
                try:
                    result = await spec.run()
                    spec.last_error = None
                    errors = getattr(result, "errors", 0)  # a cycle's own count of the items that failed
                except Exception as exc:
                    spec.last_error = str(exc)[:200]
                    errors = 1
                    log.exception("job %s failed", spec.name)
                finally:
                    spec.task = None
                self.core.metrics.job_cycle(spec.name, time.perf_counter() - started,
                                            errors if isinstance(errors, int) else 0)
        return run

    async def run_now(self, name: str) -> Any:
        """Run a job immediately (e.g. /monitor now); None if it is already running."""
        spec = self.jobs[name]
        if spec.lock.locked():
            return None
        async with spec.lock:
            return await spec.run()

    def _pause_jobs(self) -> None:
        for name in PAUSABLE:
            if name in self.jobs:
                self.scheduler.pause_job(name)

    async def pause(self) -> None:
        self.paused = True
        await self.core.storage.kv.set(PAUSED_KEY, "1")
        self._pause_jobs()

    async def resume(self) -> None:
        self.paused = False
        await self.core.storage.kv.set(PAUSED_KEY, "0")
        for name in PAUSABLE:
            if name in self.jobs:
                self.scheduler.resume_job(name)

    def reschedule(self) -> None:
        """Apply intervals from the current settings (after /reload) without a restart."""
        for spec in self.jobs.values():
            job = self.scheduler.get_job(spec.name)
            if job is not None:
                job.reschedule("interval", seconds=spec.interval())
                if self.paused and spec.name in PAUSABLE:
                    job.pause()

    def next_run(self, name: str) -> datetime | None:
        job = self.scheduler.get_job(name)
        return job.next_run_time if job is not None else None


async def _passed(lock: asyncio.Lock) -> None:
    async with lock:
        pass


def build_scheduler(core: Core) -> JobScheduler:
    """The application's jobs, with intervals from config (SPEC §11)."""
    scheduler = JobScheduler(core)
    monitor = SignalMonitor(core)
    settings = lambda: core.settings  # noqa: E731 - read at call time: /reload swaps the settings
    scheduler.add("monitor", monitor.run_cycle, lambda: settings().monitor.signals_interval)
    scheduler.add("scan", WatchlistScanner(core).run, lambda: settings().monitor.scan_interval)
    scheduler.add("summary", DailySummary(core).run, lambda: 60)
    # config.watch: polls the file cheaply (a hash of a small file) and does nothing while watch is off.
    scheduler.add("config", ConfigWatcher(core).run, lambda: settings().config.watch_interval)
    if core.trading is not None:
        scheduler.add("positions", PositionMonitor(core, core.trading).run,
                      lambda: settings().monitor.positions_interval)
        # Paper grids: new closed bars are few, so the positions' interval is plenty and costs little.
        scheduler.add("grids", GridWatcher(core).run, lambda: settings().monitor.positions_interval)
    core.scheduler = scheduler
    return scheduler

