"""Build and run the python-telegram-bot Application around the core."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from telegram import BotCommand, Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    MessageHandler,
    filters,
)

from bot.core.permissions import Permission
from bot.core.registry import registry
from bot.core.service import TipsterCore
from bot.telegram.chat_admin import chat_admin_check
from bot.telegram.handlers import on_button, on_error, on_text
from bot.telegram.outbox_sender import telegram_outbox_running

log = logging.getLogger(__name__)


class TelegramUnavailable(Exception):
    """The bot cannot start on Telegram (token refused, Bot API unreachable); one line, never the token."""


def build_application(core: TipsterCore) -> Application:
    tg = core.settings.telegram
    if not tg.token:
        raise ValueError("telegram.token is not set")
    app = (
        Application.builder()
        .token(tg.token)
        .base_url(tg.base_url)
        # Updates are handled concurrently; the HTTP pool must be as wide, or sends queue and time out.
        .concurrent_updates(tg.concurrent_updates)
        .connection_pool_size(tg.pool_size)
        .pool_timeout(30)
        .rate_limiter(AIORateLimiter(max_retries=2))
        .build()
    )
    app.bot_data["core"] = core
    core.chat_admin_checks["telegram"] = chat_admin_check(app.bot)
    # One handler for all text: the core routes commands (known and unknown) and flow replies alike.
    app.add_handler(MessageHandler(filters.TEXT, on_text))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_error_handler(on_error)
    return app


# Telegram shows the menu in this order: what a trader reaches for most comes first. A command not named
# here goes after these, in registration order, and before MENU_LAST (rare, or destructive like /forgetme).
MENU_FIRST = ("signal", "market", "chart", "backtest", "track", "signals", "history", "positions", "open", "close",
              "pnl", "trades", "daily", "weekly", "monthly", "performance",
              "watch", "watchlist", "unwatch", "subscribe", "subscriptions", "unsubscribe", "notify",
              "settings", "status", "help", "start", "cancel")
MENU_LAST = ("contact", "resetpaper", "forgetme")


def bot_commands() -> list[BotCommand]:
    """The menu every user sees: admin commands stay out of it (admins find them in /help and /admin)."""
    shown = [c for c in registry.commands.values() if c.permission is not Permission.ADMIN]
    rank = {name: i for i, name in enumerate(MENU_FIRST)}
    rank.update({name: len(MENU_FIRST) + 1 + i for i, name in enumerate(MENU_LAST)})
    shown.sort(key=lambda c: rank.get(c.name, len(MENU_FIRST)))  # stable: unnamed keep registration order
    return [BotCommand(c.name, c.summary[:256]) for c in shown]


async def register_commands(app: Application) -> None:
    await app.bot.set_my_commands(bot_commands())


@contextlib.asynccontextmanager
async def telegram_running(core: TipsterCore) -> AsyncIterator[Application]:
    """The bot polling for updates until the block ends; shut down in PTB's required order."""
    app = build_application(core)
    base_url = core.settings.telegram.base_url
    try:
        await app.initialize()
    except BaseException as exc:
        # A failed initialize (e.g. wrong token) leaves PTB's HTTP pools open; close them ourselves.
        await app.bot.shutdown()
        # PTB's own messages quote the token ("The token `123456:…` was rejected"): say it in our words.
        if isinstance(exc, InvalidToken):
            raise TelegramUnavailable(f"the Telegram Bot API at {base_url} rejected the bot token (telegram.token "
                                      "or TIPSTER_TELEGRAM__TOKEN); check it with @BotFather") from None
        if isinstance(exc, NetworkError):  # TimedOut included
            raise TelegramUnavailable(f"cannot reach the Telegram Bot API at {base_url} "
                                      f"({type(exc).__name__}); check telegram.base_url and the network") from None
        raise
    try:
        await register_commands(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY])
        log.info("telegram bot @%s is running", app.bot.username)
        try:
            # Alerts drain while the bot runs (re-queueing what a crash left in flight first). On the way out
            # the bot stops taking updates first, lets the updates being handled finish (their replies and
            # the alerts they queue), and only then stops the drainer, its in-flight sends finished.
            async with telegram_outbox_running(core.settings, core.services.outbox):
                try:
                    yield app
                finally:
                    await stop_taking_updates(app)
        finally:
            await stop_taking_updates(app)
    finally:
        await app.shutdown()


async def stop_taking_updates(app: Application) -> None:
    """Stop polling, then wait for the handlers running (PTB's stop does); safe to call twice."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
