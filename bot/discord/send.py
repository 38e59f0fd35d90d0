"""Sending replies on Discord: as an interaction's follow-ups, as the edit of a pressed button's message, or
into a channel. Mentions in anything the bot sends never ping (a broadcast cannot @everyone)."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.core.replies import Image, Reply
from bot.discord.buttons import view_of
from bot.discord.render import Part, render

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


def visible(replies: list[Reply]) -> list[Reply]:
    return [r for r in replies if r.text or r.title or r.sections or r.image]


def attach(part: Part, image: Image | None) -> dict[str, object]:
    """A reply's image as a file of the message its first part is sent in, shown inside that part's embed. A
    discord.File is read once, so each send gets a new one."""
    if image is None:
        return {}
    part.embed.set_image(url=f"attachment://{image.filename}")  # Image.filename is safe in this URL
    return {"file": discord.File(io.BytesIO(image.png), filename=image.filename)}


async def follow_up(interaction: discord.Interaction, replies: list[Reply], *, ephemeral: bool) -> None:
    """Answer a deferred interaction: every reply's parts as follow-ups (the first fills the "thinking" one)."""
    shown = visible(replies)
    if not shown:
        notice = next((r.notice for r in replies if r.notice), None) or "Done."
        await interaction.followup.send(embed=render(Reply(text=notice))[0].embed, ephemeral=ephemeral,
                                        allowed_mentions=NO_MENTIONS)
        return
    for reply in shown:
        for i, part in enumerate(render(reply)):
            view = view_of(part.buttons, part.prompt)
            extra = attach(part, reply.image if i == 0 else None)
            if view is not None:
                extra["view"] = view
            await interaction.followup.send(embed=part.embed, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS,
                                            **extra)  # type: ignore[arg-type]


async def answer_press(interaction: discord.Interaction, replies: list[Reply]) -> None:
    """Answer a deferred button press: `edit` replies replace the pressed message, the rest follow it; a press
    answered only by a notice (Telegram's toast) gets it as a message only the presser sees."""
    shown = visible(replies)
    if not shown:
        notice = next((r.notice for r in replies if r.notice), None)
        if notice:
            await interaction.followup.send(embed=render(Reply(text=notice))[0].embed, ephemeral=True,
                                            allowed_mentions=NO_MENTIONS)
        return
    ephemeral = bool(interaction.message is not None and interaction.message.flags.ephemeral)
    for reply in shown:
        parts = render(reply)
        if reply.edit and len(parts) == 1 and reply.image is None:  # an image comes as a new message
            view = view_of(parts[0].buttons, parts[0].prompt)
            try:
                await interaction.edit_original_response(embed=parts[0].embed, view=view,
                                                         allowed_mentions=NO_MENTIONS)
                continue
            except discord.HTTPException as exc:
                log.info("edit failed (%s); sending a new message instead", exc)
        await follow_up(interaction, [reply], ephemeral=ephemeral)


async def send_to(channel: discord.abc.Messageable, replies: list[Reply],
                  reference: discord.Message | None = None) -> list[discord.Message]:
    """Post replies in a channel or DM (reactions, alerts); returns the messages sent."""
    sent: list[discord.Message] = []
    for reply in visible(replies):
        for i, part in enumerate(render(reply)):
            view = view_of(part.buttons, part.prompt)
            kwargs: dict[str, object] = {"embed": part.embed, "allowed_mentions": NO_MENTIONS,
                                         **attach(part, reply.image if i == 0 else None)}
            if view is not None:
                kwargs["view"] = view
            if reference is not None:
                kwargs["reference"] = reference
                kwargs["mention_author"] = False
            if reply.silent:  # the SUPPRESS_NOTIFICATIONS flag: delivered without a push or sound
                kwargs["silent"] = True
            sent.append(await channel.send(**kwargs))  # type: ignore[arg-type]
    return sent


class _EditedProgress:
    """A long command's progress as one message: `post` sends it the first time, each later update edits it."""

    def __init__(self, post: Callable[[Reply], Awaitable[discord.Message]]) -> None:
        self.post = post
        self.message: discord.Message | None = None

    async def show(self, reply: Reply) -> None:
        try:
            if self.message is None:
                self.message = await self.post(reply)
                return
            part = render(reply)[0]
            await self.message.edit(embed=part.embed, view=view_of(part.buttons, part.prompt),
                                    allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:  # deleted, rate-limited: the run goes on regardless
            log.info("progress message not updated: %s", exc)


def interaction_progress(interaction: discord.Interaction, *, ephemeral: bool) -> _EditedProgress:
    """Progress as a follow-up of the interaction (the first fills the "thinking" reply)."""

    async def post(reply: Reply) -> discord.Message:
        part = render(reply)[0]
        view = view_of(part.buttons, part.prompt)
        extra = {"view": view} if view is not None else {}
        return await interaction.followup.send(embed=part.embed, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS,
                                               wait=True, **extra)  # type: ignore[arg-type]

    return _EditedProgress(post)


def channel_progress(channel: discord.abc.Messageable, reference: discord.Message | None = None) -> _EditedProgress:
    """Progress for a command typed as a message: a reply in its channel."""

    async def post(reply: Reply) -> discord.Message:
        return (await send_to(channel, [reply], reference=reference))[0]

    return _EditedProgress(post)
