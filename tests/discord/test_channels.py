"""discord.channels: what each configured channel gets, checked on the alerts the core queues for it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.jobs.summary import DailySummary
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.discord.channels import apply_channels
from bot.settings import DiscordChannels
from tests.conftest import user_ctx

ALERTS, SIGNALS, ADMIN, SUMMARY = "101", "102", "103", "104"


async def queued(core: TipsterCore, chat_id: str) -> list[str]:
    return [f"{a.kind}:{a.payload.get('title') or a.payload.get('text')}"
            for a in await core.storage.alerts.for_chat("discord", chat_id)]


async def configured(core: TipsterCore) -> None:
    await apply_channels(core, DiscordChannels(alerts=int(ALERTS), signals=int(SIGNALS), admin=int(ADMIN),
                                               summary=int(SUMMARY)))


async def test_the_alerts_channel_follows_every_symbol(core: TipsterCore):
    await configured(core)
    assert await core.storage.subscriptions.for_chat("discord", ALERTS) == ["*"]
    await configured(core)  # a restart applies it again: still one subscription
    assert await core.storage.subscriptions.for_chat("discord", ALERTS) == ["*"]


async def test_scan_tips_are_copied_to_the_signals_channel_once(core: TipsterCore):
    await configured(core)
    card = Reply(title="🟢 BUY ETH/USDT · 1h", text="…")
    await core.notify_chat("telegram", "555", card, "scan", dedupe_key="scan:1")
    await core.notify_chat("telegram", "555", card, "scan", dedupe_key="scan:1")  # the same scan alert again
    await core.notify_chat("telegram", "555", Reply(text="BUY → HOLD"), "status_change")  # not a scan tip
    assert await queued(core, SIGNALS) == ["scan:🟢 BUY ETH/USDT · 1h"]
    assert len(await core.storage.alerts.for_chat("telegram", "555")) == 2


async def test_admin_alerts_reach_the_admin_channel_once_besides_each_admin(core: TipsterCore):
    core.settings.admins.extend(["console:1", "console:2"])
    for n in (1, 2):
        await core.handle_text(user_ctx(n), "/start")
    await configured(core)
    await core.notify_admins(Reply(title="⚠️ Data source refused our credentials", text="…"), "admin_alert")
    assert await queued(core, ADMIN) == ["admin_alert:⚠️ Data source refused our credentials"]
    for n in ("1", "2"):
        assert len(await core.storage.alerts.for_chat("console", n)) == 1


async def test_the_summary_channel_sums_up_every_chat(core: TipsterCore):
    await configured(core)
    for n in (1, 2):
        await core.handle_text(user_ctx(n), "/signal BTC/USDT 1h")
        await core.handle_text(user_ctx(n), "/signal SPY 1d")
    now = datetime.now(UTC)
    # Past the summary time (21:00 UTC by default) on the day of the tips: every due chat gets one.
    due = now.replace(hour=23, minute=0) if now.hour < 23 else now  # later today: the tips are in its window
    assert await DailySummary(core).run(due) >= 3  # two private chats and the channel
    [summary] = await core.storage.alerts.for_chat("discord", SUMMARY)
    assert summary.payload["title"].endswith(" · all chats")
    assert "Tips in the last 24 h: 4 (" in summary.payload["text"]
    assert "Watching" not in summary.payload["text"]  # the channel follows nothing itself
    [own] = await core.storage.alerts.for_chat("console", "1")
    assert "Tips in the last 24 h: 2 (" in own.payload["text"]
