"""RedditSource: the newest posts of the subreddits configured per asset class (`sentiment.subreddits`).

Reads Reddit's public listing `GET {reddit_url}/r/{sub}/new.json` without an account. Reddit often
refuses such requests (403, or 429 when it thinks we are a bot), so this source is optional: its failure
is a SourceError, and the reading then says its sentiment came from RSS alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from engine.fetching import USER_AGENT, AuthFailed, HttpClient, SourceError
from engine.models import AssetClass, NewsItem
from engine.sentiment.collect import utc
from engine.sentiment.fanout import fetch_feeds

PER_SUBREDDIT = 10


def parse_listing(body: bytes, base_url: str, sub: str, at: datetime) -> list[NewsItem]:
    """The dated posts of one listing, published at or before `at`; a body not shaped like a listing raises."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SourceError("Reddit", "malformed answer (not JSON)") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list):
        raise SourceError("Reddit", "malformed answer (no data.children listing)")
    end = utc(at)
    items: list[NewsItem] = []
    for child in children:
        post: Any = child.get("data") if isinstance(child, dict) else None
        if not isinstance(post, dict):
            continue
        title, created = post.get("title"), post.get("created_utc")
        # bool is an int: a `true` timestamp is as malformed as a missing one.
        if not isinstance(title, str) or isinstance(created, bool) or not isinstance(created, int | float):
            continue
        text = " ".join(title.split())
        if not text or not math.isfinite(created):
            continue
        try:
            published = datetime.fromtimestamp(created, UTC)
        except (OverflowError, OSError, ValueError):
            continue
        if published > end:
            continue
        permalink = post.get("permalink")
        url = f"{base_url}{permalink}" if isinstance(permalink, str) and permalink.startswith("/") else None
        items.append(NewsItem(text=text, source=f"r/{sub}", published=published, url=url, kind="social"))
    items.sort(key=lambda i: i.published, reverse=True)
    return items[:PER_SUBREDDIT]


class RedditSource:
    """Implements `NewsSource` over the subreddits of the symbol's asset class; a class with none gives none."""

    name = "Reddit"
    demo = False

    def __init__(self, subreddits: Mapping[str, list[str]], base_url: str, client: HttpClient) -> None:
        self.subreddits = {str(cls): list(subs) for cls, subs in subreddits.items()}
        self.base_url = base_url.rstrip("/")
        self.client = client

    async def _one(self, sub: str, at: datetime) -> list[NewsItem]:
        url = f"{self.base_url}/r/{quote(sub, safe='')}/new.json"
        try:
            response = await self.client.get(url, params={"limit": PER_SUBREDDIT, "raw_json": 1},
                                             headers={"User-Agent": USER_AGENT})
        except AuthFailed as exc:  # no credentials are sent: Reddit refusing anonymous reads is not a key problem
            raise SourceError(self.name, f"refused the request (HTTP {exc.status})", status=exc.status) from None
        # A listing is ~10 kB: parsing it on the loop costs less than a thread hop.
        return parse_listing(response.content, self.base_url, sub, at)

    async def fetch_items(self, symbol: str, asset: AssetClass, at: datetime) -> list[NewsItem]:
        subs = list(dict.fromkeys(s.strip().removeprefix("r/") for s in self.subreddits.get(asset.value, [])))
        return await fetch_feeds(self.name, {f"r/{sub}": self._one(sub, at) for sub in subs if sub})

    async def aclose(self) -> None:
        await self.client.aclose()
