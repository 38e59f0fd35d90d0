"""Telegram delivery for the alert outbox: a Reply rendered as HTML, PTB's errors mapped to the outbox's.

Why a second `telegram.Bot` without a rate limiter (read telegram/ext/_aioratelimiter.py, PTB 22):
* on a RetryAfter, `AIORateLimiter` clears one event that gates *every* request of the bot, sleeps the
  flood wait and retries — so one chat's flood wait would stall all alerts and all interactive replies;
* its retries cannot be switched off per call: `process_request` does
  `max_retries = rate_limit_args or self._max_retries`, so `rate_limit_args=0` falls back to the
  application's `max_retries=2`;
* a flood error on an interactive reply would stall alerts too, since both wait on the same event.
So alerts go through their own Bot (own HTTP pool, no limiter): a RetryAfter surfaces at once as
`RetryLater` for that chat alone, and `OutboxDrainer` does all pacing itself — 1/s per chat, 20/min per
group and an overall cap (`ALERTS_PER_SECOND`, below Telegram's ~30/s so interactive replies, paced by the
application's own limiter, keep room).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.core.outbox import (
    AlertOutbox,
    ChatUnreachable,
    OutboxDrainer,
    PermanentSendError,
    RetryLater,
    TransientSendError,
)
from bot.core.replies import Reply
from bot.settings import Settings
from bot.telegram.render import keyboard, render

log = logging.getLogger(__name__)

#: The outbox's share of Telegram's ~30 messages/s per bot; interactive replies use the rest.
ALERTS_PER_SECOND = 25.0

# BadRequest texts that mean the chat itself is gone, not that this message was wrong.
_GONE = ("chat not found", "user is deactivated", "bot was kicked", "group chat was deactivated",
         "have no rights to send", "not enough rights to send", "peer_id_invalid")


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter.retry_after is an int (whole seconds), a float (fractional, the test server) or a
    timedelta (with PTB_TIMEDELTA=1); reading it as a number warns in PTB 22, hence the filter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramAlertSender:
    """`AlertSender` for Telegram. `part_interval` spaces the parts of a long alert like separate alerts."""

    platform = "telegram"

    def __init__(self, bot: Bot, part_interval: float = 1.0) -> None:
        self.bot = bot
        self.part_interval = part_interval

    async def send(self, chat_id: str, reply: Reply) -> None:
        texts = render(reply)
        markup = keyboard(reply)
        # A numeric chat id (ASCII digits: str.isdigit() passes "²", which int() refuses), else an @username.
        target: int | str = int(chat_id) if re.fullmatch(r"-?[0-9]{1,20}", chat_id) else chat_id
        for i, text in enumerate(texts):
            if i:
                await asyncio.sleep(self.part_interval)
            last = i == len(texts) - 1
            try:
                await self.bot.send_message(target, text, parse_mode=ParseMode.HTML,
                                            reply_markup=markup if last else None,
                                            disable_notification=reply.silent)
            except RetryAfter as exc:
                raise RetryLater(retry_after_seconds(exc)) from exc
            except Forbidden as exc:  # blocked by the user, kicked from the group, …
                raise ChatUnreachable(exc.message) from exc
            except ChatMigrated as exc:  # a group became a supergroup with a new id
                raise ChatUnreachable(f"chat migrated to {exc.new_chat_id}") from exc
            except BadRequest as exc:  # before NetworkError: BadRequest subclasses it
                if any(gone in exc.message.lower() for gone in _GONE):
                    raise ChatUnreachable(exc.message) from exc
                raise PermanentSendError(exc.message) from exc
            except NetworkError as exc:  # TimedOut, connection errors, 5xx
                raise TransientSendError(exc.message) from exc
            except TelegramError as exc:  # InvalidToken, Conflict …: keep the alert, retry with backoff
                raise TransientSendError(f"{type(exc).__name__}: {exc.message}") from exc


def outbox_bot(token: str, base_url: str, pool_size: int) -> Bot:
    """A Bot for alerts only: no rate limiter (see the module docstring), its own small HTTP pool."""
    request = HTTPXRequest(connection_pool_size=pool_size, pool_timeout=30.0)
    return Bot(token, base_url=base_url, request=request, get_updates_request=HTTPXRequest(connection_pool_size=1))


@contextlib.asynccontextmanager
async def telegram_outbox_running(settings: Settings, outbox: AlertOutbox,
                                  **options: Any) -> AsyncIterator[OutboxDrainer]:
    """Drain the Telegram alerts while the block runs: re-queue what a crash left in flight, then send;
    on exit stop claiming, wait for the sends in flight, close the HTTP pool."""
    max_in_flight = settings.alerts.max_in_flight
    bot = outbox_bot(settings.telegram.token, settings.telegram.base_url, pool_size=max_in_flight + 2)
    await bot.initialize()
    try:
        options.setdefault("overall_per_second", ALERTS_PER_SECOND)
        drainer = outbox.drainer(TelegramAlertSender(bot), max_in_flight, **options)
        await drainer.start()  # recovers rows left 'sending' first
        try:
            yield drainer
        finally:
            await drainer.stop()
    finally:
        await bot.shutdown()
