"""Registering whoever writes first (SPEC §11): their role by config and access mode."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.context import ChatContext
from bot.core.kernel import Core
from storage.models import User


@dataclass(frozen=True)
class Registration:
    user: User
    awaits_approval: bool  # registered just now in approval mode: the admins are to be asked


async def register_user(core: Core, ctx: ChatContext) -> Registration:
    """The sender as a stored user, registered on their first message; in approval mode they wait as
    `pending` until an admin decides."""
    settings = core.settings
    configured_admin = ctx.identity in settings.admins
    if configured_admin:
        role = "admin"
    elif settings.access.mode == "approval":
        role = "pending"
    else:
        role = settings.access.default_role
    storage = core.services.storage
    user, created = await storage.users.register(ctx.identity, role, username=ctx.username,
                                                 display_name=ctx.display_name)
    if created:
        await storage.activity.log(user.id, "user_registered", f"{ctx.identity} registered", role=role)
        return Registration(user, awaits_approval=role == "pending")
    elif configured_admin and (user.role != "admin" or user.state != "active"):
        # Configured owners cannot be locked out from chat: config wins.
        await storage.user_admin.set_access(user.id, role="admin", state="active")
        user = user.model_copy(update={"role": "admin", "state": "active"})
    return Registration(user, awaits_approval=False)
