"""Issue 5 end to end on Telegram: /signal → [Open position] → [$500] → [Confirm] → the replay runs on →
take-profit exit alert → /pnl, with the real Application, scheduler and outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import jobs_running, open_core
from bot.settings import Settings
from bot.telegram.runner import telegram_running
from tests.support.bot_api_server import FakeBotApi
from tests.telegram.test_e2e import TOKEN, buttons

TRADER, VIEWER = 61, 62


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as server:
        settings = settings.model_copy(update={
            # A moment of the bundled data where a forced BUY reaches its take-profit first (see the console
            # test); 1800x replay and a 1 s position check get there in seconds.
            "market": settings.market.model_copy(update={"replay": settings.market.replay.model_copy(
                update={"start": "2024-08-23T12:00:00Z", "speed": 1800})}),
            "monitor": settings.monitor.model_copy(update={"positions_interval": 1}),
            "telegram": settings.telegram.model_copy(update={"token": TOKEN, "base_url": server.base_url}),
        })
        async with open_core(settings) as core, jobs_running(core), telegram_running(core):
            await core.ensure_user(core_ctx(VIEWER))
            viewer = await core.storage.users.by_identity(f"telegram:{VIEWER}")
            await core.storage.user_admin.set_access(viewer.id, role="viewer")
            yield server
        assert server.errors == []


def core_ctx(uid: int):
    from bot.core.context import ChatContext

    return ChatContext(platform="telegram", user_id=str(uid), chat_id=str(uid))


async def test_open_take_profit_and_pnl(api: FakeBotApi):
    api.send_text(TRADER, TRADER, "/signal BTC/USDT 1h buy=-0.9 sell=-1")
    card = (await api.wait_for_messages(TRADER, 1))[0]
    keys = buttons(card)
    assert "💰 Open position" in keys

    qid = api.press_button(TRADER, TRADER, card.message_id, keys["💰 Open position"])
    await api.wait_for_callback_answer(qid)
    sizes = (await api.wait_for_messages(TRADER, 2))[1]
    qid = api.press_button(TRADER, TRADER, sizes.message_id, buttons(sizes)["$500"])
    await api.wait_for_callback_answer(qid)
    confirm = await api.wait_for(lambda r: r.method == "editMessageText" and "Open this position?" in (r.text or ""))
    assert "✔ cash" in confirm.text
    qid = api.press_button(TRADER, TRADER, confirm.message_id, buttons(confirm)["Confirm"])
    assert "opened" in ((await api.wait_for_callback_answer(qid)).text or "")
    # The fill is told once: in the confirmation's message, edited, not again as a separate alert.
    await api.wait_for(lambda r: r.method == "editMessageText" and "Position #1 opened" in (r.text or ""))
    exit_alert = await api.wait_for(lambda r: r.chat_id == TRADER and "Closed #1 BTC/USDT (take profit)"
                                    in (r.text or ""), timeout=30)
    assert "PnL +" in exit_alert.text
    # Alerts to a chat go out in order, so a fill alert would have come before the exit's.
    assert not any("✅ Filled" in (r.text or "") for r in api.sent)

    api.send_text(TRADER, TRADER, "/pnl")
    pnl = await api.wait_for(lambda r: r.chat_id == TRADER and "Performance" in (r.text or ""))
    assert "Trades 1 · win rate 100%" in pnl.text and "take_profit 1" in pnl.text


async def test_viewer_sees_no_open_button_and_cannot_open(api: FakeBotApi):
    api.send_text(VIEWER, VIEWER, "/signal BTC/USDT 1h buy=-0.9 sell=-1")
    card = (await api.wait_for_messages(VIEWER, 1))[0]
    assert "💰 Open position" not in buttons(card)
    api.send_text(VIEWER, VIEWER, "/open BTC/USDT long 100")
    refusal = (await api.wait_for_messages(VIEWER, 2))[1]
    assert "does not allow" in refusal.text
