"""/start, /help, /cancel, the [Cancel] button of any multi-step flow and the [Cancel] of a running /backtest."""

from __future__ import annotations

from bot.core.access import access_message
from bot.core.kernel import Core
from bot.core.permissions import Permission, allowed
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.views.general import (
    command_help_reply,
    help_reply,
    not_yours_reply,
    unknown_command_reply,
    welcome_reply,
)


# Telegram deep links (t.me/bot?start=PAYLOAD) arrive as `/start PAYLOAD`: the welcome, not an error.
@registry.command("start", "welcome and what I can do", permission=Permission.BASIC, group="General",
                  ignore_extra=True)
async def start(core: Core, req: Request) -> list[Reply]:
    name = req.ctx.display_name or req.ctx.username or "trader"
    reply = welcome_reply(name, core.services.market.demo, req.user.role, access_message(req.user, core.now()))
    # /start is how a user who blocked the bot says "send to me again" (SPEC §5).
    await core.chat_started(req.ctx)
    return [reply]


def _command_word(raw: str) -> str:
    return raw.strip().removeprefix("/").split("@", 1)[0].lower()


@registry.command("help", "every command with its usage", permission=Permission.BASIC, group="General", args=(
    Arg("command", Kind.WORD, "one command to explain, e.g. signal", parser=_command_word),
))
async def help_(core: Core, req: Request) -> list[Reply]:
    name: str | None = req.values["command"]
    if name is None:
        return [help_reply([c for c in registry.commands.values() if allowed(req.user.role, c.permission)])]
    command = registry.commands.get(name)
    if command is None:
        return [unknown_command_reply(name)]
    if not allowed(req.user.role, command.permission):
        return [not_yours_reply(name, req.user.role, command.permission is Permission.ADMIN)]
    return [command_help_reply(command)]


@registry.command("cancel", "end any multi-step action, or stop your running backtest",
                  permission=Permission.BASIC, group="General")
async def cancel(core: Core, req: Request) -> list[Reply]:
    run = core.runs.cancel(req.user.id)
    ended = await core.storage.flows.end(req.user.id, req.ctx.chat_key)
    if run is not None:  # the run answers for itself ("Backtest of … cancelled.") at its next check
        return [Reply(text=f"Stopping your {run.what}…")]
    return [Reply(text="Cancelled." if ended else "Nothing to cancel.")]


@registry.button("cx", permission=Permission.BASIC)
async def cancel_button(core: Core, press: Press) -> list[Reply]:
    await core.storage.flows.end(press.user.id, press.ctx.chat_key)
    return [Reply(text="Cancelled.", edit=True, notice="Cancelled")]


@registry.button("rc", permission=Permission.BASIC)
async def cancel_run_button(core: Core, press: Press) -> list[Reply]:
    """[Cancel] on a running backtest's progress message: only the one who started it may stop it."""
    run_id = press.args[0] if press.args else ""
    run = core.runs.cancel(press.user.id, run_id)
    if run is not None:
        return [Reply(notice=f"Stopping your {run.what}…")]
    if core.runs.by_id(run_id) is not None:
        return [Reply(notice="Only the one who started this backtest can cancel it.")]
    return [Reply(notice="That has already finished.")]
