"""One scheduler for every job, owned by the application (APScheduler's AsyncIOScheduler, which PTB's
JobQueue wraps), the same whether the console, Telegram, Discord or several of them are running.

Jobs keep no state of their own: what they work on (active tips, watches, open positions) is in storage,
so creating them at start-up resumes everything after a restart. Each job runs at most once at a time; a
cycle that overruns its interval is logged and the missed run is coalesced, never stacked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

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


@dataclass
class JobSpec:
    name: str
    run: Callable[[], Awaitable[Any]]
    interval: Callable[[], float]  # read from settings each time, so /reload can change it
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_error: str | None = None


class JobScheduler:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.jobs: dict[str, JobSpec] = {}
        self.paused = False

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

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        # Let a running cycle finish its transaction rather than cutting it mid-write.
        for spec in self.jobs.values():
            async with spec.lock:
                pass

    def _wrap(self, spec: JobSpec) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if spec.lock.locked():
                log.warning("job %s is still running; this run is skipped", spec.name)
                return
            async with spec.lock:
                try:
                    await spec.run()
                    spec.last_error = None
                except Exception as exc:
                    spec.last_error = str(exc)[:200]
                    log.exception("job %s failed", spec.name)
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


def build_scheduler(core: Core) -> JobScheduler:
    """The application's jobs, with intervals from config (SPEC §11)."""
    scheduler = JobScheduler(core)
    monitor = SignalMonitor(core)
    settings = lambda: core.settings  # noqa: E731 - read at call time: /reload swaps the settings
    scheduler.add("monitor", monitor.run_cycle, lambda: settings().monitor.signals_interval)
    scheduler.add("scan", WatchlistScanner(core).run, lambda: settings().monitor.scan_interval)
    scheduler.add("summary", DailySummary(core).run, lambda: 60)
    if core.trading is not None:
        scheduler.add("positions", PositionMonitor(core, core.trading).run,
                      lambda: settings().monitor.positions_interval)
        # Paper grids: new closed bars are few, so the positions' interval is plenty and costs little.
        scheduler.add("grids", GridWatcher(core).run, lambda: settings().monitor.positions_interval)
    core.scheduler = scheduler
    return scheduler

