"""Live check of group admin rights on Telegram (getChatMember), for group-level settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bot.core.context import ChatContext


def chat_admin_check(bot: Bot) -> Callable[[ChatContext], Awaitable[bool]]:
    async def is_admin(ctx: ChatContext) -> bool:
        try:
            member = await bot.get_chat_member(int(ctx.chat_id), int(ctx.user_id))
        except (TelegramError, ValueError):
            return False  # when in doubt, refuse: a group's settings are not changed on a guess
        return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)

    return is_admin
