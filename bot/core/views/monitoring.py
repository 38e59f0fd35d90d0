"""Replies about monitoring: /status, what /monitor did, and the monitoring line of /stats."""

from __future__ import annotations

from bot.core.formatting import local_time
from bot.core.replies import Reply
from bot.core.usecases.monitoring import MonitoringStatus, MonitorOutcome
from storage.follows import JobRun


def status_lines(status: MonitoringStatus, tz: str) -> list[str]:
    lines = [f"Live tips monitored: {status.active_tips}"]
    if not status.running:
        lines.append("Jobs are not running in this process.")
    else:
        lines.append(f"Monitoring is {'paused' if status.paused else 'running'}.")
        for job in status.jobs:
            when = local_time(job.next_run, tz) if job.next_run else "paused"
            lines.append(f"  {job.name}: every {job.interval:g}s · next {when}"
                         f"{' · last error: ' + job.last_error if job.last_error else ''}")
    if status.cycles:
        lines.append("Last monitoring cycles:")
        for run in status.cycles:
            lines.append(f"  {local_time(run.started_at, tz)} · {run.monitored} checked · {run.changed} changed · "
                         f"{run.expired} expired · {run.errors} errors · {run.duration_ms:.0f} ms")
    else:
        lines.append("No monitoring cycle has run yet.")
    return lines


def status_reply(status: MonitoringStatus, tz: str) -> Reply:
    return Reply(title="Monitoring status", text="\n".join(status_lines(status, tz)))


def monitor_reply(outcome: MonitorOutcome) -> Reply:
    if not outcome.running:
        return Reply(text="Jobs are not running in this process.")
    if outcome.action == "pause":
        return Reply(text="Monitoring and watchlist scans are paused (kept across restarts). "
                          "/monitor resume to restart.")
    if outcome.action == "resume":
        return Reply(text="Monitoring resumed.")
    c = outcome.cycle
    if c is None:
        return Reply(text="A cycle is running right now; its figures will show in /status.")
    return Reply(text=f"Cycle done: {c.monitored} checked, {c.changed} changed, {c.expired} expired, "
                      f"{c.errors} errors in {c.duration_ms:.0f} ms.")


def stats_lines(run: JobRun | None) -> list[str]:
    """The monitoring line of /stats: the last cycle's figures."""
    if run is None:
        return ["Monitoring: no cycle yet"]
    return [f"Monitoring: last cycle {run.monitored} checked, {run.changed} changed, {run.expired} expired, "
            f"{run.errors} errors, {run.duration_ms:.0f} ms"]
