"""/setkeys on Telegram, through PTB against the local Bot API: the key and the secret are asked as two plain
messages, and the bot deletes both (deleteMessage) as soon as each arrives; nothing the bot sends repeats them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from bot.app import open_core
from bot.settings import Settings
from bot.telegram.runner import telegram_running
from tests.bot.test_broker_keys import KEY, SECRET, alpaca_settings
from tests.support.bot_api_server import FakeBotApi
from tests.support.fake_alpaca import FakeAlpaca
from tests.telegram.test_e2e import TOKEN

TRADER = 71
GROUP = -100_700


@pytest.fixture
async def api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeBotApi, FakeAlpaca]]:
    monkeypatch.setenv("TIPSTER_SECRET_KEY", Fernet.generate_key().decode())
    async with FakeAlpaca(key=KEY, secret=SECRET, cash=Decimal(20000)) as alpaca, FakeBotApi(token=TOKEN) as server:
        settings = alpaca_settings(settings, alpaca).model_copy(update={
            "telegram": settings.telegram.model_copy(update={"token": TOKEN, "base_url": server.base_url})})
        async with open_core(settings) as core, telegram_running(core):
            yield server, alpaca
        assert server.errors == []


async def test_setkeys_deletes_both_messages_that_carried_the_keys(api: tuple[FakeBotApi, FakeAlpaca]):
    server, alpaca = api
    server.send_text(TRADER, TRADER, "/setkeys alpaca")
    [ask] = await server.wait_for_messages(TRADER, 1)
    assert "API key" in ask.text
    server.send_text(TRADER, TRADER, KEY)
    second = (await server.wait_for_messages(TRADER, 2))[1]
    assert "Now send your Alpaca API secret" in second.text
    server.send_text(TRADER, TRADER, SECRET)
    third = (await server.wait_for_messages(TRADER, 3))[2]
    assert "Alpaca accepted the keys" in third.text and "PKUS…XY" in third.text
    assert ("GET", "/v2/account") in alpaca.requests  # checked against brokers.alpaca.base_url
    deleted = [params for method, params in server.calls if method == "deleteMessage"]
    assert len(deleted) == 2 and all(int(p["chat_id"]) == TRADER for p in deleted)
    shown = server.chat_texts(TRADER)
    assert "/setkeys alpaca" in shown  # the command stays; the two secrets are gone
    assert not any(KEY in text or SECRET in text for text in shown)
    assert not any(KEY in (r.text or "") or SECRET in (r.text or "") for r in server.sent)


async def test_setkeys_in_a_group_says_to_dm_and_deletes_nothing(api: tuple[FakeBotApi, FakeAlpaca]):
    server, _ = api
    server.send_text(GROUP, TRADER, "/setkeys alpaca")
    [refused] = await server.wait_for_messages(GROUP, 1)
    assert "private chat" in refused.text and "\n" not in refused.text
    server.send_text(GROUP, TRADER, KEY)  # typed in the group anyway: not taken as a key, no reply
    server.send_text(GROUP, TRADER, "/keys")
    listing = (await server.wait_for_messages(GROUP, 2))[1]
    assert "private chat" in listing.text  # not even masked keys in a group
    assert not [params for method, params in server.calls if method == "deleteMessage"]
