"""/notify: list this chat's alert kinds with their states, or set one kind on, silent or off."""

from __future__ import annotations

from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases import notify
from bot.core.views.notify import notify_reply


@registry.command("notify", "which alerts this chat gets: each kind on, silent or off", group="Follow",
                  permission=Permission.BASIC, args=(
                      Arg("kind", Kind.CHOICE, "the alert kind (none: list them all)", choices=notify.KINDS),
                      Arg("state", Kind.CHOICE, "on, silent (no sound) or off", choices=notify.STATES),
                  ))
async def notify_cmd(core: Core, req: Request) -> list[Reply]:
    kind, state = req.values["kind"], req.values["state"]
    if kind is None and state is None:
        return [notify_reply(await notify.notify_states(core, req.ctx))]
    if kind is None:
        raise UserError(f"Say which kind to set {state}: one of {', '.join(notify.KINDS)}.")
    if state is None:
        raise UserError(f"Say on, silent or off for {kind}.")
    return [notify_reply(await notify.set_notify(core, req.ctx, req.user, kind, state))]
