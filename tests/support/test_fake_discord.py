"""Proves FakeDiscord is a faithful enough Discord for the REAL discord.py client.

Why: the bot's Discord end-to-end tests trust this fake; if discord.py could not log in to it, sync commands,
convert slash options, answer, defer and follow up, dispatch persistent views and raw reactions from it, or map
its errors to the right exceptions, every test built on it would prove nothing. Every test here drives a plain
``discord.Client`` + ``app_commands.CommandTree`` pointed at the fake exactly as production does (Route.BASE,
then DEFAULT_GATEWAY from ``GET /gateway/bot`` in ``setup_hook``). Expected values are written out by hand.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route
from discord.interactions import InteractionResponseType
from discord.webhook.async_ import async_context, interaction_response_params

from tests.support.fake_discord import FLAG_EPHEMERAL, FLAG_LOADING, FakeDiscord

GUILD = 900_000_000_000_000_001
CHANNEL = 900_000_000_000_000_010
ADMIN_ROLE = 900_000_000_000_000_020
ALICE = 910_000_000_000_000_001  # holds the Admin role
BOB = 910_000_000_000_000_002  # a plain member ("trader")
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/EUR"]


class VoteView(discord.ui.View):
    """A persistent view: fixed custom_id, no timeout, registered with add_view at start-up."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Like", custom_id="vote:like", style=discord.ButtonStyle.green)
    async def like(self, interaction: discord.Interaction, button: discord.ui.Button[VoteView]) -> None:
        client = interaction.client
        assert isinstance(client, ProbeBot)
        await interaction.response.edit_message(content=f"Liked by {interaction.user.name} on {client.label}")


class AmountModal(discord.ui.Modal, title="How much?"):
    amount: discord.ui.TextInput[AmountModal] = discord.ui.TextInput(label="Amount", custom_id="ask:amount")

    def __init__(self) -> None:
        super().__init__(custom_id="ask:modal")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"amount={self.amount.value}")


class ProbeBot(discord.Client):
    """A plain client wired to the fake the production way; records what its handlers saw."""

    def __init__(self, label: str = "first") -> None:
        super().__init__(intents=discord.Intents.default())
        self.label = label
        self.tree = app_commands.CommandTree(self)
        self.seen: list[tuple[Any, ...]] = []
        self._noted = asyncio.Condition()
        self.reactions: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()
        self.synced: list[app_commands.AppCommand] = []
        self._register()

    async def setup_hook(self) -> None:
        # Exactly what the bot does when discord.api_base is not Discord's.
        data = await self.http.request(Route("GET", "/gateway/bot"))
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(data["url"])
        self.add_view(VoteView())

    async def note(self, kind: str, *details: Any) -> None:
        """Record what a handler saw or got, and wake tests waiting for it."""
        async with self._noted:
            self.seen.append((kind, *details))
            self._noted.notify_all()

    async def wait_noted(self, kind: str, count: int = 1) -> list[tuple[Any, ...]]:
        """The details of the first ``count`` notes of ``kind``, once there are that many."""

        def ready() -> bool:
            return len([s for s in self.seen if s[0] == kind]) >= count

        async with self._noted:
            await asyncio.wait_for(self._noted.wait_for(ready), 5)
        return [s[1:] for s in self.seen if s[0] == kind][:count]

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.reactions.put_nowait(payload)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.id != (self.user.id if self.user else None):
            await self.note("message", message.channel.id, message.content)

    def _register(self) -> None:
        tree = self.tree

        @tree.command(description="A trading tip")
        @app_commands.describe(symbol="Market", timeframe="Bar size", size="Position size in USD")
        @app_commands.choices(timeframe=[app_commands.Choice(name=t, value=t) for t in ("15m", "1h", "4h", "1d")])
        async def signal(
            interaction: discord.Interaction, symbol: str, timeframe: str, size: app_commands.Range[int, 1, 1000]
        ) -> None:
            await self.note("signal", symbol, timeframe, size, type(size))
            await interaction.response.defer()
            embed = discord.Embed(title=f"{symbol} {timeframe}", description=f"size {size}")
            await interaction.followup.send(embed=embed)
            await interaction.followup.send("a second followup")

        @signal.autocomplete("symbol")
        async def symbol_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=s, value=s) for s in SYMBOLS if current.upper() in s]

        @tree.command(description="Admins only")
        @app_commands.default_permissions(administrator=True)
        async def purge(interaction: discord.Interaction) -> None:
            # Discord hides the command, but a server override can show it: always check live.
            allowed = interaction.permissions.administrator
            await interaction.response.send_message("purged" if allowed else "not allowed", ephemeral=True)

        @tree.command(description="Answers twice")
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("one")
            outcome: list[Any] = []
            try:
                await interaction.response.send_message("two")
            except discord.InteractionResponded:
                outcome.append("InteractionResponded")
            # discord.py stops a second answer itself; go round it to hear what Discord says.
            params = interaction_response_params(InteractionResponseType.channel_message.value, {"content": "two"})
            try:
                await async_context.get().create_interaction_response(
                    interaction.id, interaction.token, session=interaction._session, params=params
                )
            except discord.HTTPException as exc:
                outcome += [exc.status, exc.code]
            await self.note("twice", *outcome)

        @tree.command(description="Answers too late")
        async def late(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_message("late")
            except discord.NotFound as exc:
                await self.note("late", "NotFound", exc.status, exc.code)

        @tree.command(description="Answers, then edits the answer")
        async def draft(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("draft")
            original = await interaction.original_response()
            await interaction.edit_original_response(content=f"final (was {original.content})")

        @tree.command(description="Asks through a modal")
        async def ask(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(AmountModal())

        config = app_commands.Group(name="config", description="Settings")

        @config.command(name="show", description="Show the settings")
        async def config_show(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("config shown")

        tree.add_command(config)

        @tree.command(description="Only in the test guild")
        @app_commands.guilds(GUILD)
        async def guildonly(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"guild only in {interaction.guild_id}")


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        fake.add_guild(GUILD, "Tipster HQ", channels={CHANNEL: "signals"})
        fake.add_role(GUILD, ADMIN_ROLE, "Admin", permissions=discord.Permissions(administrator=True).value)
        fake.add_member(GUILD, fake.add_user(ALICE, "alice", roles=[ADMIN_ROLE]))
        fake.add_member(GUILD, fake.add_user(BOB, "bob"))
        monkeypatch.setattr(Route, "BASE", fake.api_base)
        # setup_hook sets the class attribute; monkeypatch puts Discord's own back after the test.
        monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
        yield fake
        assert fake.errors == [], "the fake itself failed while handling a request"


@pytest.fixture
async def bot(server: FakeDiscord) -> AsyncIterator[ProbeBot]:
    client = ProbeBot()
    async with server.run_client(client):
        client.synced = await client.tree.sync()
        await client.tree.sync(guild=discord.Object(GUILD))
        yield client


def text_channel(bot: ProbeBot) -> discord.TextChannel:
    channel = bot.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel), "GUILD_CREATE did not cache the guild's channel"
    return channel


async def test_login_identify_and_guild_cache(server: FakeDiscord, bot: ProbeBot) -> None:
    assert bot.user is not None and bot.user.id == server.bot.id and bot.application_id == server.application_id
    guild = bot.get_guild(GUILD)
    assert guild is not None and guild.name == "Tipster HQ" and guild.get_channel(CHANNEL) is not None
    [identify] = [f for f in server.gateway_received if f.op == 2]
    assert identify.data["intents"] == discord.Intents.default().value
    [conn] = server.connections
    assert conn.query["v"] == "10" and conn.query["encoding"] == "json"
    assert conn.query["compress"] == "zlib-stream" and conn.compressor is not None  # discord.py's ask, honoured
    assert any(f.op == 1 for f in server.gateway_received)  # the heartbeat discord.py sends right after HELLO
    # Without the members intent Discord sends only the bot's own member: the cache knows nobody else.
    assert guild.me is not None and guild.get_member(ALICE) is None
    member = await guild.fetch_member(ALICE)
    assert [r.id for r in member.roles if r.id != GUILD] == [ADMIN_ROLE] and member.guild_permissions.administrator


async def test_sync_stores_typed_options_exactly(server: FakeDiscord, bot: ProbeBot) -> None:
    signal = server.command("signal")
    assert [(o["name"], o["type"], o["required"]) for o in signal["options"]] == [
        ("symbol", 3, True),
        ("timeframe", 3, True),
        ("size", 4, True),
    ]
    symbol, timeframe, size = signal["options"]
    assert symbol["autocomplete"] is True
    assert timeframe["choices"] == [{"name": t, "value": t} for t in ("15m", "1h", "4h", "1d")]
    assert (size["min_value"], size["max_value"]) == (1, 1000)
    assert signal["default_member_permissions"] is None
    assert server.command("purge")["default_member_permissions"] == "8"
    assert [(o["name"], o["type"]) for o in server.command("config")["options"]] == [("show", 1)]
    assert set(server.commands()) == {"signal", "purge", "twice", "late", "draft", "ask", "config"}
    assert set(server.commands(GUILD)) == {"guildonly"}
    # discord.py parsed what the fake answered: the ids it knows are the stored ones.
    assert {c.name: c.id for c in bot.synced} == {n: int(c["id"]) for n, c in server.commands().items()}
    # A second sync keeps each command's id, as Discord does for unchanged names.
    before = {n: c["id"] for n, c in server.commands().items()}
    await bot.tree.sync()
    assert {n: c["id"] for n, c in server.commands().items()} == before


async def test_deferred_slash_command_then_followups(server: FakeDiscord, bot: ProbeBot) -> None:
    ix = await server.send_slash(BOB, "signal", {"symbol": "BTC/USDT", "timeframe": "1h", "size": 250}, guild_id=GUILD)
    done = await server.wait_response(ix, followups=2)
    assert await bot.wait_noted("signal") == [("BTC/USDT", "1h", 250, int)]
    assert done.response_type == 5 and done.answered_after is not None and done.answered_after < 3
    first, second = done.followups
    assert first["embeds"][0]["title"] == "BTC/USDT 1h" and first["embeds"][0]["description"] == "size 250"
    # The first followup after a defer fills the "thinking" message; the next one is a new message.
    assert int(first["id"]) == done.original_message_id
    assert server.message(first["id"])["flags"] & FLAG_LOADING == 0
    assert second["content"] == "a second followup" and int(second["id"]) != done.original_message_id
    assert [m["id"] for m in server.messages[CHANNEL]] == [first["id"], second["id"]]
    webhook = server.requests_to("POST /webhooks/{webhook_id}/{webhook_token}")
    assert [r.query["wait"] for r in webhook] == ["1", "1"]


async def test_autocomplete_answer(server: FakeDiscord, bot: ProbeBot) -> None:
    ix = await server.send_autocomplete(ALICE, "signal", {"symbol": "btc"}, "symbol", guild_id=GUILD)
    done = await server.wait_response(ix)
    assert done.response_type == 8
    assert done.response is not None
    assert [c["value"] for c in done.response["data"]["choices"]] == ["BTC/USDT", "BTC/EUR"]


async def test_options_are_checked_like_discords_client(server: FakeDiscord, bot: ProbeBot) -> None:
    good = {"symbol": "BTC/USDT", "timeframe": "1h", "size": 250}
    with pytest.raises(ValueError, match="not one of the choices"):
        await server.send_slash(BOB, "signal", {**good, "timeframe": "2h"}, guild_id=GUILD)
    with pytest.raises(ValueError, match="outside"):
        await server.send_slash(BOB, "signal", {**good, "size": 0}, guild_id=GUILD)
    with pytest.raises(ValueError, match="integer option"):
        await server.send_slash(BOB, "signal", {**good, "size": "250"}, guild_id=GUILD)
    with pytest.raises(ValueError, match="required option 'size'"):
        await server.send_slash(BOB, "signal", {"symbol": "BTC/USDT", "timeframe": "1h"}, guild_id=GUILD)
    assert server.interactions == {}


async def test_admin_command_hidden_then_checked_live(server: FakeDiscord, bot: ProbeBot) -> None:
    with pytest.raises(ValueError, match="hidden"):
        await server.send_slash(BOB, "purge", guild_id=GUILD)
    refused = await server.send_slash(BOB, "purge", guild_id=GUILD, ignore_default_permissions=True)
    allowed = await server.send_slash(ALICE, "purge", guild_id=GUILD)
    assert (await server.wait_response(refused)).response == {"type": 4, "data": {
        "content": "not allowed", "tts": False, "flags": FLAG_EPHEMERAL}}
    done = await server.wait_response(allowed)
    assert done.response is not None and done.response["data"]["content"] == "purged"
    assert int(allowed.payload["member"]["permissions"]) & 8 and not int(refused.payload["member"]["permissions"]) & 8


async def test_subcommand_and_guild_command(server: FakeDiscord, bot: ProbeBot) -> None:
    shown = await server.wait_response(await server.send_slash(ALICE, "config show", guild_id=GUILD))
    assert shown.response is not None and shown.response["data"]["content"] == "config shown"
    ix = await server.send_slash(ALICE, "guildonly", guild_id=GUILD)
    assert ix.payload["data"]["guild_id"] == str(GUILD)
    done = await server.wait_response(ix)
    assert done.response is not None and done.response["data"]["content"] == f"guild only in {GUILD}"
    with pytest.raises(ValueError, match="no slash command /guildonly"):
        await server.send_slash(ALICE, "guildonly")  # in DMs only global commands exist


async def test_button_press_answered_with_edit_message(server: FakeDiscord, bot: ProbeBot) -> None:
    sent = await text_channel(bot).send("Vote?", view=VoteView())
    [[button]] = [row["components"] for row in server.message(sent.id)["components"]]
    assert (button["type"], button["custom_id"], button["label"]) == (2, "vote:like", "Like")
    ix = await server.press_button(BOB, sent.id, "vote:like")
    done = await server.wait_response(ix)
    assert done.response_type == 7
    assert server.message(sent.id)["content"] == "Liked by bob on first"
    assert [e.kind for e in server.message_log if e.message_id == sent.id] == ["create", "edit"]
    with pytest.raises(ValueError, match="no component"):
        await server.press_button(BOB, sent.id, "vote:dislike")


async def test_original_response_fetched_and_edited(server: FakeDiscord, bot: ProbeBot) -> None:
    ix = await server.send_slash(ALICE, "draft", guild_id=GUILD)
    await server.wait_until(lambda: ix.edits, what="the edit of @original")
    assert ix.original_message_id is not None
    assert server.message(ix.original_message_id)["content"] == "final (was draft)"
    assert [e["content"] for e in ix.edits] == ["final (was draft)"]
    assert [r.status for r in server.requests_to("GET /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
            ] == [200]


async def test_429_on_an_interaction_callback_is_retried(server: FakeDiscord, bot: ProbeBot) -> None:
    server.fail_next("POST /interactions/{interaction_id}/{interaction_token}/callback", retry_after=0.02)
    done = await server.wait_response(await server.send_slash(ALICE, "config show", guild_id=GUILD))
    assert done.response is not None and done.response["data"]["content"] == "config shown"
    callbacks = server.requests_to("POST /interactions/{interaction_id}/{interaction_token}/callback")
    assert [r.status for r in callbacks] == [429, 200]
    assert callbacks[0].response["retry_after"] == 0.02


async def test_user_messages_without_the_message_content_intent(server: FakeDiscord, bot: ProbeBot) -> None:
    await server.send_message_create(BOB, CHANNEL, "in the guild")
    await server.send_message_create(BOB, server.dm_channel(BOB), "in a DM")
    # Default intents lack MESSAGE_CONTENT: guild messages of others arrive empty, DMs do not.
    assert await bot.wait_noted("message", 2) == [(CHANNEL, ""), (server.dm_channel(BOB), "in a DM")]


async def test_modal_round_trip(server: FakeDiscord, bot: ProbeBot) -> None:
    shown = await server.wait_response(await server.send_slash(ALICE, "ask", guild_id=GUILD))
    assert shown.response is not None and shown.response_type == 9
    assert shown.response["data"]["custom_id"] == "ask:modal" and shown.response["data"]["title"] == "How much?"
    done = await server.wait_response(await server.submit_modal(ALICE, "ask:modal", {"ask:amount": "42"}))
    assert done.response is not None and done.response["data"]["content"] == "amount=42"


async def test_reaction_reaches_on_raw_reaction_add(server: FakeDiscord, bot: ProbeBot) -> None:
    sent = await text_channel(bot).send("React to me")
    await server.add_reaction(ALICE, CHANNEL, sent.id, "✅")
    event = await asyncio.wait_for(bot.reactions.get(), 5)
    assert (event.user_id, event.message_id, event.channel_id, event.guild_id) == (ALICE, sent.id, CHANNEL, GUILD)
    assert event.emoji.name == "✅" and event.member is not None and event.member.id == ALICE
    assert event.message_author_id == server.bot.id
    # The bot's own reaction goes through REST and comes back as an event with the bot as the user.
    await sent.add_reaction("❌")
    assert server.reaction_calls == [("PUT", CHANNEL, sent.id, "❌")]
    own = await asyncio.wait_for(bot.reactions.get(), 5)
    assert own.user_id == server.bot.id and own.emoji.name == "❌"
    assert {r["emoji"]["name"]: r["count"] for r in server.message(sent.id)["reactions"]} == {"✅": 1, "❌": 1}


async def test_429_is_retried_once_by_discord_py(server: FakeDiscord, bot: ProbeBot) -> None:
    server.fail_next(CHANNEL, status=429, retry_after=0.05)
    since = len(server.requests)
    sent = await text_channel(bot).send("after a 429")
    attempts = [r for r in server.requests[since:] if r.route == "POST /channels/{channel_id}/messages"]
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[0].response == {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
    assert attempts[1].timestamp - attempts[0].timestamp >= 0.05
    assert [m["content"] for m in server.messages[CHANNEL]] == ["after a 429"]
    assert sent.id == int(server.messages[CHANNEL][0]["id"])


async def test_discord_limits_refused_with_400(server: FakeDiscord, bot: ProbeBot) -> None:
    channel = text_channel(bot)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert "Must be 2000 or fewer in length." in too_long.value.text
    assert server.messages[CHANNEL] == []
    await channel.send("x" * 2000)  # the limit itself is allowed
    with pytest.raises(discord.HTTPException, match="Must be 256 or fewer"):
        await channel.send(embed=discord.Embed(title="t" * 257))
    six_fields = discord.Embed(title="big")
    for i in range(6):
        six_fields.add_field(name=f"f{i}", value="v" * 1000)  # 3 + 6 * (2 + 1000) = 6015 > 6000
    with pytest.raises(discord.HTTPException, match="6000"):
        await channel.send(embed=six_fields)
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=CHANNEL)
    long_id = {"type": 1, "components": [{"type": 2, "style": 1, "label": "x", "custom_id": "c" * 101}]}
    with pytest.raises(discord.HTTPException, match="Must be 100 or fewer"):
        await bot.http.request(route, json={"content": "buttons", "components": [long_id]})
    six_rows = [{"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": f"r{i}"}]}
                for i in range(6)]
    with pytest.raises(discord.HTTPException, match="Must be 5 or fewer"):
        await bot.http.request(route, json={"content": "rows", "components": six_rows})
    with pytest.raises(discord.HTTPException) as empty:
        await bot.http.request(route, json={"content": ""})
    assert empty.value.code == 50006
    assert [len(m["content"]) for m in server.messages[CHANNEL]] == [2000]


async def test_interaction_answered_twice(server: FakeDiscord, bot: ProbeBot) -> None:
    ix = await server.send_slash(ALICE, "twice", guild_id=GUILD)
    assert await bot.wait_noted("twice") == [("InteractionResponded", 400, 40060)]
    assert ix.response is not None and ix.response["data"]["content"] == "one"
    assert [(r["status"], r["code"]) for r in ix.refused] == [(400, 40060)]


async def test_answer_after_the_deadline_is_unknown(server: FakeDiscord, bot: ProbeBot) -> None:
    server.interaction_ttl = 0.0  # every answer is late: no need to wait 3 s
    ix = await server.send_slash(ALICE, "late", guild_id=GUILD)
    assert await bot.wait_noted("late") == [("NotFound", 404, 10062)]
    assert ix.responses == [] and [r["code"] for r in ix.refused] == [10062]


async def test_dm_and_blocked_recipient(server: FakeDiscord, bot: ProbeBot) -> None:
    user = await bot.fetch_user(BOB)
    dm = await user.create_dm()
    assert dm.id == server.dm_channel(BOB)
    await dm.send("hello")
    server.block_user(BOB)
    with pytest.raises(discord.Forbidden) as blocked:
        await dm.send("again")
    assert blocked.value.code == 50007
    assert [m["content"] for m in server.messages[dm.id]] == ["hello"]
    # A slash command in the DM: the interaction carries `user`, not `member`, and the answer lands there.
    ix = await server.send_slash(BOB, "config show")
    assert "member" not in ix.payload and ix.payload["user"]["id"] == str(BOB) and ix.channel_id == dm.id
    done = await server.wait_response(ix)
    assert done.original_message_id is not None
    assert server.message(done.original_message_id)["channel_id"] == str(dm.id)
    fetched = await bot.fetch_channel(CHANNEL)
    assert isinstance(fetched, discord.TextChannel) and fetched.name == "signals" and fetched.guild.id == GUILD


async def test_multipart_upload(server: FakeDiscord, bot: ProbeBot) -> None:
    sent = await text_channel(bot).send("chart", file=discord.File(io.BytesIO(b"\x89PNG-ish"), filename="chart.png"))
    [attachment] = server.message(sent.id)["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("chart.png", 8)
    assert server.uploads[int(attachment["id"])].data == b"\x89PNG-ish"
    assert await sent.attachments[0].read() == b"\x89PNG-ish"


async def test_resume_replays_missed_events(server: FakeDiscord, bot: ProbeBot) -> None:
    [session] = server.sessions.values()
    sent = await text_channel(bot).send("React after the drop")
    since = len(server.gateway_received)
    await server.disconnect_all(4000)
    await server.add_reaction(BOB, CHANNEL, sent.id, "✅")
    event = await asyncio.wait_for(bot.reactions.get(), 5)
    assert (event.user_id, event.message_id) == (BOB, sent.id)
    resume = await server.wait_gateway_op(6, since=since)
    assert resume.data["session_id"] == session.id
    await server.wait_until(lambda: "RESUMED" in session.events, what="RESUMED")
    assert list(server.sessions.values()) == [session] and session.resumes == 1
    assert not [f for f in server.gateway_received[since:] if f.op == 2]  # resumed, not identified again


class ReidentifyBot(ProbeBot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py's default sleeps 5 s before every identify but the first


async def test_invalidated_session_identifies_again(server: FakeDiscord) -> None:
    client = ReidentifyBot()
    async with server.run_client(client):
        await client.tree.sync()
        [old] = server.sessions.values()
        await server.disconnect_all(4000, invalidate=True)
        await server.wait_until(lambda: len([f for f in server.gateway_received if f.op == 2]) == 2,
                                what="a second IDENTIFY")
        await server.wait_until(lambda: server.live_sessions and "GUILD_CREATE" in server.live_sessions[0].events,
                                what="the new session's GUILD_CREATE")
        [new] = server.live_sessions
        assert new.id != old.id
        assert [f.data["session_id"] for f in server.gateway_received if f.op == 6] == [old.id]
        done = await server.wait_response(await server.send_slash(BOB, "config show", guild_id=GUILD))
        assert done.response is not None and done.response["data"]["content"] == "config shown"


async def test_privileged_intent_not_enabled_is_refused(server: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.all())

    async def setup_hook() -> None:
        data = await client.http.request(Route("GET", "/gateway/bot"))
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(data["url"])

    client.setup_hook = setup_hook  # type: ignore[method-assign]
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with server.run_client(client):
            pass
    await client.close()


async def test_restart_keeps_buttons_working(server: FakeDiscord) -> None:
    first = ProbeBot("first")
    async with server.run_client(first):
        await first.tree.sync()
        sent = await text_channel(first).send("Vote?", view=VoteView())
    assert first.is_closed()
    # discord.py's close() ends up sending close code 4000, not 1000 (its reader loop closes the socket
    # first), so Discord keeps the session resumable: no live session, one dormant one.
    [dormant] = server.sessions.values()
    assert server.live_sessions == [] and dormant.connection is None
    assert server.connections[0].close_code == 4000
    second = ProbeBot("second")
    async with server.run_client(second):
        done = await server.wait_response(await server.press_button(BOB, sent.id, "vote:like"))
        assert done.response_type == 7
        assert server.message(sent.id)["content"] == "Liked by bob on second"
    assert len([f for f in server.gateway_received if f.op == 2]) == 2
