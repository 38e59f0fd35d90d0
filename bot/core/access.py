"""A user's access at a moment: active, pending approval, expired or disabled (SPEC §1, seed 000 §4).

Expiry is computed from `expires_at` and an injected clock, never stored as a state, so a user approved for
30 days is expired on day 31 without any job having to run.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from storage.models import User

CONTACT_HINT = "Send /contact followed by your message to reach an admin."


class Access(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    EXPIRED = "expired"
    DISABLED = "disabled"


def access_of(user: User, now: datetime) -> Access:
    if user.state in ("disabled", "deleted", "rejected"):
        return Access.DISABLED
    if user.role == "pending":
        return Access.PENDING
    if user.role != "admin" and user.expires_at is not None and user.expires_at <= now:
        return Access.EXPIRED
    return Access.ACTIVE


def access_message(user: User, now: datetime) -> str | None:
    """The one clear message for a user who may not use the bot now, or None when they may."""
    access = access_of(user, now)
    if access is Access.PENDING:
        return "Your access is waiting for an admin's approval; you will get a message when it is decided. " \
               + CONTACT_HINT
    if access is Access.EXPIRED:
        assert user.expires_at is not None
        return f"Your access expired on {user.expires_at:%Y-%m-%d %H:%M} UTC. {CONTACT_HINT}"
    if access is Access.DISABLED:
        return f"Your access has been disabled. {CONTACT_HINT}"
    return None
