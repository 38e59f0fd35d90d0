"""Fetching a source's feeds (RSS URLs, subreddits) at once: the ones that answer count, the rest are logged.

A source fails only when every one of its feeds failed; then its SourceError names each feed and why, so
the reading can say e.g. "Reddit: r/CryptoCurrency, r/Bitcoin: refused the request (HTTP 403)".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping

from engine.fetching import SourceError
from engine.models import NewsItem

log = logging.getLogger(__name__)


def reason(exc: BaseException) -> str:
    """One short line for a failure: a SourceError's own message, else the exception's type and text."""
    if isinstance(exc, SourceError):
        return exc.message
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def summarise(failures: Mapping[str, str]) -> str:
    """"a, b: why; c: other reason" — feeds that failed the same way are named together."""
    by_reason: dict[str, list[str]] = {}
    for feed, why in failures.items():
        by_reason.setdefault(why, []).append(feed)
    return "; ".join(f"{', '.join(feeds)}: {why}" for why, feeds in by_reason.items())


async def fetch_feeds(source: str, jobs: Mapping[str, Awaitable[list[NewsItem]]]) -> list[NewsItem]:
    """Await every job (feed label -> its items) concurrently; raise SourceError only if all of them failed."""
    if not jobs:
        return []
    labels = list(jobs)
    results = await asyncio.gather(*jobs.values(), return_exceptions=True)
    items: list[NewsItem] = []
    failures: dict[str, str] = {}
    for label, result in zip(labels, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):  # cancellation and the like are not a feed's failure
                raise result
            failures[label] = reason(result)
        else:
            items.extend(result)
    if failures and len(failures) == len(labels):
        raise SourceError(source, summarise(failures))
    if failures:
        log.warning("%s: %d of %d feeds failed: %s", source, len(failures), len(labels), summarise(failures))
    return items
