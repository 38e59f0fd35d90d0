"""A broker's reason for an error, short and safe to show a user.

Error bodies are the broker's (or a proxy's) free text: a server that echoes the request back puts our API
key in it, and an HTML error page is a thousand characters. What reaches a `BrokerError` message — and so a
chat reply, the positions table and the log — is the body's one reason field, on one line, bounded, with
the broker's own keys removed. The raw body goes only to the log, through the same redaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MAX_REASON = 120
REDACTED = "[redacted]"  # not <…>: that would read as markup
# A JSON or dict dump ({…}) or markup (<html>, </p>): the body itself, not a reason. "<=" in a reason is fine.
_DUMP_RE = re.compile(r"[{}]|<[A-Za-z/!?]")


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:  # a shorter "secret" would blank out ordinary words
            text = text.replace(secret, REDACTED)
    return text


def one_line(text: object, secrets: Iterable[str | None] = (), limit: int = MAX_REASON) -> str:
    """`text` redacted first (so a key cut at the limit cannot survive half-shown), then on one printable
    line of at most `limit` characters."""
    flat = " ".join(redact(str(text), secrets).split())
    flat = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def shown_reason(text: object, secrets: Iterable[str | None] = ()) -> str | None:
    """`text` as a reason fit for a chat reply, or None when it does not read like one: a reason is a short
    sentence ("insufficient buying power"); something longer, or with markup or a dump's braces, is the
    body itself (an HTML page, an echoed request) and stays in the log."""
    if not isinstance(text, str) or not text.strip():
        return None
    line = one_line(text, secrets, limit=10 * MAX_REASON)
    if len(line) > MAX_REASON or _DUMP_RE.search(line):
        return None
    return line


def body_field(text: str, *names: str) -> str | None:
    """The first of `names` that is a non-empty string in the JSON object inside `text` (ccxt prefixes the
    body with the exchange id: 'binance {"code":-2010,"msg":"…"}'); None when there is none."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        parsed: Any = json.loads(text[start:])
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    for name in names:
        value = parsed.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None
