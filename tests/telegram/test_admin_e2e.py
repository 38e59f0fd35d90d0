"""Issue 3 end to end on Telegram: approval by button, role refusals, group admin rights checked live."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import open_core
from bot.settings import Settings
from bot.telegram.runner import telegram_running
from tests.support.bot_api_server import FakeBotApi
from tests.telegram.test_e2e import TOKEN, buttons

ADMIN = 500


@pytest.fixture
async def bot(settings: Settings) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as api:
        settings = settings.model_copy(update={
            "admins": [f"telegram:{ADMIN}"],
            "access": settings.access.model_copy(update={"mode": "approval"}),
            "telegram": settings.telegram.model_copy(update={"token": TOKEN, "base_url": api.base_url}),
        })
        async with open_core(settings) as core, telegram_running(core):
            yield api
        assert api.errors == []


async def test_pending_user_approved_by_admin_button(bot: FakeBotApi):
    api = bot
    api.send_text(ADMIN, ADMIN, "/start")
    await api.wait_for_messages(ADMIN, 1)

    api.send_text(77, 77, "/start", username="newbie")
    welcome = (await api.wait_for_messages(77, 1))[0]
    assert "waiting for an admin" in welcome.text
    api.send_text(77, 77, "/signal BTC/USDT 1h")
    refused = (await api.wait_for_messages(77, 2))[1]
    assert "waiting for an admin" in refused.text

    # The admin got the approval request through the outbox, with buttons.
    request = await api.wait_for(lambda r: r.chat_id == ADMIN and "waiting for approval" in (r.text or ""))
    keys = buttons(request)
    assert {"Approve 30 days", "Approve 90 days", "Approve …", "Reject"} <= set(keys)

    # The newbie cannot press the admin's button, even with its genuine data.
    qid = api.press_button(77, 77, request.message_id, keys["Approve 30 days"], strict=False)
    assert "waiting for an admin" in ((await api.wait_for_callback_answer(qid)).text or "")

    qid = api.press_button(ADMIN, ADMIN, request.message_id, keys["Approve 30 days"])
    assert (await api.wait_for_callback_answer(qid)).text == "Approved"
    told = await api.wait_for(lambda r: r.chat_id == 77 and "Access approved" in (r.text or ""))
    assert "30 days" in told.text

    api.send_text(77, 77, "/signal BTC/USDT 1h")
    card = await api.wait_for(lambda r: r.chat_id == 77 and "BTC/USDT · 1h" in (r.text or ""))
    assert "Not financial advice" in card.text


async def test_viewer_cannot_grant_and_group_settings_need_chat_admin(bot: FakeBotApi):
    api = bot
    api.send_text(ADMIN, ADMIN, "/start")
    await api.wait_for_messages(ADMIN, 1)
    api.send_text(88, 88, "/start")
    await api.wait_for_messages(88, 1)
    api.send_text(ADMIN, ADMIN, "/grant 88 viewer")
    await api.wait_for(lambda r: r.chat_id == ADMIN and "is now viewer" in (r.text or ""))

    api.send_text(88, 88, "/grant 88 admin")
    refusal = await api.wait_for(lambda r: r.chat_id == 88 and "admins only" in (r.text or ""))
    assert "/grant" in refusal.text
    api.send_text(ADMIN, ADMIN, "/activity telegram:88")
    audit = await api.wait_for(lambda r: r.chat_id == ADMIN and "Audit log" in (r.text or ""))
    assert "/grant · refused" in audit.text

    # In a group, a member who is not the group's admin cannot change its timezone; an admin can.
    group = -2001
    api.send_text(group, 88, "/settings tz=Europe/Paris", chat_type="group")
    no = await api.wait_for(lambda r: r.chat_id == group)
    assert "group's admin rights" in no.text
    api.set_chat_member(group, 88, "administrator")
    api.send_text(group, 88, "/settings tz=Europe/Paris", chat_type="group")
    yes = (await api.wait_for_messages(group, 2))[1]
    assert "timezone is now Europe/Paris" in yes.text
    assert any(m == "getChatMember" for m, _ in api.calls)
