"""Who is talking, where, on Discord: the core's ChatContext from an interaction or a raw reaction.

A DM's chat id is the user's id (as on Telegram), so the core's `notify_user` and a DM conversation name the
same chat; a guild channel's chat id is the channel's id, a "group" the guild's admins govern.
"""

from __future__ import annotations

import discord

from bot.core.context import ChatContext


def interaction_context(interaction: discord.Interaction) -> ChatContext:
    user = interaction.user
    in_guild = interaction.guild_id is not None
    return ChatContext(
        platform="discord",
        user_id=str(user.id),
        chat_id=str(interaction.channel_id) if in_guild else str(user.id),
        chat_type="group" if in_guild else "private",
        username=user.name,
        display_name=user.display_name or None,
    )


def reaction_context(payload: discord.RawReactionActionEvent, member_name: str | None = None) -> ChatContext:
    in_guild = payload.guild_id is not None
    return ChatContext(
        platform="discord",
        user_id=str(payload.user_id),
        chat_id=str(payload.channel_id) if in_guild else str(payload.user_id),
        chat_type="group" if in_guild else "private",
        username=member_name,
    )


def message_context(message: discord.Message) -> ChatContext:
    author = message.author
    in_guild = message.guild is not None
    return ChatContext(
        platform="discord",
        user_id=str(author.id),
        chat_id=str(message.channel.id) if in_guild else str(author.id),
        chat_type="group" if in_guild else "private",
        username=author.name,
        display_name=author.display_name or None,
    )
