"""Replies about a user's access: the approval request every admin gets for a new user."""

from __future__ import annotations

from bot.core.kernel import Core
from bot.core.replies import Button, Reply
from storage.models import User


def approval_buttons(core: Core, user: User) -> list[list[Button]]:
    return [[core.button("Approve 30 days", "ap", user.id, 30), core.button("Approve 90 days", "ap", user.id, 90)],
            [core.button("Approve …", "ac", user.id), core.button("Reject", "rj", user.id)]]


def approval_request(core: Core, user: User) -> Reply:
    return Reply(title="New user waiting for approval",
                 text=f"{user.label} registered and waits for access.\nDecide below, or later with "
                      f"/activate {user.identity} DAYS.",
                 buttons=approval_buttons(core, user))
