"""Telegram's command menu, as the Bot API receives it: most used first, the rare and destructive last."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import open_core
from bot.core.permissions import Permission
from bot.core.registry import Command, registry
from bot.core.signature import Signature
from bot.settings import Settings
from bot.telegram.runner import bot_commands, telegram_running
from tests.support.bot_api_server import FakeBotApi

TOKEN = "123456:MENU-token-abcdefghijklmnopqrstu"

# The order a trader reaches for them: tips, then positions, then what the chat follows, then settings and
# help; the rare ones last, /forgetme (deletes everything) at the very end.
EXPECTED = [
    "signal", "market", "chart", "backtest", "track", "signals", "history",
    "positions", "open", "close", "pnl", "trades", "daily", "weekly", "monthly", "performance",
    "watch", "watchlist", "unwatch", "subscribe", "subscriptions", "unsubscribe", "notify",
    "settings", "status", "help", "start", "cancel",
    "setkeys", "keys", "delkeys", "grids", "stopgrid",
    "contact", "resetpaper", "forgetme",
]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as server:
        yield server


async def test_menu_is_ordered_by_use(api: FakeBotApi, settings: Settings) -> None:
    settings = settings.model_copy(update={"telegram": settings.telegram.model_copy(
        update={"token": TOKEN, "base_url": api.base_url})})
    async with open_core(settings) as core, telegram_running(core):
        menu = [c["command"] for c in api.commands]
    assert menu == EXPECTED
    # Every command a non-admin may use is in it, once; no admin command is.
    users = {c.name for c in registry.commands.values() if c.permission is not Permission.ADMIN}
    assert sorted(menu) == sorted(users)


def test_a_command_the_order_does_not_name_goes_before_the_rare_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handler(core, req):  # pragma: no cover - never called
        return []

    commands = dict(registry.commands)
    commands["newthing"] = Command("newthing", "something new", handler, Signature())
    monkeypatch.setattr(registry, "commands", commands)
    menu = [c.command for c in bot_commands()]
    assert menu[0] == "signal" and menu[-3:] == ["contact", "resetpaper", "forgetme"]
    assert menu.index("newthing") == len(menu) - 4
