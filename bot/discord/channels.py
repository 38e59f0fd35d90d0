"""`discord.channels`: the channels the bot posts to besides DMs and the chats that follow things (seed 002).

- alerts: every tip status change — the channel is subscribed to all symbols, as `/subscribe all` there would,
  so the monitor queues its alerts in the same transaction as the change;
- signals: a copy of every tip the watchlist scans find;
- admin: admin alerts (users waiting for approval, data sources refusing their keys, /contact messages)
  once, besides each admin's DM; its [Approve] buttons are checked by role like any other;
- summary: the daily summary of every tip and trade (see bot.core.jobs.summary).
"""

from __future__ import annotations

from bot.core.kernel import Core
from bot.settings import DiscordChannels
from storage.follows import ALL

PLATFORM = "discord"
SCAN_KINDS = ("scan",)


async def apply_channels(core: Core, channels: DiscordChannels) -> None:
    if channels.alerts is not None:
        chat_id = str(channels.alerts)
        await core.storage.chats.upsert(PLATFORM, chat_id, "group")
        await core.storage.subscriptions.add(PLATFORM, chat_id, ALL, None)
    if channels.signals is not None:
        for kind in SCAN_KINDS:
            core.mirrors.setdefault(kind, []).append((PLATFORM, str(channels.signals)))
    if channels.admin is not None:
        core.admin_channels.append((PLATFORM, str(channels.admin)))
    if channels.summary is not None:
        await core.storage.chats.upsert(PLATFORM, str(channels.summary), "group")
        core.summary_channels.append((PLATFORM, str(channels.summary)))
