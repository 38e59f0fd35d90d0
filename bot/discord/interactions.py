"""Discord events → core → replies: slash commands, button presses, reactions and typed answers.

Every interaction is acknowledged first (deferred), well inside Discord's 3 seconds, and answered with
follow-ups once the core has replied: a tip that takes a second of data and model work never times out.
Private answers (positions, keys, admin lists) are ephemeral in guilds; a DM is private anyway.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.core.registry import registry
from bot.core.replies import Reply
from bot.discord.buttons import custom_ids
from bot.discord.context import interaction_context, message_context, reaction_context
from bot.discord.send import answer_press, channel_progress, follow_up, interaction_progress, send_to

if TYPE_CHECKING:
    from bot.core.service import TipsterCore

log = logging.getLogger(__name__)

APPROVE, DISMISS = "✅", "❌"
REACTIONS = {APPROVE: "approve", DISMISS: "dismiss"}


async def _defer(interaction: discord.Interaction, *, ephemeral: bool = False, thinking: bool = False) -> bool:
    try:
        await interaction.response.defer(ephemeral=ephemeral, thinking=thinking)
    except discord.NotFound:  # answered too late (the 3 s passed while the bot was busy): Discord forgot it
        log.warning("interaction %s expired before it was acknowledged", interaction.id)
        return False
    except discord.InteractionResponded:
        pass
    return True


async def on_slash(core: TipsterCore, interaction: discord.Interaction, name: str, options: dict[str, str]) -> None:
    command = registry.commands.get(name)
    ephemeral = bool(command is not None and command.private and interaction.guild_id is not None)
    if not await _defer(interaction, ephemeral=ephemeral, thinking=True):
        return
    progress = interaction_progress(interaction, ephemeral=ephemeral)
    replies = await core.handle_command(interaction_context(interaction), name, options, progress=progress)
    await follow_up(interaction, replies, ephemeral=ephemeral)


async def on_press(core: TipsterCore, interaction: discord.Interaction, data: str) -> None:
    if not await _defer(interaction):
        return
    replies = await core.handle_button(interaction_context(interaction), data)
    await answer_press(interaction, replies)


async def on_answer(core: TipsterCore, interaction: discord.Interaction, text: str) -> None:
    """A prompt's form submitted: its text goes to the core exactly as if typed into this chat."""
    ephemeral = bool(interaction.message is not None and interaction.message.flags.ephemeral)
    if not await _defer(interaction, ephemeral=ephemeral, thinking=True):
        return
    replies = await core.handle_text(interaction_context(interaction), text)
    if not replies:  # the step ended meanwhile (answered, cancelled, replaced): the text meant nothing
        replies = [Reply(text="That step has ended; start again from its button.")]
    await follow_up(interaction, replies, ephemeral=ephemeral)


async def on_secrets(core: TipsterCore, interaction: discord.Interaction, answers: list[str]) -> None:
    """A secret form submitted (a broker's key and secret): each answer goes to the core in turn, as if typed one
    after the other; only the last step's answer is shown, privately. The answers are never logged."""
    if not await _defer(interaction, ephemeral=interaction.guild_id is not None, thinking=True):
        return
    ctx = interaction_context(interaction)
    replies: list[Reply] = []
    for answer in answers:
        replies = await core.handle_text(ctx, answer)
        if not any(reply.prompt is not None and reply.prompt.secret_fields for reply in replies):
            break  # no further field is asked (stored, refused, or the step ended): the rest means nothing
    if not replies:
        replies = [Reply(text="That step has ended; start again with /setkeys.")]
    await follow_up(interaction, replies, ephemeral=interaction.guild_id is not None)


async def on_reaction(core: TipsterCore, client: discord.Client, payload: discord.RawReactionActionEvent) -> None:
    """✅ by a tip's owner on its card starts the open-position flow; ❌ dismisses the tip. Raw events, so a
    card sent before a restart (not in the message cache) works the same."""
    reaction = REACTIONS.get(str(payload.emoji))
    if reaction is None or client.user is None or payload.user_id == client.user.id:
        return
    channel = client.get_channel(payload.channel_id) or await client.fetch_channel(payload.channel_id)
    if not isinstance(channel, discord.abc.Messageable):
        return
    message = await channel.fetch_message(payload.message_id)
    if message.author.id != client.user.id:
        return  # reactions on users' messages are theirs
    name = payload.member.name if payload.member is not None else None
    replies = await core.handle_reaction(reaction_context(payload, name), custom_ids(message), reaction)  # type: ignore[arg-type]
    if replies:
        await send_to(channel, replies, reference=message)


async def on_message(core: TipsterCore, client: discord.Client, message: discord.Message) -> None:
    """Typed answers to an open step (a custom size, a number of days) and plain commands typed as text.

    In a DM the text always arrives; in a guild channel Discord withholds it without the privileged message
    content intent, so there the slash commands and buttons are the way (and an empty message is ignored)."""
    if message.author.bot or not message.content:
        return
    progress = channel_progress(message.channel, reference=message)
    replies = await core.handle_text(message_context(message), message.content, progress=progress)
    if any(reply.delete_incoming for reply in replies):
        try:  # a key typed into a DM anyway: Discord lets a bot delete only its own messages there
            await message.delete()
        except discord.HTTPException as exc:
            log.info("could not delete a message that carried a secret: %s", type(exc).__name__)
    if replies:
        await send_to(message.channel, replies, reference=message)
