"""Issue 4 end to end on Telegram: subscribe, a monitoring cycle, the alert delivered through the outbox,
with a flood wait on one chat and a chat that blocked the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import jobs_running, open_core
from bot.core.service import TipsterCore
from bot.settings import Settings
from bot.telegram.runner import telegram_running
from storage.alerts import AlertRepository
from tests.support.bot_api_server import FakeBotApi
from tests.telegram.test_e2e import TOKEN

ADMIN = 500
OWNER, FLOODED, BLOCKED = 41, 42, 43


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[tuple[FakeBotApi, TipsterCore]]:
    async with FakeBotApi(token=TOKEN) as api:
        settings = settings.model_copy(update={
            "admins": [f"telegram:{ADMIN}"],
            "cache": settings.cache.model_copy(update={"market_ttl": 0}),
            "telegram": settings.telegram.model_copy(update={"token": TOKEN, "base_url": api.base_url}),
        })
        async with open_core(settings) as core, jobs_running(core), telegram_running(core):
            yield api, core
        assert api.errors == []


async def test_subscribe_cycle_alert_with_flood_wait_and_blocked_chat(running):
    api, core = running
    for chat in (ADMIN, OWNER, FLOODED, BLOCKED):
        api.send_text(chat, chat, "/start")
        await api.wait_for_messages(chat, 1)
    for chat in (FLOODED, BLOCKED):
        api.send_text(chat, chat, "/subscribe BTC/USDT")
        reply = (await api.wait_for_messages(chat, 2))[1]
        assert "BTC/USDT" in reply.text

    # A BUY tip whose threshold sits just under its fused score: any drop turns it HOLD.
    api.send_text(OWNER, OWNER, "/signal BTC/USDT 1h")
    await api.wait_for_messages(OWNER, 2)
    fused = (await core.storage.signals.get(1)).fused_score
    await core.storage.signals.set_status(1, "dismissed", "dismissed", "probe")
    api.send_text(OWNER, OWNER, f"/signal BTC/USDT 1h buy={round(fused - 0.0005, 4)} sell=-1")
    card = (await api.wait_for_messages(OWNER, 3))[2]
    assert "BUY BTC/USDT" in card.text

    api.fail_next("sendMessage", FLOODED, status=429, retry_after=0.3)
    api.block_chat(BLOCKED)
    replay = core.services.market.inner
    changed = False
    for _ in range(48):
        api.send_text(ADMIN, ADMIN, "/monitor now")
        done = await api.wait_for(lambda r: r.chat_id == ADMIN and "Cycle done" in (r.text or ""), since=len(api.sent))
        if " 0 changed" not in done.text:
            changed = True
            break
        replay.advance(3600)
    assert changed

    owner_alert = await api.wait_for(lambda r: r.chat_id == OWNER and "changed: BUY → HOLD" in (r.text or ""))
    assert "Tip #2" in owner_alert.text
    flooded = await api.wait_for(lambda r: r.chat_id == FLOODED and "BUY → HOLD" in (r.text or ""), timeout=15)
    assert flooded.method == "sendMessage"
    assert any(rej.chat_id == FLOODED for rej in api.rejected)  # the 429 happened, then the retry went through

    alerts = AlertRepository(core.storage.db)

    async def settled() -> bool:
        rows = await alerts.for_chat("telegram", str(BLOCKED))
        return bool(rows) and all(r.status == "dropped" for r in rows)

    import asyncio

    for _ in range(100):
        if await settled():
            break
        await asyncio.sleep(0.05)
    assert await settled()
    assert await core.storage.chats.is_blocked("telegram", str(BLOCKED))
    # The blocked chat is no longer a subscriber; everything else was delivered.
    assert ("telegram", str(BLOCKED)) not in await core.storage.subscriptions.chats_for("BTC/USDT")
    statuses = {r.status for chat in (OWNER, FLOODED) for r in await alerts.for_chat("telegram", str(chat))}
    assert statuses == {"sent"}

    # /start from the blocked user's chat resumes delivery.
    api.unblock_chat(BLOCKED)
    api.send_text(BLOCKED, BLOCKED, "/start")
    await api.wait_for(lambda r: r.chat_id == BLOCKED and "Welcome" in (r.text or ""), since=len(api.sent) - 1)
    assert not await core.storage.chats.is_blocked("telegram", str(BLOCKED))
