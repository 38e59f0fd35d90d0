"""Whether a member may change a guild channel's follows and settings: Manage Server, asked live."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from bot.core.context import ChatContext

log = logging.getLogger(__name__)


def chat_admin_check(client: discord.Client) -> Callable[[ChatContext], Awaitable[bool]]:
    async def check(ctx: ChatContext) -> bool:
        try:
            channel = client.get_channel(int(ctx.chat_id)) or await client.fetch_channel(int(ctx.chat_id))
            guild = getattr(channel, "guild", None)
            if guild is None:
                return False
            member = await guild.fetch_member(int(ctx.user_id))  # live: roles as they are now
            return bool(member.guild_permissions.manage_guild)
        except (discord.HTTPException, ValueError) as exc:
            log.warning("could not check %s's rights in %s: %s", ctx.user_id, ctx.chat_id, exc)
            return False
    return check
