"""/chart and the card's [📈 Chart] on Telegram: a real PTB Application against the local Bot API server, which
receives the PNG as a multipart upload to sendPhoto."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator

import pytest

from bot.app import open_core
from bot.settings import Settings
from bot.telegram.runner import telegram_running
from tests.support.bot_api_server import FakeBotApi, UploadedFile

TOKEN = "123456:CHART-token-abcdefghijklmnopqrstu"


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as server:
        settings = settings.model_copy(update={"telegram": settings.telegram.model_copy(
            update={"token": TOKEN, "base_url": server.base_url})})
        async with open_core(settings) as core, telegram_running(core):
            yield server
        assert server.errors == []


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_chart_is_a_photo_with_its_caption(api: FakeBotApi) -> None:
    api.send_text(42, 42, "/chart BTC/USDT 1h")
    [photo] = await api.wait_for_messages(42, 1, timeout=30)
    assert photo.method == "sendPhoto"
    upload = photo.params["photo"]
    assert isinstance(upload, UploadedFile)  # sent as a file, multipart, not as a URL or file id
    assert upload.filename is not None and upload.filename.startswith("BTC-USDT-1h-")
    assert png_size(upload.data) == (1200, 900) and photo.photo_size == upload.size
    assert photo.parse_mode == "HTML"
    assert photo.caption.startswith("<b>📈 BTC/USDT · 1h chart · DEMO</b>\n120 bars, ")
    assert "Source: replay of Binance spot candles (2024) · DEMO" in photo.caption

    api.send_text(42, 42, "/chart BTC/USDT 2h")
    bad = (await api.wait_for_messages(42, 2))[1]
    assert bad.method == "sendMessage"
    assert bad.text == "Unknown timeframe '2h'; use one of 15m, 1h, 4h, 1d.\nUsage: /chart SYMBOL [TIMEFRAME]"
    api.send_text(42, 42, "/chart DOGE/USDT")
    bad = (await api.wait_for_messages(42, 3))[2]
    assert bad.method == "sendMessage" and bad.text.startswith("Unknown symbol DOGE/USDT. Available: ")
    assert api.rejected == []


async def test_the_chart_button_sends_the_tips_chart_and_keeps_the_card(api: FakeBotApi) -> None:
    api.send_text(7, 7, "/signal ETH/USDT 1h buy=-0.99 sell=-1")
    [card] = await api.wait_for_messages(7, 1, timeout=30)
    keys = {b["text"]: b["callback_data"] for b in card.buttons}
    assert all(len(row) <= 3 for row in card.reply_markup["inline_keyboard"])
    qid = api.press_button(7, 7, card.message_id, keys["📈 Chart"])
    answer = await api.wait_for_callback_answer(qid, timeout=30)
    assert answer.text == "Chart"
    photo = (await api.wait_for_messages(7, 2, timeout=30))[1]
    assert photo.method == "sendPhoto" and photo.params["photo"].filename.startswith("tip-1-ETH-USDT-1h-")
    assert "Tip #1 🟢 BUY: entry " in photo.caption and " · SL " in photo.caption and " · TP " in photo.caption
    assert api.edits_in(7) == []  # the card stays as it was: a photo is a new message


async def test_a_caption_too_long_for_a_photo_follows_it_as_messages(settings: Settings) -> None:
    from types import SimpleNamespace

    from bot.core.replies import Button, Image, Reply
    from bot.telegram.handlers import send_replies

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    text = "\n".join(f"line {i} " + "x" * 40 for i in range(60))  # ~2,900 characters: over the 1,024 of a caption
    reply = Reply(title="📈 Long", text=text, image=Image(png=png, filename="long.png"),
                  buttons=[[Button(label="OK", data="x")]])
    async with FakeBotApi(token=TOKEN) as server:
        settings = settings.model_copy(update={"telegram": settings.telegram.model_copy(
            update={"token": TOKEN, "base_url": server.base_url})})
        async with open_core(settings) as core, telegram_running(core) as app:
            await send_replies(SimpleNamespace(bot=app.bot), 5, [reply])  # type: ignore[arg-type]
        photo, message = server.messages_to(5)
        assert server.rejected == []
    assert photo.method == "sendPhoto" and photo.caption == "<b>📈 Long</b>" and photo.reply_markup is None
    assert message.method == "sendMessage" and message.text == text  # all of it, nothing cut
    assert [b["text"] for b in message.buttons] == ["OK"]  # the buttons go with the last message
