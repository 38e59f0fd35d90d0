"""/status (monitoring cycles and next runs) and the admin's /monitor pause|resume|now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import UserError
from bot.core.formatting import local_time
from bot.core.permissions import Permission
from bot.core.registry import Request, registry
from bot.core.replies import Reply

if TYPE_CHECKING:
    from bot.core.kernel import Core

MONITOR_USAGE = "/monitor pause|resume|now"


async def status_lines(core: Core, tz: str) -> list[str]:
    lines = []
    scheduler = core.scheduler
    active = await core.storage.signals.count_active()
    lines.append(f"Live tips monitored: {active}")
    if scheduler is None:
        lines.append("Jobs are not running in this process.")
    else:
        state = "paused" if scheduler.paused else "running"
        lines.append(f"Monitoring is {state}.")
        for name in scheduler.jobs:
            nxt = scheduler.next_run(name)
            when = local_time(nxt, tz) if nxt else "paused"
            error = scheduler.jobs[name].last_error
            lines.append(f"  {name}: every {scheduler.jobs[name].interval():g}s · next {when}"
                         f"{' · last error: ' + error if error else ''}")
    runs = await core.storage.job_runs.recent("monitor", 5)
    if runs:
        lines.append("Last monitoring cycles:")
        for run in runs:
            lines.append(f"  {local_time(run.started_at, tz)} · {run.monitored} checked · {run.changed} changed · "
                         f"{run.expired} expired · {run.errors} errors · {run.duration_ms:.0f} ms")
    else:
        lines.append("No monitoring cycle has run yet.")
    return lines


@registry.command("status", "/status", "monitoring: last cycles and the next run", group="Tips")
async def status(core: Core, req: Request) -> list[Reply]:
    return [Reply(title="Monitoring status", text="\n".join(await status_lines(core, core.user_tz(req.user))))]


@registry.command("monitor", MONITOR_USAGE, "pause, resume or run monitoring now", permission=Permission.ADMIN,
                  group="Admin")
async def monitor(core: Core, req: Request) -> list[Reply]:
    if len(req.args) != 1 or req.args[0].lower() not in ("pause", "resume", "now"):
        raise UserError("Say pause, resume or now.", MONITOR_USAGE)
    scheduler = core.scheduler
    if scheduler is None:
        raise UserError("Jobs are not running in this process.")
    action = req.args[0].lower()
    if action == "pause":
        await scheduler.pause()
        text = "Monitoring and watchlist scans are paused (kept across restarts). /monitor resume to restart."
    elif action == "resume":
        await scheduler.resume()
        text = "Monitoring resumed."
    else:
        result = await scheduler.run_now("monitor")
        if result is None:
            text = "A cycle is running right now; its figures will show in /status."
        else:
            text = (f"Cycle done: {result.monitored} checked, {result.changed} changed, {result.expired} expired, "
                    f"{result.errors} errors in {result.duration_ms:.0f} ms.")
    await core.audit(req.user, f"monitor {action}", None, "ok")
    return [Reply(text=text)]


async def stats_lines(core: Core) -> list[str]:
    runs = await core.storage.job_runs.recent("monitor", 1)
    if not runs:
        return ["Monitoring: no cycle yet"]
    r = runs[0]
    return [f"Monitoring: last cycle {r.monitored} checked, {r.changed} changed, {r.expired} expired, "
            f"{r.errors} errors, {r.duration_ms:.0f} ms"]
