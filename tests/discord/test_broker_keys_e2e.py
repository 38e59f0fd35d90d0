"""/setkeys on Discord, the real discord.py client against the local Discord: the key and the secret are typed
into a two-field form (a modal), never into a message; the bot never shows them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from bot.app import open_core
from bot.core.service import TipsterCore
from bot.discord.runner import discord_running
from bot.settings import Settings
from tests.bot.test_broker_keys import KEY, SECRET, alpaca_settings, assert_nowhere
from tests.discord.test_discord_e2e import BOB, CHANNEL, GUILD, answered, custom_ids, discord_settings, embed, server
from tests.support.fake_alpaca import FakeAlpaca
from tests.support.fake_discord import FakeDiscord

pytestmark = pytest.mark.slow
__all__ = ["server"]  # the fixture, imported for its name


@pytest.fixture
async def keyed(server: FakeDiscord, settings: Settings, monkeypatch: pytest.MonkeyPatch
                ) -> AsyncIterator[tuple[TipsterCore, FakeAlpaca]]:
    monkeypatch.setenv("TIPSTER_SECRET_KEY", Fernet.generate_key().decode())
    async with FakeAlpaca(key=KEY, secret=SECRET, cash=Decimal(20000)) as alpaca:
        configured = alpaca_settings(discord_settings(settings, server), alpaca)
        async with open_core(configured) as core, discord_running(core, guild_ready_timeout=0.05):
            yield core, alpaca


async def test_setkeys_takes_both_keys_in_a_form(server: FakeDiscord, keyed: tuple[TipsterCore, FakeAlpaca],
                                                 settings: Settings):
    core, alpaca = keyed
    _, [ask] = await answered(server, BOB, "setkeys", {"broker": "alpaca"})  # in Bob's DM with the bot
    assert "API key" in embed(ask)["description"]
    ids = custom_ids(ask)
    assert "🔑 Enter keys" in ids
    form = await server.press_button(BOB, int(ask["id"]), ids["🔑 Enter keys"])
    shown = await server.wait_response(form)
    assert shown.response_type == 9  # the form is the press's first and only answer
    inputs = [c for row in shown.response["data"]["components"] for c in row.get("components", [row.get("component")])
              if c]
    assert [c["label"] for c in inputs] == ["API key", "API secret"]
    answer = await server.submit_modal(BOB, "tipster:secrets", {"secret0": KEY, "secret1": SECRET})
    await server.wait_response(answer, followups=1)
    [done] = answer.followups
    assert "Alpaca accepted the keys" in embed(done)["description"] and "PKUS…XY" in embed(done)["description"]
    user = await core.storage.users.by_identity(f"discord:{BOB}")
    assert user is not None and await core.storage.broker_keys.get(user.id, "alpaca") is not None
    assert ("GET", "/v2/account") in alpaca.requests  # the pair was checked with the broker
    # Nothing the bot posted anywhere carries them, and the database files hold no byte of them.
    answers = [(r.response, r.followups) for r in server.interactions.values()]
    everything = json.dumps(server.messages) + json.dumps(answers)
    assert KEY not in everything and SECRET not in everything
    assert_nowhere(settings, KEY, SECRET)


async def test_setkeys_in_a_guild_channel_says_to_dm(server: FakeDiscord, keyed: tuple[TipsterCore, FakeAlpaca]):
    _, [refused] = await answered(server, BOB, "setkeys", {"broker": "alpaca"}, guild_id=GUILD, channel_id=CHANNEL)
    assert "private chat" in embed(refused)["description"]
    assert "🔑 Enter keys" not in (custom_ids(refused) if refused.get("components") else {})


async def test_a_form_whose_key_is_not_a_key_stops_there(server: FakeDiscord, keyed: tuple[TipsterCore, FakeAlpaca]):
    core, alpaca = keyed
    _, [ask] = await answered(server, BOB, "setkeys", {"broker": "alpaca"})
    form = await server.press_button(BOB, int(ask["id"]), custom_ids(ask)["🔑 Enter keys"])
    await server.wait_response(form)
    answer = await server.submit_modal(BOB, "tipster:secrets", {"secret0": "two words", "secret1": SECRET})
    await server.wait_response(answer, followups=1)
    [done] = answer.followups
    # The key was refused, so the secret was not taken as the key: the flow still waits for a key.
    assert "not a key" in embed(done)["description"]
    user = await core.storage.users.by_identity(f"discord:{BOB}")
    assert user is not None
    [flow] = await core.storage.db.fetchall("SELECT kind, state_json FROM flows WHERE user_id = ?", (user.id,))
    assert flow["kind"] == "setkeys" and "key" not in json.loads(flow["state_json"])
    assert ("GET", "/v2/account") not in alpaca.requests
