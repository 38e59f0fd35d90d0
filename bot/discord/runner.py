"""Build and run the discord.py client around the core: slash commands, buttons, reactions, the outbox.

`discord.api_base` is the REST base discord.py talks to; when it is not Discord's own, the gateway URL is
asked from `{api_base}/gateway/bot` too (a plain discord.py Client never asks; it dials Discord's gateway),
so the bot can be pointed at a proxy or a local test server, as `telegram.base_url` does for Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.core.registry import registry
from bot.core.service import TipsterCore
from bot.discord.buttons import CoreButton, PromptButton, SecretPromptButton
from bot.discord.channels import apply_channels
from bot.discord.chat_admin import chat_admin_check
from bot.discord.commands import build_tree
from bot.discord.interactions import on_answer, on_message, on_press, on_reaction, on_secrets, on_slash
from bot.discord.outbox_sender import discord_outbox_running
from bot.settings import DISCORD_API

log = logging.getLogger(__name__)


class DiscordUnavailable(Exception):
    """The bot cannot start on Discord (token refused, API unreachable); one line, never the token."""


class TipsterDiscord(discord.Client):
    def __init__(self, core: TipsterCore, *, guild_ready_timeout: float = 2.0, **options: Any) -> None:
        intents = discord.Intents.default()  # guilds, DMs and reactions; no privileged intent is needed
        super().__init__(intents=intents, chunk_guilds_at_startup=False, **options)
        # Seconds discord.py waits after the last GUILD_CREATE before it calls the bot ready.
        self._connection.guild_ready_timeout = guild_ready_timeout
        self.core = core
        self.api_base = core.settings.discord.api_base
        self.tree = app_commands.CommandTree(self)
        self.synced: list[app_commands.AppCommand] = []
        self.accepting = True  # False once shutting down: new interactions and messages are not taken
        self._handling: set[asyncio.Task[Any]] = set()
        build_tree(self.tree, registry, self._invoke, core.services.market.symbols)

    async def setup_hook(self) -> None:
        if self.api_base != DISCORD_API:
            data = await self.http.request(Route("GET", "/gateway/bot"))
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(data["url"])
        self.add_dynamic_items(CoreButton, PromptButton, SecretPromptButton)
        self.synced = await self.tree.sync()
        log.info("discord: %d slash commands synced", len(self.synced))

    async def _handle(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one event's handler, counted so a shutdown can wait for it; refused once shutting down."""
        if not self.accepting:
            work.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._handling.add(task)
        try:
            await work
        finally:
            self._handling.discard(task)  # type: ignore[arg-type]

    async def stop_taking_events(self, grace: float = 3.0) -> None:
        """Take no new interaction or message; wait up to `grace` s for those being handled (their replies)."""
        self.accepting = False
        running = {task for task in self._handling if not task.done()}
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            if late:
                log.warning("discord: %d handler(s) still running at shutdown", len(late))

    async def _invoke(self, interaction: discord.Interaction, name: str, options: dict[str, str]) -> None:
        await self._handle(on_slash(self.core, interaction, name, options))

    async def on_core_press(self, interaction: discord.Interaction, data: str) -> None:
        await self._handle(on_press(self.core, interaction, data))

    async def on_core_answer(self, interaction: discord.Interaction, text: str) -> None:
        await self._handle(on_answer(self.core, interaction, text))

    async def on_core_secrets(self, interaction: discord.Interaction, answers: list[str]) -> None:
        await self._handle(on_secrets(self.core, interaction, answers))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        try:
            await self._handle(on_reaction(self.core, self, payload))
        except discord.HTTPException as exc:
            log.warning("reaction on message %s not handled: %s", payload.message_id, exc)

    async def on_message(self, message: discord.Message) -> None:
        await self._handle(on_message(self.core, self, message))

    async def on_ready(self) -> None:
        log.info("discord bot %s is running in %d guild(s)", self.user, len(self.guilds))


async def is_discord_user(core: TipsterCore, chat_id: str) -> bool:
    return await core.storage.users.by_identity(f"discord:{chat_id}") is not None


@contextlib.asynccontextmanager
async def discord_running(core: TipsterCore, **options: Any) -> AsyncIterator[TipsterDiscord]:
    """The bot connected to Discord until the block ends; its alerts drain while it runs."""
    settings = core.settings.discord
    if not settings.token:
        raise ValueError("discord.token is not set")
    Route.BASE = settings.api_base  # every REST call, interaction callbacks and webhook follow-ups included
    client = TipsterDiscord(core, **options)
    core.chat_admin_checks["discord"] = chat_admin_check(client)
    await apply_channels(core, settings.channels)
    runner = asyncio.create_task(client.start(settings.token), name="discord")
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait({runner, ready}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            _raise_start_failure(runner, settings.api_base)
        async with discord_outbox_running(client, core.services.outbox, core.settings.alerts.max_in_flight,
                                          lambda chat_id: is_discord_user(core, chat_id)):
            try:
                yield client
            finally:
                # Shutting down: no new events, the ones being handled finish, then the drainer's sends.
                await client.stop_taking_events()
    finally:
        ready.cancel()
        await client.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner


def _raise_start_failure(runner: asyncio.Task[None], api_base: str) -> None:
    exc = runner.exception()
    if isinstance(exc, discord.LoginFailure):
        raise DiscordUnavailable(f"Discord at {api_base} rejected the bot token (discord.token or "
                                 "TIPSTER_DISCORD__TOKEN); copy it again from the developer portal") from None
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        raise DiscordUnavailable("Discord refused an intent the bot asked for; see README (Discord)") from None
    if isinstance(exc, (discord.HTTPException, discord.GatewayNotFound, OSError)):
        raise DiscordUnavailable(f"cannot reach Discord at {api_base} ({type(exc).__name__}); check "
                                 "discord.api_base and the network") from None
    if exc is not None:
        raise exc
    raise DiscordUnavailable("the Discord client stopped before it was ready")
