"""/status (monitoring cycles and next runs) and the admin's /monitor pause|resume|now: parse, call the
monitoring use cases, render the view."""

from __future__ import annotations

from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.monitoring import control_monitoring, monitoring_status
from bot.core.views.monitoring import monitor_reply, status_reply


@registry.command("status", "monitoring: last cycles and the next run", group="Tips")
async def status(core: Core, req: Request) -> list[Reply]:
    return [status_reply(await monitoring_status(core), core.user_tz(req.user))]


@registry.command("monitor", "pause, resume or run monitoring now", permission=Permission.ADMIN, group="Admin",
                  args=(Arg("action", Kind.CHOICE, "pause or resume monitoring and scans, or run a cycle now",
                            required=True, choices=("pause", "resume", "now")),))
async def monitor(core: Core, req: Request) -> list[Reply]:
    return [monitor_reply(await control_monitoring(core, req.user, req.values["action"]))]
