"""Hostile input through a real python-telegram-bot Application and the local Bot API server: commands
addressed to another bot, a reply that would print a 30-million-digit target, non-ASCII button data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import open_core
from bot.settings import Settings
from bot.telegram.runner import telegram_running
from tests.support.bot_api_server import FakeBotApi

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstu"
GROUP = -100777


@pytest.fixture
async def bot(settings: Settings) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as api:
        settings = settings.model_copy(update={"telegram": settings.telegram.model_copy(
            update={"token": TOKEN, "base_url": api.base_url})})
        async with open_core(settings) as core, telegram_running(core):
            yield api
        assert api.errors == []


async def _handled(api: FakeBotApi, update_id: int) -> None:
    """The update was fetched and its handler had time to answer (it needs no I/O to decide to stay quiet)."""
    await api.wait_update_fetched(update_id)
    await asyncio.sleep(0.3)


async def test_a_command_for_another_bot_is_ignored_in_a_group(bot: FakeBotApi) -> None:
    api = bot
    for text in ("/start@otherbot", "/help@OtherBot", "/signal@other_bot BTC/USDT 1h"):
        await _handled(api, api.send_text(GROUP, 42, text, chat_type="group"))
    assert api.messages_to(GROUP) == []
    # Our own name (any case) and no name at all are ours.
    api.send_text(GROUP, 42, f"/start@{api.bot_username.upper()}", chat_type="group")
    welcome = (await api.wait_for_messages(GROUP, 1))[0]
    assert "Welcome to Tipster" in welcome.text
    api.send_text(GROUP, 42, "/help", chat_type="group")
    assert "/signal" in (await api.wait_for_messages(GROUP, 2))[1].text
    await _handled(api, api.send_text(GROUP, 42, "/start@otherbot", chat_type="group"))
    assert len(api.messages_to(GROUP)) == 2
    assert api.rejected == []


async def test_a_huge_target_is_one_short_message(bot: FakeBotApi) -> None:
    api = bot
    api.send_text(7, 7, "/open BTC/USDT long 100 tp=1e30000000")
    answer = (await api.wait_for_messages(7, 1))[0]
    assert "tp must be a price" in answer.text and len(answer.text) < 300
    api.send_text(7, 7, "/open BTC/USDT long 100 tp=" + "9" * 30)
    answer = (await api.wait_for_messages(7, 2))[1]
    assert "at most 10× the price" in answer.text
    await _handled(api, api.send_text(7, 7, "/trades ²"))
    assert len(api.messages_to(7)) == 3 and "page number" in api.messages_to(7)[2].text
    assert api.rejected == []


async def test_non_ascii_button_data_is_answered_as_invalid(bot: FakeBotApi) -> None:
    api = bot
    api.send_text(8, 8, "/signal BTC/USDT 1h")
    card = (await api.wait_for_messages(8, 1))[0]
    qid = api.press_button(8, 8, card.message_id, "rf:1:ÿÿÿÿÿÿÿÿÿÿ", strict=False)
    answer = await api.wait_for_callback_answer(qid)
    assert answer.text == "This button is not valid (forged or out of date)."
