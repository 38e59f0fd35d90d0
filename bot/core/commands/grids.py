"""Paper grids from chat: the grid card's [Start paper grid] → what will be placed → [Confirm]; /grids and
/stopgrid ID (or [Stop grid]). Parse, call usecases.grids, render views.grids; ownership is checked there."""

from __future__ import annotations

from decimal import Decimal

from bot.core.flows import already_done, ask_confirmation, take_confirmation
from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.grids import grid_signal, grids_page, plan_grid, start_grid, stop_grid
from bot.core.views.grids import grids_reply, plan_reply, start_reply, stop_reply

TRADE = Permission.TRADE


@registry.button("gs", permission=TRADE)
async def start_button(core: Core, press: Press) -> list[Reply]:
    plan = await plan_grid(core, press.user, press.args[0] if press.args else "")
    nonce = await ask_confirmation(core, press.user.id, press.ctx.chat_key, "grid_start",
                                   {"signal_id": plan.signal.id, "size": str(plan.size)})
    return [plan_reply(core, plan, nonce)]


@registry.button("gy", permission=TRADE, expensive=True)
async def confirm_button(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 2:
        return [Reply(notice="This button is not valid.")]
    signal = await grid_signal(core, press.user, press.args[0])  # a foreign or bad tip consumes nothing
    state = await take_confirmation(core, press, "grid_start")
    if state is None or state.get("signal_id") != signal.id:
        return already_done()
    return [start_reply(core, await start_grid(core, press.ctx, press.user, signal.id or 0,
                                               Decimal(str(state["size"]))))]


@registry.command("grids", "your paper grids with each level's state, paged", permission=TRADE, group="Positions",
                  private=True, args=(Arg("page", Kind.PAGE, "which page (1 is the newest)", default=1),))
async def grids_cmd(core: Core, req: Request) -> list[Reply]:
    return [grids_reply(core, await grids_page(core, req.user, req.values["page"]))]


@registry.button("gp", permission=TRADE)
async def grids_page_button(core: Core, press: Press) -> list[Reply]:
    raw = press.args[0] if press.args else ""
    if not raw.isdigit():
        return [Reply(notice="This button is not valid.")]
    reply = grids_reply(core, await grids_page(core, press.user, int(raw)))
    reply.edit = True
    return [reply]


@registry.command("stopgrid", "stop a paper grid: its resting orders are cancelled, its open positions stay",
                  permission=TRADE, group="Positions", private=True,
                  args=(Arg("id", Kind.ID, "the grid's id (see /grids)", required=True, what="grid"),))
async def stopgrid_cmd(core: Core, req: Request) -> list[Reply]:
    return [stop_reply(await stop_grid(core, req.user, req.values["id"]))]


@registry.button("gx", permission=TRADE)
async def stop_button(core: Core, press: Press) -> list[Reply]:
    return [stop_reply(await stop_grid(core, press.user, press.args[0] if press.args else ""))]
