"""Registering whoever writes first (SPEC §11): their role by config and access mode."""

from __future__ import annotations

from bot.core.context import ChatContext
from bot.core.kernel import Core
from bot.core.views.access import approval_request
from storage.models import User


async def register_user(core: Core, ctx: ChatContext) -> User:
    """The sender as a stored user, registered on their first message; in approval mode they wait as
    `pending` and every admin is asked to decide."""
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
        if role == "pending":
            await alert_admins_of_pending(core, user)
    elif configured_admin and (user.role != "admin" or user.state != "active"):
        # Configured owners cannot be locked out from chat: config wins.
        await storage.user_admin.set_access(user.id, role="admin", state="active")
        user = user.model_copy(update={"role": "admin", "state": "active"})
    return user


async def alert_admins_of_pending(core: Core, user: User) -> None:
    """Approval mode: every admin gets the new user with approval buttons (through the outbox)."""
    await core.notify_admins(approval_request(core, user), "approval_request")
