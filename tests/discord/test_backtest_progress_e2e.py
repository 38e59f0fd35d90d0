"""A long /backtest on Discord: the real discord.py client against the local Discord. The progress is one
follow-up, edited at most once a second, with a [Cancel] button only its starter can use."""

from __future__ import annotations

import pytest

from bot.core.service import TipsterCore
from tests.bot.test_backtest_progress import slow
from tests.discord.test_discord_e2e import (  # noqa: F401 - server and bot are fixtures
    BOB,
    CAROL,
    CHANNEL,
    GUILD,
    bot,
    custom_ids,
    embed,
    server,
)
from tests.support.fake_discord import FakeDiscord

pytestmark = pytest.mark.slow


async def test_progress_is_edited_and_cancel_is_for_its_starter(server: FakeDiscord, bot: TipsterCore) -> None:  # noqa: F811
    slow(bot, 0.05)
    ix = await server.send_slash(BOB, "backtest", {"symbol": "BTC/USDT", "timeframe": "1h"}, guild_id=GUILD,
                                 channel_id=CHANNEL)
    done = await server.wait_response(ix, followups=1, timeout=30)
    assert done.response_type == 5
    [progress] = done.followups
    assert embed(progress)["description"].startswith("⏳ Backtest of BTC/USDT 1h: ")
    cancel = custom_ids(progress)["⏹ Cancel"]
    await server.wait_until(lambda: ix.edits or None, timeout=30, what="a progress edit")
    assert embed(ix.edits[0])["description"].startswith("⏳ ")

    stranger = await server.press_button(CAROL, int(progress["id"]), cancel)
    await server.wait_response(stranger, followups=1, timeout=30)
    assert embed(stranger.followups[0])["description"] == "Only the one who started this backtest can cancel it."
    assert len(ix.followups) == 1  # still running

    press = await server.press_button(BOB, int(progress["id"]), cancel)
    await server.wait_response(press, followups=1, timeout=30)
    assert embed(press.followups[0])["description"] == "Stopping your backtest of BTC/USDT…"
    await server.wait_response(ix, followups=2, timeout=30)
    assert embed(ix.followups[1])["description"] == "Backtest of BTC/USDT cancelled."
    final = ix.edits[-1]
    assert "cancelled after" in embed(final)["description"] and final.get("components") == []
