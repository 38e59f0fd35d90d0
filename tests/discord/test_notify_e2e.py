"""/notify on the real discord.py client against the local Discord: the slash command's choices, the group
rule, and the alerts the outbox then posts — a silent kind with Discord's SUPPRESS_NOTIFICATIONS flag (4096),
an off kind not at all."""

from __future__ import annotations

import pytest

from bot.core.replies import Reply
from bot.core.service import TipsterCore
from tests.discord.test_discord_e2e import (  # noqa: F401 - server and bot are fixtures
    ALERTS,
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    answered,
    bot,
    embed,
    server,
)
from tests.support.fake_discord import FakeDiscord

pytestmark = pytest.mark.slow

SUPPRESS_NOTIFICATIONS = 1 << 12  # Discord's documented message flag, 4096


async def test_notify_slash_command_and_what_the_channel_then_gets(server: FakeDiscord, bot: TipsterCore):  # noqa: F811
    options = {o["name"]: o for o in server.commands()["notify"]["options"]}
    assert [c["value"] for c in options["kind"]["choices"]] == ["status", "exits", "scans", "summaries",
                                                                "announcements"]
    assert [c["value"] for c in options["state"]["choices"]] == ["on", "silent", "off"]

    # A plain member may look but not change (Manage Server, asked live); Alice owns the guild.
    _, [listing] = await answered(server, BOB, "notify", {}, guild_id=GUILD, channel_id=ALERTS)
    assert "scans: 🔔 on" in embed(listing)["description"]
    _, [refused] = await answered(server, BOB, "notify", {"kind": "scans", "state": "silent"}, guild_id=GUILD,
                                  channel_id=ALERTS)
    assert "needs the group's admin rights" in embed(refused)["description"]
    _, [done] = await answered(server, ALICE, "notify", {"kind": "scans", "state": "silent"}, guild_id=GUILD,
                               channel_id=ALERTS)
    assert "scans is now silent in this group." in embed(done)["description"]
    await answered(server, ALICE, "notify", {"kind": "summaries", "state": "off"}, guild_id=GUILD, channel_id=ALERTS)
    before = len(server.messages.get(ALERTS, []))

    await bot.notify_chat("discord", str(ALERTS), Reply(title="Daily summary", text="nothing"), "summary")
    await bot.notify_chat("discord", str(ALERTS), Reply(title="👁 Watchlist: BTC/USDT", text="BUY"), "scan")
    await bot.notify_chat("discord", str(ALERTS), Reply(title="ETH/USDT · 1h", text="BUY → HOLD"), "status_change")
    posted = await server.wait_messages(ALERTS, before + 2)
    scan, status = posted[before:]
    assert embed(scan)["title"] == "👁 Watchlist: BTC/USDT" and scan["flags"] & SUPPRESS_NOTIFICATIONS
    assert embed(status)["title"] == "ETH/USDT · 1h" and not status["flags"] & SUPPRESS_NOTIFICATIONS
    # The summary was never posted (alerts to one chat go in order: it would have come first) …
    assert [embed(m)["title"] for m in server.messages[ALERTS][before:]] == ["👁 Watchlist: BTC/USDT",
                                                                             "ETH/USDT · 1h"]
    # … and is on record as dropped, with the reason.
    [summary] = [a for a in await bot.storage.alerts.for_chat("discord", str(ALERTS)) if a.kind == "summary"]
    assert (summary.status, summary.last_error) == ("dropped", "notifications off in this chat: summaries")
    assert CHANNEL != ALERTS  # the other channel keeps its own (default) choices
    assert (await bot.storage.chats.notify_states("discord", str(CHANNEL)))["summaries"] == "on"
