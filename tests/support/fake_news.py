"""A local server speaking RSS 2.0 (/rss/{name}) and Reddit's public listing JSON (/r/{sub}/new.json).

The production RssSource and RedditSource are pointed at it by URL (feed URLs, `reddit_url`), so their HTTP
client, retries, timeouts, feedparser hand-off and JSON validation all run for real.

Items are dated either absolutely (a datetime) or by age (a timedelta, subtracted from the time of each
request), so a test can say "published 2 h ago". An item with `published=None` has no pubDate.

Faults are set per request path with `fail(path, ...)`: any status with headers (429 + Retry-After, 403,
500), a malformed 200 body, or a hang (answered only when the test ends), for the next `times` requests
(None: every request). `hits[path]` counts requests; `user_agents` records who asked.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

from tests.support.loopback import serve_on_loopback

When = datetime | timedelta | None


@dataclass
class Entry:
    title: str
    published: When
    link: str | None = None


@dataclass
class Feed:
    title: str | None
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Fault:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # requests still to fail; None: all of them
    hang: bool = False


def _at(when: When, now: datetime) -> datetime | None:
    if when is None:
        return None
    return now - when if isinstance(when, timedelta) else when


class FakeNews:
    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.subreddits: dict[str, list[Entry]] = {}
        self.faults: dict[str, Fault] = {}
        self.hits: Counter[str] = Counter()
        self.queries: dict[str, list[dict[str, str]]] = {}
        self.user_agents: list[str] = []
        self.base_url = ""
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- what the server holds ----------------------------------------------------------------------------

    def feed(self, name: str, entries: list[tuple[str, When]] | list[Entry], title: str | None = None) -> str:
        """Serve an RSS feed at /rss/{name}; returns its URL."""
        self.feeds[name] = Feed(title if title is not None else f"Feed {name}",
                                [e if isinstance(e, Entry) else Entry(e[0], e[1], f"https://news.example/{name}/{i}")
                                 for i, e in enumerate(entries)])
        return f"{self.base_url}/rss/{name}"

    def posts(self, sub: str, entries: list[tuple[str, When]]) -> None:
        self.subreddits[sub] = [Entry(title, when, f"/r/{sub}/comments/p{i}/post_{i}/")
                                for i, (title, when) in enumerate(entries)]

    def fail(self, path: str, status: int = 500, *, body: bytes = b"", headers: dict[str, str] | None = None,
             times: int | None = None, hang: bool = False) -> None:
        self.faults[path] = Fault(status, body, dict(headers or {}), times, hang)

    # --- serving -----------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/rss/{name}", self._rss)
        app.router.add_get("/r/{sub}/new.json", self._reddit)
        self._runner, self.base_url = await serve_on_loopback(app)
        return self.base_url

    async def close(self) -> None:
        self._release.set()  # hung handlers answer now, so the runner can shut down at once
        if self._runner is not None:
            await self._runner.cleanup()

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        path = request.path
        self.hits[path] += 1
        self.queries.setdefault(path, []).append(dict(request.query))
        self.user_agents.append(request.headers.get("User-Agent", ""))
        fault = self.faults.get(path)
        if fault is None or fault.times == 0:
            return None
        if fault.times is not None:
            fault.times -= 1
        if fault.hang:
            await self._release.wait()
            return web.Response(status=503)
        return web.Response(status=fault.status, body=fault.body, headers=fault.headers)

    async def _rss(self, request: web.Request) -> web.StreamResponse:
        if (faulty := await self._fault(request)) is not None:
            return faulty
        feed = self.feeds.get(request.match_info["name"])
        if feed is None:
            return web.Response(status=404, text="no such feed")
        now = datetime.now(UTC)
        items = []
        for entry in feed.entries:
            when = _at(entry.published, now)
            parts = [f"<title>{escape(entry.title)}</title>"]
            if entry.link:
                parts.append(f"<link>{escape(entry.link)}</link><guid>{escape(entry.link)}</guid>")
            if when is not None:
                parts.append(f"<pubDate>{format_datetime(when.astimezone(UTC), usegmt=True)}</pubDate>")
            items.append(f"<item>{''.join(parts)}</item>")
        title = f"<title>{escape(feed.title)}</title>" if feed.title else ""
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
               f"{title}<link>https://news.example/</link><description>test feed</description>"
               f"{''.join(items)}</channel></rss>")
        return web.Response(body=xml.encode(), content_type="application/rss+xml", charset="utf-8")

    async def _reddit(self, request: web.Request) -> web.StreamResponse:
        if (faulty := await self._fault(request)) is not None:
            return faulty
        sub = request.match_info["sub"]
        posts = self.subreddits.get(sub)
        if posts is None:
            return web.json_response({"reason": "banned", "message": "Not Found", "error": 404}, status=404)
        limit = int(request.query.get("limit", "25"))
        now = datetime.now(UTC)
        children = []
        for i, post in enumerate(posts[:limit]):
            when = _at(post.published, now)
            data: dict[str, object] = {"subreddit": sub, "id": f"p{i}", "name": f"t3_p{i}", "title": post.title,
                                       "permalink": post.link, "url": f"https://news.example/{sub}/{i}",
                                       "author": "someone", "score": 1, "num_comments": 0}
            if when is not None:
                data["created_utc"] = when.timestamp()
            children.append({"kind": "t3", "data": data})
        return web.json_response({"kind": "Listing", "data": {"after": None, "dist": len(children), "modhash": "",
                                                              "geo_filter": "", "children": children,
                                                              "before": None}})
