"""Messages between users and admins: /contact, the inbox, answers, and broadcasts to every active user.

Who gets told what is returned, not sent: the caller renders it (views/admin.py) and queues it. A broadcast
is the exception by necessity: its copies and its audit row are written in one transaction, so it takes the
announcement already rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.replies import Reply
from storage.admin import ContactMessage
from storage.alerts import AlertSpec
from storage.models import User

MAX_TEXT = 900  # a message, an answer or a broadcast: one chat message, with room for the header it gets
BROADCAST = "broadcast"  # the kind of the broadcast's confirmation flow


@dataclass(frozen=True)
class ContactSent:
    message_id: int
    sender: User
    text: str
    admins: list[User]  # who is to be told


@dataclass(frozen=True)
class Inbox:
    messages: list[ContactMessage]  # open ones first, oldest first; then the latest answered
    open: int


@dataclass(frozen=True)
class Answer:
    message: ContactMessage
    user: User  # who wrote it, and is to be told
    text: str


@dataclass(frozen=True)
class BroadcastDraft:
    """A broadcast waiting for its confirmation: what the confirmation flow keeps, and who it would reach."""

    text: str
    recipients: int

    @property
    def state(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True)
class Broadcast:
    """A confirmed broadcast, read back from its confirmation flow's state."""

    text: str
    nonce: str  # the confirmation's: each copy's dedupe key, so no copy of it can be queued twice

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Broadcast:
        return cls(str(state["text"]), str(state["nonce"]))


def _checked(text: str, what: str) -> str:
    if len(text) > MAX_TEXT:
        raise UserError(f"{what} is at most {MAX_TEXT} characters.")
    return text


async def contact(core: Core, user: User, text: str) -> ContactSent:
    """A message to the admins (pending and expired users may write too)."""
    _checked(text, "A message")
    message_id = await core.storage.messages.add(user.id, text)
    await core.storage.activity.log(user.id, "contact", f"Sent message #{message_id} to the admins")
    return ContactSent(message_id, user, text, await core.storage.user_admin.admins())


async def inbox(core: Core) -> Inbox:
    return Inbox(await core.storage.messages.inbox(), await core.storage.messages.open_count())


async def answer(core: Core, admin: User, message_id: int, text: str) -> Answer:
    """An admin's answer to a /contact message, stored with it and audited."""
    message = await core.storage.messages.get(message_id)
    if message is None:
        raise UserError(f"No message #{message_id}. See /inbox.")
    _checked(text, "An answer")
    user = await core.storage.users.get(message.user_id)
    if user is None:
        raise UserError("That user no longer exists.")
    await core.storage.messages.reply(message.id, admin.id, text)
    await core.audit(admin, "reply", user.identity, "ok", message=message.id)
    return Answer(message, user, text)


async def draft_broadcast(core: Core, text: str) -> BroadcastDraft:
    _checked(text, "A broadcast")
    return BroadcastDraft(text, len(await core.storage.user_admin.active_users()))


async def queue_broadcast(core: Core, admin: User, broadcast: Broadcast, announcement: Reply) -> int:
    """Queue `announcement` to every active user (as of now, not as of the question); the number queued.

    Every copy and the audit row go in one transaction: a crash mid-way queues none of them, never some users
    unrecorded. The dedupe key makes a copy of this very broadcast impossible to queue twice."""
    recipients = await core.storage.user_admin.active_users()
    payload = announcement.model_dump(mode="json")
    alerts: list[AlertSpec] = [(u.platform, u.platform_user_id, "broadcast", payload,
                                f"broadcast:{broadcast.nonce}:{u.id}") for u in recipients]
    await core.storage.audit.record_with_alerts(admin, "broadcast", None, "ok", alerts,
                                                 recipients=len(recipients), chars=len(broadcast.text))
    wake = getattr(core.outbox, "notify", None)  # AlertOutbox wakes its drainers now (they also poll)
    if wake is not None:
        for platform in {u.platform for u in recipients}:
            wake(platform)
    return len(recipients)
