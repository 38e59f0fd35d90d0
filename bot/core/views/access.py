"""Replies about a user's access: the approval request every admin gets for a new user, what a user is told
when an admin decides on their access, and the user's own /forgetme."""

from __future__ import annotations

from bot.core.kernel import Core
from bot.core.replies import Button, Reply
from bot.core.usecases.users import Approval, RoleChange
from storage.models import User


def approval_buttons(core: Core, user: User) -> list[list[Button]]:
    return [[core.button("Approve 30 days", "ap", user.id, 30), core.button("Approve 90 days", "ap", user.id, 90)],
            [core.button("Approve …", "ac", user.id), core.button("Reject", "rj", user.id)]]


def approval_request(core: Core, user: User) -> Reply:
    return Reply(title="New user waiting for approval",
                 text=f"{user.label} registered and waits for access.\nDecide below, or later with "
                      f"/activate {user.identity} DAYS.",
                 buttons=approval_buttons(core, user))


# ---- what the user is told (queued to their private chat) -------------------------------------------------

def approval_notice(approval: Approval) -> Reply:
    if approval.expires_at is None:
        return Reply(text=f"An admin gave you {approval.role} access with no expiry.")
    return Reply(title="Access approved",
                 text=f"An admin gave you {approval.role} access for {approval.days} days "
                      f"(until {approval.expires_at:%Y-%m-%d}). Try /signal BTC/USDT 1h.")


def rejection_notice() -> Reply:
    return Reply(title="Access not granted",
                 text="An admin declined your access request. Send /contact with a message if you think this is "
                      "a mistake.")


def role_notice(change: RoleChange) -> Reply:
    return Reply(text=f"An admin changed your role to {change.role}.")


def disabled_notice() -> Reply:
    return Reply(text="An admin disabled your access. Send /contact with a message to reach an admin.")


# ---- /forgetme ----------------------------------------------------------------------------------------------

def forget_question(core: Core, user: User, tips: int, nonce: str) -> Reply:
    return Reply(title="Delete all your data?",
                 text=f"This deletes your account, your {tips} tip(s), settings and messages. The audit log "
                      "keeps only an anonymous id. This cannot be undone.",
                 buttons=[[core.button("Delete my data", "fm", user.id, nonce), core.button("Cancel", "cx")]])


def forgotten() -> Reply:
    return Reply(text="Done: your data is deleted. Send /start if you ever want to come back.", edit=True,
                 notice="Deleted")
