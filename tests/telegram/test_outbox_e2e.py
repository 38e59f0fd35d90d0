"""Alerts through the running Telegram bot (real PTB, local Bot API server): flood waits, blocked chats,
per-chat pacing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from bot.app import open_core
from bot.core.outbox import (
    AlertOutbox,
    ChatUnreachable,
    PermanentSendError,
    RetryLater,
    TransientSendError,
)
from bot.core.replies import Button, Reply
from bot.core.service import TipsterCore
from bot.settings import Settings
from bot.telegram.outbox_sender import TelegramAlertSender, outbox_bot, retry_after_seconds
from bot.telegram.runner import telegram_running
from tests.support.bot_api_server import FakeBotApi

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstu"
A, B, C = 101, 202, -303  # C is a group

# PTB 22's own RetryAfter.__init__ reads its deprecated int `retry_after`; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as server:
        yield server


@pytest.fixture
async def running(api: FakeBotApi, settings: Settings) -> AsyncIterator[TipsterCore]:
    settings = settings.model_copy(update={"telegram": settings.telegram.model_copy(
        update={"token": TOKEN, "base_url": api.base_url})})
    async with open_core(settings) as core, telegram_running(core):
        yield core
    assert api.errors == []


async def settled(outbox: AlertOutbox, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while True:
        totals = await outbox.alerts.status_totals("telegram")
        if totals["pending"] == totals["sending"] == 0:
            return
        assert time.monotonic() < deadline, totals
        await asyncio.sleep(0.05)


async def test_flood_wait_and_blocked_chat_do_not_stall_or_lose_the_others(api: FakeBotApi,
                                                                            running: TipsterCore):
    outbox = running.services.outbox
    api.fail_next("sendMessage", A, status=429, retry_after=0.3)
    api.fail_next("sendMessage", B, status=403)  # "Forbidden: bot was blocked by the user"
    card = Reply(title="BTC/USDT <1h>", text="BUY → HOLD & co", buttons=[[Button(label="📜 History", data="h:1")]])
    start = time.monotonic()
    for i in range(3):
        for chat in (A, B, C):
            await outbox.enqueue("telegram", str(chat), card.model_copy(update={"text": f"alert {i} to {chat}"}),
                                 "status_change")
    await settled(outbox)

    # A: flood-waited once, retried, then everything delivered in order, paced.
    assert [m.text for m in api.messages_to(A)] == [f"<b>BTC/USDT &lt;1h&gt;</b>\nalert {i} to {A}" for i in range(3)]
    first_try = next(r for r in api.rejected if r.chat_id == A)
    assert first_try.status == 429
    assert api.messages_to(A)[0].timestamp - first_try.timestamp >= 0.3
    # C (a group) was not held back by A's flood wait.
    assert api.messages_to(C)[0].timestamp < api.messages_to(A)[0].timestamp
    assert len(api.messages_to(C)) == 3
    assert api.messages_to(C)[0].buttons == [{"text": "📜 History", "callback_data": "h:1"}]
    # B: blocked, nothing more tried, its queue dropped and the chat marked until /start.
    assert api.messages_to(B) == []
    assert len(api.send_times(B, include_rejected=True)) == 1
    assert await outbox.chats.is_blocked("telegram", str(B))
    assert [a.status for a in await outbox.alerts.for_chat("telegram", str(B))] == ["dropped"] * 3
    # Nothing else lost, and Telegram's 1 message/s per chat held.
    assert (await outbox.alerts.status_totals("telegram"))["sent"] == 6
    for chat in (A, C):
        assert api.max_sends_in_window(chat, 1.0) == 1, api.send_times(chat)
    assert time.monotonic() - start < 6

    # The user sends /start again (the core calls unblock_chat): alerts flow to B again.
    assert await outbox.unblock_chat("telegram", str(B))
    await outbox.enqueue("telegram", str(B), Reply(text="welcome back"), "status_change")
    assert (await api.wait_for_messages(B, 1))[0].text == "welcome back"


async def test_sender_maps_telegram_errors(api: FakeBotApi):
    bot: Bot = outbox_bot(TOKEN, api.base_url, pool_size=2)
    async with bot:
        sender = TelegramAlertSender(bot)
        reply = Reply(text="x")
        cases = [
            (dict(status=429, retry_after=2), RetryLater),
            (dict(status=403), ChatUnreachable),
            (dict(status=400), ChatUnreachable),  # "Bad Request: chat not found"
            (dict(status=400, description="Bad Request: can't parse entities"), PermanentSendError),
            (dict(status=502), TransientSendError),
            (dict(status=500), TransientSendError),
        ]
        for failure, expected in cases:
            api.fail_next("sendMessage", 9, **failure)
            with pytest.raises(expected):
                await sender.send("9", reply)
        api.fail_next("sendMessage", 9, status=429, retry_after=0.25)
        with pytest.raises(RetryLater) as flood:
            await sender.send("9", reply)
        assert flood.value.seconds == 0.25
        assert retry_after_seconds(RetryAfter(3)) == 3.0
        await sender.send("9", reply)
    assert [m.text for m in api.messages_to(9)] == ["x"]
