"""Who is talking, where, on Discord: the core's ChatContext from an interaction or a raw reaction.

A DM's chat id is the user's id (as on Telegram), so the core's `notify_user` and a DM conversation name the
same chat; a guild channel's chat id is the channel's id, a "group" the guild's admins govern.
"""

from __future__ import annotations

import discord

from bot.core.context import ChatContext


def _context(user_id: int, channel_id: int | None, in_guild: bool, username: str | None,
             display_name: str | None = None) -> ChatContext:
    return ChatContext(
        platform="discord",
        user_id=str(user_id),
        chat_id=str(channel_id) if in_guild else str(user_id),
        chat_type="group" if in_guild else "private",
        username=username,
        display_name=display_name or None,
    )


def interaction_context(interaction: discord.Interaction) -> ChatContext:
    user = interaction.user
    return _context(user.id, interaction.channel_id, interaction.guild_id is not None, user.name, user.display_name)


def reaction_context(payload: discord.RawReactionActionEvent, member_name: str | None = None) -> ChatContext:
    return _context(payload.user_id, payload.channel_id, payload.guild_id is not None, member_name)


def message_context(message: discord.Message) -> ChatContext:
    author = message.author
    return _context(author.id, message.channel.id, message.guild is not None, author.name, author.display_name)
