"""Free text typed while a multi-step flow is open goes to that flow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.registry import Request
from bot.core.replies import Reply
from storage.models import Flow

if TYPE_CHECKING:
    from bot.core.service import TipsterCore

# Flows that ask a question answered by typing (a custom size, a number of days): while one is open, text that
# looks like a button number (the console's "1") is the answer.
TYPED_ANSWERS = frozenset({"approve_days", "open_size"})

async def continue_flow(core: TipsterCore, req: Request, flow: Flow) -> list[Reply]:
    if flow.kind == "pick_signal":
        from bot.core.handlers.signals import continue_pick

        return await continue_pick(core, req, flow.state.get("overrides") or {})
    if flow.kind == "approve_days":
        from bot.core.handlers.admin import continue_approve_days

        return await continue_approve_days(core, req, flow.state)
    if flow.kind == "open_size":
        from bot.core.handlers.positions import continue_open_size

        return await continue_open_size(core, req, flow.state)
    if flow.kind in ("broadcast", "confirm", "open_confirm"):
        return [Reply(text="Press Confirm or Cancel above, or send /cancel.")]
    await core.services.flows.end(req.user.id, req.ctx.chat_key)
    return [Reply(text="That step has ended. Send /help for the commands.")]
