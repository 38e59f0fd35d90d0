"""RssSource: headlines from the RSS/Atom feeds configured per asset class (`sentiment.rss_feeds`).

The project's HttpClient fetches (timeout, retries on 429/5xx/timeouts) and feedparser only parses the
bytes, in a worker thread: `feedparser.parse(url)` would fetch by itself with no timeout, block the event
loop, and return a "feed" instead of raising on an HTTP 500. It is given a stream, never a URL or bytes
(feedparser tries to open() a bytes argument as a file name first).
"""

from __future__ import annotations

import asyncio
import calendar
import html
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from engine.fetching import AuthFailed, HttpClient, SourceError
from engine.models import AssetClass, NewsItem
from engine.sentiment.collect import utc
from engine.sentiment.fanout import fetch_feeds
from engine.sentiment.names import base_asset

PER_FEED = 10
_TAG = re.compile(r"<[^>]*>")


def clean(text: str) -> str:
    """A title as plain text: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def expand(url: str, symbol: str) -> str:
    """Fill a feed URL's {symbol} (the symbol as typed) and {base} ("BTC" for BTC/USDT), URL-encoded.

    Plain replacement rather than str.format: a feed URL may contain other braces.
    """
    return (url.replace("{symbol}", quote(symbol.strip(), safe=""))
               .replace("{base}", quote(base_asset(symbol), safe="")))


def feed_label(url: str) -> str:
    """How a feed is named in logs and errors: host and path, never the query (it may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}".rstrip("/") or url


def labelled(urls: list[str]) -> dict[str, str]:
    """Each URL under its feed_label; two feeds differing only in their query get "#2", "#3"."""
    out: dict[str, str] = {}
    for url in urls:
        label = base = feed_label(url)
        n = 1
        while label in out:
            n += 1
            label = f"{base} #{n}"
        out[label] = url
    return out


def _published(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)  # feedparser gives UTC struct_time
    except (OverflowError, ValueError, TypeError):
        return None


def parse_feed(content: bytes, content_type: str | None, url: str, at: datetime) -> list[NewsItem]:
    """Up to PER_FEED dated entries published at or before `at`, newest first. CPU work: run in a thread."""
    import feedparser  # ~0.15 s to import: paid by the first feed read, not by every `import engine.sentiment`

    headers = {"content-type": content_type} if content_type else None
    parsed = feedparser.parse(io.BytesIO(content), response_headers=headers)
    # A feed may be bozo (wrong content type, a stray byte) and still have entries; one with no entries that
    # is bozo or of no known format (an HTML error page, an empty body) is not a feed at all.
    if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
        raise SourceError("RSS", "not an RSS or Atom feed")
    name = clean(str(parsed.feed.get("title") or "")) or urlsplit(url).hostname or url
    end = utc(at)
    items: list[NewsItem] = []
    for entry in parsed.entries:
        published = _published(entry)
        text = clean(str(entry.get("title") or ""))
        if published is None or not text or published > end:  # the window rule needs a date
            continue
        link = entry.get("link")
        items.append(NewsItem(text=text, source=name, published=published,
                              url=str(link) if link else None, kind="news"))
    items.sort(key=lambda i: i.published, reverse=True)
    return items[:PER_FEED]


class RssSource:
    """Implements `NewsSource` over the feeds of the symbol's asset class; a class with no feeds gives none."""

    name = "RSS"
    demo = False

    def __init__(self, feeds: Mapping[str, list[str]], client: HttpClient) -> None:
        self.feeds = {str(cls): list(urls) for cls, urls in feeds.items()}
        self.client = client

    def urls(self, symbol: str, asset: AssetClass) -> list[str]:
        return list(dict.fromkeys(expand(url, symbol) for url in self.feeds.get(asset.value, [])))

    async def _one(self, url: str, at: datetime) -> list[NewsItem]:
        try:
            response = await self.client.get(url)
        except AuthFailed as exc:  # we send no credentials: a 401/403 is a refusal, not a key to fix
            raise SourceError(self.name, f"refused the request (HTTP {exc.status})", status=exc.status) from None
        return await asyncio.to_thread(parse_feed, response.content, response.headers.get("content-type"), url, at)

    async def fetch_items(self, symbol: str, asset: AssetClass, at: datetime) -> list[NewsItem]:
        jobs = {label: self._one(url, at) for label, url in labelled(self.urls(symbol, asset)).items()}
        return await fetch_feeds(self.name, jobs)

    async def aclose(self) -> None:
        await self.client.aclose()
