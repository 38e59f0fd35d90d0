"""/chart and the card's [📈 Chart] on Discord: the real discord.py client against the local Discord, which gets the
PNG as a multipart file attached to the follow-up and shown in its embed (attachment://)."""

from __future__ import annotations

import struct

import pytest

from bot.core.service import TipsterCore
from tests.discord.test_discord_e2e import (  # noqa: F401 - server and bot are fixtures
    BOB,
    CHANNEL,
    GUILD,
    answered,
    bot,
    custom_ids,
    embed,
    server,
)
from tests.support.fake_discord import FLAG_EPHEMERAL, FakeDiscord

pytestmark = pytest.mark.slow


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def uploaded(fake: FakeDiscord, message: dict) -> bytes:  # type: ignore[type-arg]
    [attachment] = message["attachments"]
    return fake.uploads[int(attachment["id"])].data


async def test_chart_is_an_attachment_shown_in_the_embed(server: FakeDiscord, bot: TipsterCore) -> None:  # noqa: F811
    done, [message] = await answered(server, BOB, "chart", {"symbol": "BTC/USDT", "timeframe": "4h"},
                                     guild_id=GUILD, channel_id=CHANNEL)
    assert done.response_type == 5  # deferred at once: the drawing takes a moment
    assert not done.response["data"].get("flags", 0) & FLAG_EPHEMERAL  # a chart is for the channel
    [attachment] = message["attachments"]
    assert attachment["filename"].startswith("BTC-USDT-4h-") and attachment["filename"].endswith(".png")
    assert png_size(uploaded(server, message)) == (1200, 900)
    shown = embed(message)
    assert shown["image"]["url"] == f"attachment://{attachment['filename']}"
    assert shown["title"] == "📈 BTC/USDT · 4h chart · DEMO"
    assert "Source: replay of Binance spot candles (2024)" in shown["description"]
    options = {o["name"]: o for o in server.commands()["chart"]["options"]}
    assert list(options) == ["symbol", "timeframe"] and options["symbol"]["required"] is True


async def test_bad_input_is_one_line(server: FakeDiscord, bot: TipsterCore) -> None:  # noqa: F811
    _, [reply] = await answered(server, BOB, "chart", {"symbol": "DOGE/USDT"}, guild_id=GUILD, channel_id=CHANNEL)
    assert reply["attachments"] == []
    first, usage = embed(reply)["description"].split("\n")
    assert first.startswith("Unknown symbol DOGE/USDT. Available: ")
    assert usage == "Usage: /chart SYMBOL [TIMEFRAME]"


async def test_the_chart_button_posts_the_tips_chart(server: FakeDiscord, bot: TipsterCore) -> None:  # noqa: F811
    _, [card] = await answered(server, BOB, "signal", {"symbol": "ETH/USDT", "timeframe": "1h", "buy": -0.99,
                                                       "sell": -1.0}, guild_id=GUILD, channel_id=CHANNEL)
    rows = [[c["label"] for c in row["components"]] for row in card["components"]]
    assert rows[-1] == ["📈 Chart"] and all(len(row) <= 3 for row in rows)
    press = await server.press_button(BOB, int(card["id"]), custom_ids(card)["📈 Chart"])
    await server.wait_response(press, followups=1, timeout=30)
    [chart] = press.followups
    assert chart["attachments"][0]["filename"].startswith("tip-1-ETH-USDT-1h-")
    assert png_size(uploaded(server, chart)) == (1200, 900)
    description = embed(chart)["description"].replace("\\", "")
    assert "Tip #1 🟢 BUY: entry " in description and " · SL " in description and " · TP " in description
    assert press.edits == []  # the card is left as it was
