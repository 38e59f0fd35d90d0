"""A long /backtest on Telegram: a real PTB Application against the local Bot API server. The progress is one
message, edited at most once a second, with a [Cancel] button that stops the run; /cancel does the same."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from bot.app import open_core
from bot.core.service import TipsterCore
from bot.settings import Settings
from bot.telegram.runner import telegram_running
from tests.bot.test_backtest_progress import slow
from tests.support.bot_api_server import FakeBotApi

TOKEN = "123456:PROGRESS-token-abcdefghijklmnopq"
pytestmark = pytest.mark.slow


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[tuple[FakeBotApi, TipsterCore]]:
    async with FakeBotApi(token=TOKEN) as server:
        settings = settings.model_copy(update={"telegram": settings.telegram.model_copy(
            update={"token": TOKEN, "base_url": server.base_url})})
        async with open_core(settings) as core, telegram_running(core):
            yield server, core
        assert server.errors == []


async def test_progress_is_edited_then_the_cancel_button_stops_the_run(running) -> None:
    api, core = running
    slow(core, 0.05)
    api.send_text(42, 42, "/backtest BTC/USDT 1h")
    [progress] = await api.wait_for_messages(42, 1, timeout=30)
    assert progress.text.startswith("⏳ Backtest of BTC/USDT 1h: ")
    [cancel] = progress.buttons
    assert cancel["text"] == "⏹ Cancel"
    edit = await api.wait_for(lambda r: r.method == "editMessageText" and r.message_id == progress.message_id,
                              timeout=30)
    # The core paces its calls a second apart (tests/bot/test_backtest_progress.py checks that exactly); here
    # the server's clock sees them after a loaded machine's delays, so only "not every batch" is checked.
    assert edit.text.startswith("⏳ ") and edit.timestamp - progress.timestamp >= 0.5

    qid = api.press_button(42, 42, progress.message_id, cancel["callback_data"])
    answer = await api.wait_for_callback_answer(qid, timeout=30)
    assert answer.text == "Stopping your backtest of BTC/USDT…"
    messages = await api.wait_for_messages(42, 2, timeout=30)
    assert messages[1].text == "Backtest of BTC/USDT cancelled."
    final = api.message(42, progress.message_id)
    assert "cancelled after" in final["text"] and "reply_markup" not in final
    edits = [r for r in api.edits_in(42) if r.message_id == progress.message_id]
    shown = [progress.timestamp] + [r.timestamp for r in edits[:-1]]  # the last edit is the final state
    assert all(b - a >= 0.5 for a, b in itertools.pairwise(shown))


async def test_slash_cancel_stops_the_run_and_a_finished_run_reports(running) -> None:
    api, core = running
    slow(core, 0.05)
    api.send_text(7, 7, "/backtest BTC/USDT 1h")
    [progress] = await api.wait_for_messages(7, 1, timeout=30)
    assert progress.text.startswith("⏳ ")
    api.send_text(7, 7, "/cancel")  # handled while the backtest runs (concurrent updates)
    messages = await api.wait_for_messages(7, 3, timeout=30)
    assert [m.text for m in messages[1:]] == ["Stopping your backtest of BTC/USDT…", "Backtest of BTC/USDT cancelled."]

    slow(core, 0.0)
    since = len(api.sent)
    api.send_text(7, 7, "/backtest BTC/USDT 1h 30d")
    photo = await api.wait_for(lambda r: r.method == "sendPhoto" and r.chat_id == 7, timeout=60, since=since)
    assert photo.caption == "<b>🧪 Backtest BTC/USDT · 1h · DEMO</b>"  # the report follows its picture
    await api.wait_for(lambda r: r.chat_id == 7 and "Hit rate: " in (r.text or ""), timeout=30, since=since)
