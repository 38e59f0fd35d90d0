"""Facts about a chat the core talks in: whose private chat it is, its timezone, who may change its follows."""

from __future__ import annotations

from bot.core.context import ChatContext
from bot.core.errors import Refused
from bot.core.kernel import Core
from storage.models import User


async def private_chat_user(core: Core, platform: str, chat_id: str) -> User | None:
    """The user whose private chat this is (on every platform we serve, a DM's chat id is the user id)."""
    chat = await core.storage.chats.get(platform, chat_id)
    if chat is not None and chat.chat_type not in (None, "private"):
        return None
    return await core.storage.users.by_identity(f"{platform}:{chat_id}")


async def chat_timezone(core: Core, platform: str, chat_id: str) -> str:
    """A chat's timezone: its own setting (groups), else its user's (a private chat), else UTC."""
    tz = (await core.storage.chat_settings.get(platform, chat_id)).get("timezone")
    if tz:
        return str(tz)
    user = await private_chat_user(core, platform, chat_id)
    return core.user_tz(user) if user is not None else "UTC"


async def may_change(core: Core, ctx: ChatContext, what: str) -> None:
    """A group's follows and settings are the group's: only its administrators change them (asked live)."""
    if not await core.is_chat_admin(ctx):
        raise Refused(f"Changing this group's {what} needs the group's admin rights.", reason="not chat admin")


async def remember_chat(core: Core, ctx: ChatContext) -> None:
    """Jobs push to chats long after the message that set them up: the chat's type must be on record."""
    await core.storage.chats.upsert(ctx.platform, ctx.chat_id, ctx.chat_type)
