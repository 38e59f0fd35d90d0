"""Closing what holds connections (exchange sessions, HTTP clients, broker clients) on the way out."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


async def close_quietly(*parts: object) -> None:
    """Close each part that has `close` or `aclose`; a failing close is logged and must not mask the others."""
    for part in parts:
        close = getattr(part, "close", None) or getattr(part, "aclose", None)
        if close is None:
            continue
        try:
            await close()
        except Exception:
            log.warning("closing %s failed", type(part).__name__, exc_info=True)
