"""Proves FakeBotApi is a faithful enough Bot API for a REAL python-telegram-bot Application.

Why: the end-to-end tests trust this fake; if PTB could not poll it, dispatch commands from it or
map its errors to the right exceptions, every test built on it would prove nothing.  Each test here
goes through PTB's real HTTP stack (httpx → loopback → aiohttp).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator

import pytest
from telegram import (
    BotCommand,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.support.bot_api_server import FakeBotApi

TOKEN = "123:ABC"
ALICE = 1001
GROUP = -1001234567890


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotApi]:
    """A running server per test, so records never leak between tests."""
    async with FakeBotApi(token=TOKEN) as api:
        yield api
        assert api.errors == [], "the fake itself failed while handling a request"


def build_app(api: FakeBotApi, token: str = TOKEN) -> Application:
    """The same builder call the bot uses, pointed at the fake."""
    return Application.builder().token(token).base_url(api.base_url).build()


async def test_command_button_and_edit_roundtrip_with_polling(fake_api: FakeBotApi) -> None:
    """/start → keyboard → press → answer + edit, all through PTB's Updater and dispatcher."""
    app = build_app(fake_api)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("BTC", callback_data="tip:BTC")]])
        await update.effective_message.reply_text("Pick a market", reply_markup=keyboard)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None and query.message is not None
        # PTB hands the handler the original bot message carried by the callback query.
        assert query.message.text == "Pick a market"
        await query.answer("Loading BTC")
        await query.edit_message_text(f"Tip for {query.data.removeprefix('tip:')}: HOLD")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_button))

    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            fake_api.send_text(ALICE, ALICE, "/start", username="alice")
            [reply] = await fake_api.wait_for_messages(ALICE, 1, timeout=5)
            assert reply.text == "Pick a market"
            assert reply.callback_data == ["tip:BTC"]

            query_id = fake_api.press_button(ALICE, ALICE, reply.message_id or 0, "tip:BTC")
            answer = await fake_api.wait_for_callback_answer(query_id, timeout=5)
            assert answer.text == "Loading BTC" and not answer.show_alert
            edit = await fake_api.wait_for(lambda r: r.method == "editMessageText", timeout=5)
            assert edit.text == "Tip for BTC: HOLD" and edit.message_id == reply.message_id
            # Editing text without reply_markup drops the keyboard, as on Telegram.
            assert "reply_markup" not in fake_api.message(ALICE, reply.message_id or 0)

            # In groups a command addressed to another bot must not fire; ours must.
            fake_api.send_text(GROUP, ALICE, "/start@other_bot")
            fake_api.send_text(GROUP, ALICE, "/start@tipster_test_bot now")
            [group_reply] = await fake_api.wait_for_messages(GROUP, 1, timeout=5)
            assert group_reply.text == "Pick a market"
        finally:
            await app.updater.stop()
            await app.stop()

    # Updater.stop() polls once more with the last offset, which confirms every fetched update.
    assert fake_api.pending_updates == []
    methods = [method for method, _ in fake_api.calls]
    assert methods[:2] == ["getMe", "deleteWebhook"]
    assert len(fake_api.messages_to(GROUP)) == 1


async def test_errors_surface_as_ptb_exceptions(
    fake_api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """429 → RetryAfter(retry_after), 403 → Forbidden, 400 → BadRequest; a scripted failure is one-shot."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as timedelta, no deprecation
    async with build_app(fake_api) as app:
        fake_api.fail_next("sendMessage", ALICE, status=429, retry_after=7)
        with pytest.raises(RetryAfter) as flood:
            await app.bot.send_message(ALICE, "first")
        assert flood.value.retry_after == dtm.timedelta(seconds=7)
        await app.bot.send_message(ALICE, "second")  # the failure was consumed

        fake_api.fail_next("sendMessage", status=403)
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await app.bot.send_message(ALICE, "third")

        fake_api.fail_next("sendMessage", 999, status=400)
        await app.bot.send_message(ALICE, "fourth")  # chat-specific failure does not hit other chats
        with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
            await app.bot.send_message(999, "fifth")

        fake_api.block_chat(ALICE)
        for _ in range(2):
            with pytest.raises(Forbidden):
                await app.bot.send_message(ALICE, "blocked")
        fake_api.block_chat(GROUP)
        with pytest.raises(Forbidden, match="kicked"):
            await app.bot.send_message(GROUP, "blocked too")

        with pytest.raises(EndPointNotFound):
            await app.bot.do_api_request("definitelyNotAMethod")

    assert [r.text for r in fake_api.messages_to(ALICE)] == ["second", "fourth"]
    assert [r.status for r in fake_api.rejected if r.chat_id == ALICE] == [429, 403, 403, 403]
    assert len(fake_api.send_times(ALICE, include_rejected=True)) == 6


async def test_wrong_token_is_invalid_token(fake_api: FakeBotApi) -> None:
    """A token the server does not know fails at initialize(), as against Telegram.

    PTB quirk: Application.shutdown() is a no-op when initialize() failed, so the bot's HTTP
    connections stay open (ResourceWarning) unless ``bot.shutdown()`` is called explicitly.
    """
    app = build_app(fake_api, token="123:WRONG")
    try:
        with pytest.raises(InvalidToken):
            async with app:
                pass
    finally:
        await app.bot.shutdown()


async def test_telegram_validation_rules(fake_api: FakeBotApi) -> None:
    """Mistakes Telegram rejects are rejected here too, so they are caught before production.

    PTB strips "Bad Request: " and re-capitalises the description, hence case-insensitive matches.
    """
    async with build_app(fake_api) as app:
        bot = app.bot
        with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "br"'):
            await bot.send_message(ALICE, "line<br>line", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)can't find end of the tag"):
            await bot.send_message(ALICE, "RSI < 30", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)reserved"):
            await bot.send_message(ALICE, "BTC up 1.5%", parse_mode="MarkdownV2")
        with pytest.raises(BadRequest, match=r"(?i)too long"):
            await bot.send_message(ALICE, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)Button_data_invalid"):
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
            await bot.send_message(ALICE, "too much data", reply_markup=markup)

        ok = await bot.send_message(ALICE, "<b>BTC</b> RSI &lt; 30", parse_mode="HTML")
        assert ok.text == "BTC RSI < 30"  # Telegram returns the visible text
        assert fake_api.messages_to(ALICE)[-1].text == "<b>BTC</b> RSI &lt; 30"  # records keep the raw
        await bot.send_message(ALICE, r"*BTC* up 1\.5%", parse_mode="MarkdownV2")
        with pytest.raises(BadRequest, match=r"(?i)Message is not modified"):
            await bot.edit_message_text("<b>BTC</b> RSI &lt; 30", ALICE, ok.message_id, parse_mode="HTML")

        fake_api.send_text(ALICE, ALICE, "hello")
        query_id = fake_api.press_button(ALICE, ALICE, 1, "stale", strict=False)
        await bot.answer_callback_query(query_id)
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query(query_id)


async def test_photo_commands_and_chat_members(fake_api: FakeBotApi) -> None:
    """Multipart uploads, command menus and member lookups parse into PTB's own objects."""
    async with build_app(fake_api) as app:
        bot = app.bot
        png = b"\x89PNG\r\n\x1a\n" + bytes(2000)
        sent = await bot.send_photo(ALICE, photo=png, caption="BTC 4h chart")
        assert sent.photo and sent.caption == "BTC 4h chart"
        record = fake_api.messages_to(ALICE)[-1]
        assert (record.method, record.photo_size, record.caption) == ("sendPhoto", len(png), "BTC 4h chart")

        await bot.set_my_commands([BotCommand("tip", "Get a tip"), BotCommand("help", "How to use")])
        assert [c.command for c in await bot.get_my_commands()] == ["tip", "help"]
        assert fake_api.commands[0] == {"command": "tip", "description": "Get a tip"}
        with pytest.raises(BadRequest, match=r"(?i)Bot_command_invalid"):
            await bot.set_my_commands([BotCommand("Tip", "Uppercase is rejected by Telegram")])

        fake_api.set_chat_member(GROUP, ALICE, "administrator")
        assert isinstance(await bot.get_chat_member(GROUP, ALICE), ChatMemberAdministrator)
        assert isinstance(await bot.get_chat_member(GROUP, 2002), ChatMemberMember)
        chat = await bot.get_chat(GROUP)
        assert chat.type == "supergroup"
        assert await bot.send_chat_action(ALICE, "typing")


async def test_get_updates_long_polls_and_confirms_with_offset() -> None:
    """getUpdates waits for updates instead of spinning, and forgets them only once confirmed."""
    async with FakeBotApi(token=TOKEN, max_poll_wait=0.3) as api, build_app(api) as app:
        bot = app.bot
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await bot.get_updates(timeout=5) == ()  # capped at max_poll_wait
        assert 0.25 <= loop.time() - started < 2

        calls_before = len(api.calls)
        poll = asyncio.create_task(bot.get_updates(timeout=5))
        await api.wait_for_call("getUpdates", since=calls_before)
        update_id = api.send_text(ALICE, ALICE, "/tip BTC")
        [update] = await asyncio.wait_for(poll, 2)
        assert update.update_id == update_id
        assert update.message is not None and update.message.text == "/tip BTC"

        # Not confirmed yet: it is delivered again; offset=id+1 confirms it.
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update_id]
        assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
        assert api.pending_updates == []


async def test_timed_out_send_is_still_delivered_and_send_times_recorded(fake_api: FakeBotApi) -> None:
    """A slow server makes PTB raise TimedOut although the message arrives — retries can duplicate."""
    async with build_app(fake_api) as app:
        fake_api.delay("sendMessage", 0.4)
        with pytest.raises(TimedOut):
            await app.bot.send_message(ALICE, "slow", read_timeout=0.1)
        [delivered] = await fake_api.wait_for_messages(ALICE, 1, timeout=2)
        assert delivered.text == "slow"

        fake_api.delay("sendMessage", None)
        for n in range(3):
            await app.bot.send_message(ALICE, f"fast {n}")
        times = fake_api.send_times(ALICE)
        assert len(times) == 4 and times == sorted(times)
        assert fake_api.max_sends_in_window(ALICE, 60.0) == 4
        assert fake_api.max_sends_in_window(ALICE, 0.0) == 0
