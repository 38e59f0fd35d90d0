"""Monitoring as users and admins see it: /status (the live tips, the jobs and the last cycles), the admin's
/monitor pause|resume|now, and the last cycle's figures for /stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.kernel import Core
from storage.follows import JobRun
from storage.models import User

RECENT_CYCLES = 5


@dataclass(frozen=True)
class JobState:
    name: str
    interval: float  # seconds
    next_run: datetime | None  # None: paused
    last_error: str | None


@dataclass(frozen=True)
class MonitoringStatus:
    active_tips: int  # live tips the monitor checks
    running: bool  # the jobs run in this process
    paused: bool
    jobs: list[JobState]
    cycles: list[JobRun]  # the last monitoring cycles, newest first


@dataclass(frozen=True)
class CycleFigures:
    monitored: int
    changed: int
    expired: int
    errors: int
    duration_ms: float


@dataclass(frozen=True)
class MonitorOutcome:
    """What /monitor did: `running` is False when the jobs do not run in this process (nothing was done);
    for `now`, `cycle` is None when a cycle was already running."""

    action: str  # pause, resume or now
    running: bool = True
    cycle: CycleFigures | None = None


async def monitoring_status(core: Core) -> MonitoringStatus:
    scheduler = core.scheduler
    active = await core.storage.signals.count_active()
    jobs: list[JobState] = []
    if scheduler is not None:
        jobs = [JobState(name, spec.interval(), scheduler.next_run(name), spec.last_error)
                for name, spec in scheduler.jobs.items()]
    cycles = await core.storage.job_runs.recent("monitor", RECENT_CYCLES)
    return MonitoringStatus(active, scheduler is not None, bool(scheduler and scheduler.paused), jobs, cycles)


async def control_monitoring(core: Core, user: User, action: str) -> MonitorOutcome:
    """Pause (kept across restarts), resume, or run a monitoring cycle now; audited."""
    scheduler = core.scheduler
    if scheduler is None:
        return MonitorOutcome(action, running=False)
    cycle = None
    if action == "pause":
        await scheduler.pause()
    elif action == "resume":
        await scheduler.resume()
    else:
        cycle = _figures(await scheduler.run_now("monitor"))
    await core.audit(user, f"monitor {action}", None, "ok")
    return MonitorOutcome(action, cycle=cycle)


def _figures(result: Any) -> CycleFigures | None:
    """The monitor's CycleResult (None: a cycle was running), as figures."""
    if result is None:
        return None
    return CycleFigures(result.monitored, result.changed, result.expired, result.errors, result.duration_ms)


async def last_cycle(core: Core) -> JobRun | None:
    runs = await core.storage.job_runs.recent("monitor", 1)
    return runs[0] if runs else None
