"""Discord delivery for the alert outbox: DMs to users, posts to channels, discord.py's errors mapped to the
outbox's. discord.py itself waits out a 429 and retries (up to five times); what still fails comes here.

A chat id is a user's id (their DM: the core's `notify_user`) or a channel's id (a guild channel that follows
something, or one of `discord.channels`). Snowflakes never repeat across users and channels, so a known user's
id means a DM.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import discord

from bot.core.outbox import (
    AlertOutbox,
    ChatUnreachable,
    OutboxDrainer,
    PermanentSendError,
    RetryLater,
    TransientSendError,
)
from bot.core.replies import Reply
from bot.discord.send import send_to

log = logging.getLogger(__name__)

#: Discord allows 50 requests/s per bot; alerts keep well under it so interactions have room.
ALERTS_PER_SECOND = 20.0
#: 5 messages per 5 s per channel: one a second keeps every channel clear of its bucket.
PER_CHANNEL_INTERVAL = 1.0


class DiscordAlertSender:
    platform = "discord"

    def __init__(self, client: discord.Client, is_user: Callable[[str], Awaitable[bool]]) -> None:
        self.client = client
        self.is_user = is_user

    async def send(self, chat_id: str, reply: Reply) -> None:
        if not re.fullmatch(r"[0-9]{1,20}", chat_id):
            raise PermanentSendError(f"{chat_id!r} is not a Discord id")
        try:
            target = await self._target(int(chat_id))
            await send_to(target, [reply])
        except discord.Forbidden as exc:  # a DM to a user who blocks it, a channel we may not post in
            raise ChatUnreachable(exc.text or "forbidden") from exc
        except discord.NotFound as exc:  # a deleted channel, an unknown user
            raise ChatUnreachable(exc.text or "not found") from exc
        except discord.HTTPException as exc:
            if exc.status == 429:  # discord.py's own retries ran out
                raise RetryLater(_retry_after(exc)) from exc
            if exc.status >= 500:
                raise TransientSendError(f"{exc.status} {exc.text}") from exc
            raise PermanentSendError(f"{exc.status} {exc.text}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc

    async def _target(self, snowflake: int) -> discord.abc.Messageable:
        if await self.is_user(str(snowflake)):
            user = self.client.get_user(snowflake) or await self.client.fetch_user(snowflake)
            return user.dm_channel or await user.create_dm()
        channel = self.client.get_channel(snowflake) or await self.client.fetch_channel(snowflake)
        if not isinstance(channel, discord.abc.Messageable):
            raise PermanentSendError(f"channel {snowflake} takes no messages")
        return channel


def _retry_after(exc: discord.HTTPException) -> float:
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return float(header) if header else 5.0
    except ValueError:
        return 5.0


@contextlib.asynccontextmanager
async def discord_outbox_running(client: discord.Client, outbox: AlertOutbox, max_in_flight: int,
                                 is_user: Callable[[str], Awaitable[bool]], **options: Any
                                 ) -> AsyncIterator[OutboxDrainer]:
    """Drain the Discord alerts while the block runs (what a crash left in flight first)."""
    options.setdefault("overall_per_second", ALERTS_PER_SECOND)
    options.setdefault("per_chat_interval", PER_CHANNEL_INTERVAL)
    options.setdefault("group_per_minute", 0)  # the per-channel interval already keeps a channel in its limit
    drainer = outbox.drainer(DiscordAlertSender(client, is_user), max_in_flight, **options)
    await drainer.start()
    try:
        yield drainer
    finally:
        await drainer.stop()
