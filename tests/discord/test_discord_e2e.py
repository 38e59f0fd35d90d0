"""The real discord.py client of bot/discord against the local Discord (REST + Gateway) of tests/support.

The bot is started exactly as `tipster run` starts it (open_core, then discord_running with discord.api_base
pointing at the fake); users act through the fake as Discord's own client would (slash commands with typed
options, button presses, reactions). Expected values are written out by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import discord
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.app import open_core
from bot.core.permissions import Permission
from bot.core.registry import registry
from bot.core.service import TipsterCore
from bot.discord.runner import discord_running
from bot.settings import Settings
from tests.support.fake_discord import FLAG_EPHEMERAL, FakeDiscord

pytestmark = pytest.mark.slow

GUILD = 900_000_000_000_000_001
CHANNEL = 900_000_000_000_000_010
ALERTS = 900_000_000_000_000_011
ADMINS = 900_000_000_000_000_012
ALICE = 910_000_000_000_000_001  # a Tipster admin (TIPSTER_ADMINS) and the guild's owner
BOB = 910_000_000_000_000_002  # a plain member: a trader in open access mode
CAROL = 910_000_000_000_000_003


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        alice, bob, carol = fake.add_user(ALICE, "alice"), fake.add_user(BOB, "bob"), fake.add_user(CAROL, "carol")
        fake.add_guild(GUILD, "Traders", owner=alice, channels={CHANNEL: "tips", ALERTS: "alerts", ADMINS: "admins"},
                       members=[alice, bob, carol])
        # discord_running sets Route.BASE and setup_hook the gateway: put Discord's own back afterwards.
        monkeypatch.setattr(Route, "BASE", Route.BASE)
        monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
        yield fake
        assert fake.errors == [], "the fake itself failed while handling a request"


def discord_settings(settings: Settings, server: FakeDiscord, **channels: int) -> Settings:
    return settings.model_copy(update={
        "admins": [f"discord:{ALICE}"],
        "discord": settings.discord.model_copy(update={
            "token": server.token, "api_base": server.api_base,
            "channels": settings.discord.channels.model_copy(update=channels)}),
    })


@pytest.fixture
async def bot(server: FakeDiscord, settings: Settings) -> AsyncIterator[TipsterCore]:
    async with open_core(discord_settings(settings, server, alerts=ALERTS, admin=ADMINS)) as core, \
            discord_running(core, guild_ready_timeout=0.05):
        yield core


def embed(message: dict[str, Any]) -> dict[str, Any]:
    [only] = message["embeds"]
    return only


def custom_ids(message: dict[str, Any]) -> dict[str, str]:
    return {c["label"]: c["custom_id"] for row in message["components"] for c in row["components"]}


async def eventually(read: Callable[[], Awaitable[Any]], equals: Any, within: float = 5.0) -> None:
    """Poll `read` until it gives `equals` (for effects the bot leaves in storage, not on the wire)."""
    deadline = asyncio.get_running_loop().time() + within
    while (got := await read()) != equals:
        assert asyncio.get_running_loop().time() < deadline, f"still {got!r}"
        await asyncio.sleep(0.02)


async def refused_reactions(core: TipsterCore) -> list[str]:
    return [e.actor for e in await core.storage.audit.recent(limit=50)
            if e.action == "reaction approve" and e.result == "refused"]


async def answered(server: FakeDiscord, user: int, name: str, options: dict[str, Any] | None = None,
                   **where: Any) -> tuple[Any, list[dict[str, Any]]]:
    ix = await server.send_slash(user, name, options or {}, **where)
    # Generous: a chart or a cold tip is a second of CPU, many more on a loaded two-core CI machine.
    done = await server.wait_response(ix, followups=1, timeout=30)
    return done, done.followups


async def test_every_core_command_is_a_slash_command_with_typed_options(server: FakeDiscord, bot: TipsterCore):
    synced = server.commands()
    assert set(synced) == set(registry.commands)
    signal = synced["signal"]
    options = {o["name"]: o for o in signal["options"]}
    assert list(options) == ["symbol", "timeframe", "buy", "sell", "tw", "sw", "strategy", "params"]
    assert [c["value"] for c in options["strategy"]["choices"]] == ["fused", "hyperrsi", "grid", "options"]
    assert (options["symbol"]["type"], options["symbol"]["required"], options["symbol"]["autocomplete"]) == (
        3, False, True)
    assert [c["value"] for c in options["timeframe"]["choices"]] == ["15m", "1h", "4h", "1d"]
    assert (options["buy"]["type"], options["buy"]["min_value"], options["buy"]["max_value"]) == (10, -1, 1)
    assert (options["tw"]["min_value"], options["tw"]["max_value"]) == (0, 1)
    [text] = synced["broadcast"]["options"]
    assert (text["name"], text["type"], text["required"]) == ("text", 3, True)
    admin_only = {n for n, c in registry.commands.items() if c.permission is Permission.ADMIN}
    assert admin_only >= {"users", "grant", "broadcast", "stats"}
    assert {n for n, c in synced.items() if c["default_member_permissions"] == "8"} == admin_only
    # Autocomplete offers the configured market's symbols.
    ix = await server.send_autocomplete(BOB, "signal", {"symbol": "et"}, "symbol", guild_id=GUILD,
                                        channel_id=CHANNEL)
    done = await server.wait_response(ix)
    assert [c["value"] for c in done.response["data"]["choices"]] == ["ETH/USDT"]


async def test_signal_in_a_guild_is_deferred_then_a_public_embed(server: FakeDiscord, bot: TipsterCore):
    done, [card] = await answered(server, BOB, "signal", {"symbol": "BTC/USDT", "timeframe": "1h"},
                                  guild_id=GUILD, channel_id=CHANNEL)
    assert done.response_type == 5 and done.answered_after < 3  # acknowledged at once, answered after
    assert not done.response["data"].get("flags", 0) & FLAG_EPHEMERAL  # public: the owner can react to it
    tip = await bot.storage.signals.get(1)
    assert tip is not None and tip.symbol == "BTC/USDT" and tip.timeframe == "1h"
    assert await bot.storage.summaries.tip_counts("discord", str(CHANNEL), tip.created_at,
                                                  tip.created_at + timedelta(seconds=1)) == {
        tip.recommendation.value: 1}
    card_embed = embed(card)
    assert card_embed["title"].endswith(f"{tip.recommendation.value} BTC/USDT · 1h · DEMO")
    colour = {"BUY": discord.Colour.green(), "SELL": discord.Colour.red(), "HOLD": discord.Colour.light_grey()}
    assert card_embed["color"] == colour[tip.recommendation.value].value
    assert [f["name"] for f in card_embed["fields"]] == ["Levels", "Scores", "Indicators", "Reasoning",
                                                          "Sentiment", "Data"]
    data = next(f["value"] for f in card_embed["fields"] if f["name"] == "Data")
    assert "DEMO data, not live prices" in data
    assert card_embed["footer"]["text"].startswith("Tip #1 · ")
    assert {"🔄 Refresh", "📜 History", "✖ Dismiss", "👁 Watch"} <= set(custom_ids(card))


async def test_a_button_press_edits_the_card_and_bad_input_gets_one_line(server: FakeDiscord, bot: TipsterCore):
    _, [card] = await answered(server, BOB, "signal", {"symbol": "ETH/USDT", "timeframe": "4h"},
                               guild_id=GUILD, channel_id=CHANNEL)
    ix = await server.press_button(BOB, int(card["id"]), custom_ids(card)["✖ Dismiss"])
    done = await server.wait_response(ix)
    assert done.response_type == 6  # a deferred update: the pressed message is edited
    await server.wait_until(lambda: ix.edits, what="the card's edit")
    assert "dismissed" in embed(server.message(int(card["id"])))["footer"]["text"]
    assert (await bot.storage.signals.get(1)).status == "dismissed"
    # Someone else's press on Bob's card: refused, to the presser alone.
    other = await server.press_button(CAROL, int(card["id"]), custom_ids(server.message(int(card["id"])))["History"])
    await server.wait_response(other, followups=1)
    [refusal] = other.followups
    assert refusal["flags"] & FLAG_EPHEMERAL and "not yours" in embed(refusal)["description"]

    _, [reply] = await answered(server, BOB, "signal", {"symbol": "' OR 1=1 --"}, guild_id=GUILD,
                                channel_id=CHANNEL)
    text = embed(reply)["description"]
    assert "is not a market symbol" in text and "Usage: /signal [SYMBOL] [TIMEFRAME]" in text
    _, [reply] = await answered(server, BOB, "history", {"id": 999}, guild_id=GUILD, channel_id=CHANNEL)
    assert embed(reply)["description"] == "No tip #999 (it may have been deleted).\nUsage: /history ID"


async def test_an_admin_command_is_refused_to_a_trader_privately(server: FakeDiscord, bot: TipsterCore):
    ix = await server.send_slash(BOB, "users", {}, guild_id=GUILD, channel_id=CHANNEL,
                                 ignore_default_permissions=True)  # a server override shows it to Bob
    done = await server.wait_response(ix, followups=1)
    assert done.response["data"]["flags"] & FLAG_EPHEMERAL  # /users is private: deferred ephemerally
    assert embed(done.followups[0])["description"] == "/users is for admins only."
    audit = await bot.storage.audit.recent(limit=5)
    assert any(e.action == "/users" and e.result == "refused" for e in audit)
    _, [listing] = await answered(server, ALICE, "users", {}, guild_id=GUILD, channel_id=CHANNEL)
    assert f"discord:{ALICE}" in embed(listing)["description"].replace("\\", "")


async def test_reactions_approve_for_the_owner_only(server: FakeDiscord, bot: TipsterCore):
    # Thresholds at the very bottom make any fused score a BUY: a tip that can be opened, whatever the data.
    _, [card] = await answered(server, BOB, "signal", {"symbol": "BTC/USDT", "timeframe": "1h", "buy": -0.99,
                                                       "sell": -1.0}, guild_id=GUILD, channel_id=CHANNEL)
    assert embed(card)["title"].startswith("🟢 BUY") and "💰 Open position" in custom_ids(card)
    before = len(server.messages[CHANNEL])
    # Carol is not the owner: her ✅ posts nothing and leaves one audit entry.
    await server.add_reaction(CAROL, CHANNEL, int(card["id"]), "✅", guild_id=GUILD)
    await eventually(lambda: refused_reactions(bot), equals=[f"discord:{CAROL}"])
    await server.add_reaction(BOB, CHANNEL, int(card["id"]), "✅", guild_id=GUILD)
    picker = await server.wait_message(CHANNEL, lambda m: "what size?" in embed(m).get("title", ""))
    assert str(picker["message_reference"]["message_id"]) == card["id"]
    assert len(server.messages[CHANNEL]) == before + 1  # Carol's ✅ posted nothing
    assert await refused_reactions(bot) == [f"discord:{CAROL}"]

    # A custom size: typed text does not reach a bot in a server, so the question comes with a form.
    press = await server.press_button(BOB, int(picker["id"]), custom_ids(picker)["Custom…"])
    await server.wait_response(press, followups=1)
    [question] = press.followups
    assert "Type the size in dollars" in embed(question)["description"]
    form = await server.press_button(BOB, int(question["id"]), custom_ids(question)["✍️ Type it"])
    shown = await server.wait_response(form)
    assert shown.response_type == 9  # the form is the press's first and only answer
    answer = await server.submit_modal(BOB, "tipster:answer", {"answer": "250.75"})
    await server.wait_response(answer, followups=1)
    [confirmation] = answer.followups
    assert "size $250.75" in embed(confirmation)["description"] and "Confirm" in custom_ids(confirmation)


async def test_a_broadcast_reaches_dms_with_a_429_waited_out(server: FakeDiscord, bot: TipsterCore):
    for user in (BOB, CAROL):  # registered by their first command
        await answered(server, user, "signals", {}, guild_id=GUILD, channel_id=CHANNEL)
    bob_dm = server.dm_channel(BOB)
    server.fail_next(BOB, status=429, retry_after=0.05)  # Bob's DM channel answers one 429 first
    _, [question] = await answered(server, ALICE, "broadcast", {"text": "Markets *closed*\nat noon"},
                                   guild_id=GUILD, channel_id=CHANNEL)
    press = await server.press_button(ALICE, int(question["id"]), custom_ids(question)["Confirm"])
    await server.wait_response(press)
    sent = await server.wait_message(bob_dm)
    # Markdown in the text is escaped: Bob reads the asterisks, not bold.
    assert embed(sent)["description"] == "Markets \\*closed\\*\nat noon"
    statuses = [r.status for r in server.requests_to(f"POST /channels/{bob_dm}/messages")]
    assert statuses == [429, 200]  # discord.py waited out the 429 and sent once
    await server.wait_message(server.dm_channel(CAROL))

    async def delivered() -> bool:
        return (await bot.storage.alerts.status_totals("discord")).get("sent", 0) >= 2

    await eventually(delivered, equals=True)


async def test_buttons_keep_working_after_a_restart(server: FakeDiscord, settings: Settings):
    settings = discord_settings(settings, server)
    async with open_core(settings) as core, discord_running(core, guild_ready_timeout=0.05):
        _, [card] = await answered(server, BOB, "signal", {"symbol": "SOL/USDT", "timeframe": "1h"},
                                   guild_id=GUILD, channel_id=CHANNEL)
    # A new process: a new core on the same database, a new client; the old card's buttons still act.
    async with open_core(settings) as core, discord_running(core, guild_ready_timeout=0.05):
        ix = await server.press_button(BOB, int(card["id"]), custom_ids(card)["✖ Dismiss"])
        await server.wait_response(ix)
        await server.wait_until(lambda: ix.edits, what="the card's edit")
        assert (await core.storage.signals.get(1)).status == "dismissed"
    assert len(server.command_syncs) == 2  # each start registered the commands


async def test_the_alerts_channel_gets_status_changes_and_a_guild_needs_manage_server(
        server: FakeDiscord, bot: TipsterCore):
    assert await bot.storage.subscriptions.for_chat("discord", str(ALERTS)) == ["*"]
    # A status change queued by the monitor for the channel is drained to it by the Discord sender.
    from bot.core.replies import Reply

    await bot.notify_chat("discord", str(ALERTS), Reply(title="ETH/USDT · 1h", text="BUY → HOLD"), "status_change")
    posted = await server.wait_message(ALERTS)
    assert embed(posted)["title"] == "ETH/USDT · 1h" and embed(posted)["description"] == "BUY → HOLD"
    # /watch in a guild channel changes the channel's watchlist: Manage Server, asked live.
    _, [refused] = await answered(server, BOB, "watch", {"symbol": "BTC/USDT"}, guild_id=GUILD,
                                  channel_id=CHANNEL)
    assert "needs the group's admin rights" in embed(refused)["description"]
    _, [done] = await answered(server, ALICE, "watch", {"symbol": "BTC/USDT"}, guild_id=GUILD, channel_id=CHANNEL)
    assert embed(done)["description"].startswith("Watching BTC/USDT 1h")
    assert [w.symbol for w in await bot.storage.watches.for_chat("discord", str(CHANNEL))] == ["BTC/USDT"]
