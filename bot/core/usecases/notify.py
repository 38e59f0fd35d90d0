"""Which alerts a chat gets, and how (/notify): each kind on, silent (no sound) or off, per chat.

The choice is stored on the chat (storage.chats) and applied where alerts are queued (storage.alerts), so a
job never has to ask; this module reads and changes it, with the group rule: anyone may look, only the
group's administrators or a bot admin may change it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.context import ChatContext
from bot.core.errors import Refused
from bot.core.kernel import Core
from bot.core.permissions import Permission, allowed
from storage.chats import NOTIFY_KINDS, NOTIFY_STATES, NotifyState
from storage.models import User

KINDS: tuple[str, ...] = tuple(NOTIFY_KINDS)
STATES: tuple[NotifyState, ...] = NOTIFY_STATES


@dataclass(frozen=True)
class NotifyStates:
    """Every kind's state in one chat, in KINDS order; `changed` names the kind just set, if any."""

    group: bool
    states: dict[str, NotifyState]
    changed: str | None = None


async def notify_states(core: Core, ctx: ChatContext) -> NotifyStates:
    return NotifyStates(not ctx.is_private, await core.storage.chats.notify_states(ctx.platform, ctx.chat_id))


async def set_notify(core: Core, ctx: ChatContext, user: User, kind: str, state: NotifyState) -> NotifyStates:
    """Set one kind for this chat. In a group: its administrators (asked live) or a bot admin only."""
    if not ctx.is_private and not allowed(user.role, Permission.ADMIN) and not await core.is_chat_admin(ctx):
        raise Refused("Changing this group's notifications needs the group's admin rights.", reason="not chat admin")
    states = await core.storage.chats.set_notify(ctx.platform, ctx.chat_id, kind, state, ctx.chat_type)
    await core.storage.activity.log(user.id, "notify_set", f"Notifications for {kind} set to {state} in "
                                    f"{ctx.chat_key}", notify_kind=kind, state=state, chat=ctx.chat_key)
    return NotifyStates(not ctx.is_private, states, changed=kind)
