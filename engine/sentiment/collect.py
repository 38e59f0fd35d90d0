"""The one rule that decides which texts a reading scores, for every source, live and in replay.

`select`: only items published in the window [at − max_age, at] (both ends inclusive: an item published
exactly at the bar time is known at that time, and one exactly max_age old is still in), never after `at`;
de-duplicated on normalised text (lower-case alphanumerics: feeds repeat stories with other quotes or
spacing; the newest copy is kept); items that name the symbol's asset first, newest first, then the class's
other items, newest first, fill the cap — a window with nothing about the coin still gives the class's news.

`collect`: asks every source at once; a failing source becomes a line in `unavailable` instead of an error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engine.models import AssetClass, NewsItem
from engine.sentiment.fanout import reason
from engine.sentiment.names import mentions, symbol_names
from engine.sentiment.protocols import NewsSource

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC (what every source here produces); aware ones are converted."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def text_key(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def select(items: Iterable[NewsItem], symbol: str, at: datetime, max_texts: int,
           max_age_hours: float) -> list[NewsItem]:
    """Up to `max_texts` items from the window [at − max_age_hours, at]: the asset's own first, then the rest."""
    if max_texts <= 0:
        return []
    end = utc(at)
    start = end - timedelta(hours=max_age_hours)
    in_window = [i for i in items if start <= utc(i.published) <= end]
    # Stable sort: items published at the same moment keep the order the sources gave them.
    in_window.sort(key=lambda i: utc(i.published), reverse=True)
    seen: set[str] = set()
    unique: list[NewsItem] = []
    for item in in_window:
        key = text_key(item.text)
        if key and key not in seen:
            seen.add(key)
            unique.append(item)
    names = symbol_names(symbol)
    named: list[NewsItem] = []
    others: list[NewsItem] = []
    for item in unique:
        (named if mentions(item.text, names) else others).append(item)
    return (named + others)[:max_texts]


@dataclass(frozen=True, slots=True)
class Collected:
    items: list[NewsItem]  # select()'s choice
    answered: list[str] = field(default_factory=list)  # names of the sources that answered (maybe with nothing)
    unavailable: list[str] = field(default_factory=list)  # "Reddit: refused the request (HTTP 403)"
    demo: bool = False  # a demo source (bundled headlines) answered


async def collect(symbol: str, asset: AssetClass, at: datetime, sources: Sequence[NewsSource],
                  max_texts: int, max_age_hours: float) -> Collected:
    """Every source's items for `symbol` at `at`, fetched concurrently, failures noted, then `select`ed."""
    results = await asyncio.gather(*(s.fetch_items(symbol, asset, at) for s in sources), return_exceptions=True)
    items: list[NewsItem] = []
    answered: list[str] = []
    unavailable: list[str] = []
    demo = False
    for source, result in zip(sources, results, strict=True):
        name = str(getattr(source, "name", type(source).__name__))
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result  # cancellation must propagate
            unavailable.append(f"{name}: {reason(result)}")
            continue
        answered.append(name)
        demo = demo or bool(getattr(source, "demo", False))
        items.extend(result)
    return Collected(select(items, symbol, at, max_texts, max_age_hours), answered, unavailable, demo)
