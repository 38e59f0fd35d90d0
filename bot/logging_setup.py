"""Logging with secrets masked: tokens and keys never reach a log line (SPEC §10).

Masked are the message, the exception text and traceback (a library's exception may carry the token:
python-telegram-bot's InvalidToken says "The token `123456:…` was rejected") and stack_info; the secrets
are every secret-bearing setting (`settings_secrets`), plus anything that looks like a Telegram token.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from bot.settings import Settings

# Telegram bot tokens look like 123456789:AAE...; they also appear inside Bot API URLs.
_TOKEN_RE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}\b")
MIN_SECRET_LEN = 6  # shorter values would mask ordinary words; real keys and tokens are far longer


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret the settings hold: chat tokens, broker keys and secrets, the password in storage.redis_url."""
    found: list[str | None] = [settings.telegram.token, settings.discord.token, settings.brokers.alpaca.key,
                               settings.brokers.alpaca.secret, settings.brokers.ccxt.key,
                               settings.brokers.ccxt.secret]
    token = settings.telegram.token
    if token and ":" in token:
        found.append(token.split(":", 1)[1])  # the secret half on its own, as some messages show it
    # The master keys of users' broker keys (bot.core.vault), from the environment only.
    found += [part.strip() for part in os.environ.get("TIPSTER_SECRET_KEY", "").split(",")]
    if settings.storage.redis_url:
        password = urlsplit(settings.storage.redis_url).password
        if password:
            found += [password, unquote(password)]
    return sorted({s for s in found if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    masked = _TOKEN_RE.sub("<token>", text)
    for secret in secrets:
        masked = masked.replace(secret, "<secret>")
    return masked


class SecretMaskingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in (secrets or []) if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        return mask_secrets(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: the handler reports that itself; mask what we can
            message = str(record.msg)
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatted here (as every Formatter would) so the traceback is masked before any handler sees it;
            # formatters reuse exc_text when it is set.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


class JsonLineFormatter(logging.Formatter):
    """`logging.format: json`: one JSON object a line — time (ISO 8601, UTC), level, logger, message, and
    exc_info (the traceback) and stack_info when the record has them. It formats what the masking filter left
    on the record (the handler filters before it formats), so a secret is masked here as in text lines."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        # ensure_ascii: a message's own newlines and control characters are escaped, one record stays one line.
        return json.dumps(line, ensure_ascii=True)


def setup_logging(level: int = logging.INFO, secrets: Iterable[str] | None = None,
                  filename: str | None = None, fmt: str = "text") -> SecretMaskingFilter:
    """Log to `filename` or stderr, every record through the secret mask; `fmt` is logging.format."""
    handler: logging.Handler = logging.FileHandler(filename) if filename else logging.StreamHandler()
    masking = SecretMaskingFilter(secrets)
    handler.addFilter(masking)
    handler.setFormatter(JsonLineFormatter() if fmt == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return masking
