"""/notify through the running Telegram bot (real PTB, local Bot API server): a silent kind is sent with
disable_notification, an off kind not at all, and the others as before."""

from __future__ import annotations

import pytest

from bot.core.replies import Reply
from bot.core.service import TipsterCore
from tests.support.bot_api_server import FakeBotApi
from tests.telegram.test_outbox_e2e import api, running, settled  # noqa: F401 - api and running are fixtures

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
USER = 4242


async def test_silent_and_off_kinds_as_the_bot_api_sees_them(api: FakeBotApi, running: TipsterCore):  # noqa: F811
    api.send_text(USER, USER, "/notify scans silent")
    await api.wait_for(lambda r: r.chat_id == USER and "scans is now silent in this chat." in (r.text or ""))
    api.send_text(USER, USER, "/notify summaries off")
    await api.wait_for(lambda r: r.chat_id == USER and "summaries is now off in this chat." in (r.text or ""))
    replies = len(api.messages_to(USER))

    for kind, title in (("summary", "Daily summary"), ("scan", "Watchlist: BTC/USDT"), ("status_change", "ETH")):
        await running.notify_chat("telegram", str(USER), Reply(title=title, text=kind), kind)
    await settled(running.services.outbox)

    alerts = api.messages_to(USER)[replies:]
    assert [m.text for m in alerts] == ["<b>Watchlist: BTC/USDT</b>\nscan", "<b>ETH</b>\nstatus_change"]
    assert alerts[0].params.get("disable_notification") is True
    assert not alerts[1].params.get("disable_notification")
    states = {a.kind: a.status for a in await running.services.outbox.alerts.for_chat("telegram", str(USER))}
    assert states == {"summary": "dropped", "scan": "sent", "status_change": "sent"}
