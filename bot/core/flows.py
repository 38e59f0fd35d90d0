"""Multi-step flows: free text typed while one is open goes to it, and confirmations are single-use flows.

A confirmation (open, close, reset, delete, broadcast ...) is a flow carrying a random nonce that its
Confirm button repeats. Pressing Confirm consumes the flow in one statement (`FlowRepository.take`), so of
the same press arriving several times at once (a double tap, a batch of updates) exactly one acts; the
others, and a button whose confirmation was replaced, cancelled or timed out, are told so and do nothing.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from storage.models import Flow

if TYPE_CHECKING:
    from bot.core.kernel import Core

# Flows that ask a question answered by typing (a custom size, a number of days): while one is open, text that
# looks like a button number (the console's "1") is the answer.
TYPED_ANSWERS = frozenset({"approve_days", "open_size"})

# Flows that wait for a button, not for typed text.
CONFIRMATIONS = frozenset({"broadcast", "open_confirm", "open_tip", "close", "close_all", "grid_start",
                           "resetpaper", "forgetme", "deluser"})
ALREADY_DONE = "Already done (or this step has ended)."


async def ask_confirmation(core: Core, user_id: int, chat_key: str, kind: str,
                           state: dict[str, Any] | None = None) -> str:
    """Open a confirmation flow and return the nonce its Confirm button must carry as its last argument."""
    nonce = secrets.token_urlsafe(6)  # 8 URL-safe characters: fits the callback alphabet and 64 bytes
    await core.storage.flows.start(user_id, chat_key, kind, {**(state or {}), "nonce": nonce})
    return nonce


async def take_confirmation(core: Core, press: Press, kind: str) -> dict[str, Any] | None:
    """The confirmation's state if this press is the one that consumes it, else None (answer ALREADY_DONE)."""
    nonce = press.args[-1] if press.args else ""
    flow = await core.storage.flows.take(press.user.id, press.ctx.chat_key, kind, nonce)
    return None if flow is None else flow.state


def already_done() -> list[Reply]:
    return [Reply(notice=ALREADY_DONE)]


async def continue_flow(core: Core, req: Request, flow: Flow) -> list[Reply]:
    handler = registry.flows.get(flow.kind)
    if handler is not None:
        return await handler(core, req, flow)
    if flow.kind in CONFIRMATIONS:
        return [Reply(text="Press Confirm or Cancel above, or send /cancel.")]
    await core.storage.flows.end(req.user.id, req.ctx.chat_key)
    return [Reply(text="That step has ended. Send /help for the commands.")]
