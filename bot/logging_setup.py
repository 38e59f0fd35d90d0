"""Logging with secrets masked: tokens and keys never reach a log line (SPEC §10)."""

from __future__ import annotations

import logging
import re

# Telegram bot tokens look like 123456789:AAE...; they also appear inside Bot API URLs.
_TOKEN_RE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}\b")


class SecretMaskingFilter(logging.Filter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _TOKEN_RE.sub("<token>", message)
        for secret in self.secrets:
            masked = masked.replace(secret, "<secret>")
        if masked != message:
            record.msg, record.args = masked, None
        return True


def setup_logging(level: int = logging.INFO, secrets: list[str] | None = None,
                  filename: str | None = None) -> None:
    handler: logging.Handler = logging.FileHandler(filename) if filename else logging.StreamHandler()
    handler.addFilter(SecretMaskingFilter(secrets))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
