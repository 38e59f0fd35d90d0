"""The figures admins read: the menu's counts, /stats and /health.

Later capabilities (monitoring, positions) add their own lines through `core.stats_sections` and
`core.health_sections`; they arrive here as `extra`, after the core's own figures.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import timedelta

from bot.core.kernel import Core

VERSION = "0.1.0"


@dataclass(frozen=True)
class AdminSummary:
    pending: int  # users waiting for approval
    open_messages: int


@dataclass(frozen=True)
class Stats:
    roles: dict[str, int]  # users by role
    recommendations: dict[str, int]  # tips by type
    statuses: dict[str, int]  # tips by status
    activity_today: int  # activity events since midnight UTC
    open_messages: int
    extra: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StorageHealth:
    path: str
    schema_version: int | None = None
    users: int | None = None
    error: str | None = None  # why it could not be read (then the figures are None)


@dataclass(frozen=True)
class MarketHealth:
    name: str
    demo: bool
    status: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # why the source could not report its status


@dataclass(frozen=True)
class SentimentHealth:
    model: str  # the active model
    configured: str  # the one `sentiment.model` asks for (a fallback makes them differ)
    sources: dict[str, str] | None  # each news source's state; None when the provider cannot say
    cache: str | None  # None: no cache


@dataclass(frozen=True)
class Health:
    storage: StorageHealth
    market: MarketHealth
    sentiment: SentimentHealth
    uptime: timedelta
    version: str
    python: str
    extra: list[str] = field(default_factory=list)


async def admin_summary(core: Core) -> AdminSummary:
    pending = (await core.storage.user_admin.list(role="pending", state="active", limit=1))[1]
    return AdminSummary(pending, await core.storage.messages.open_count())


async def stats(core: Core) -> Stats:
    repo = core.storage.user_admin
    today = core.now().replace(hour=0, minute=0, second=0, microsecond=0)
    roles = await repo.counts_by("role")
    recommendations = await repo.counts_by("recommendation", "signals")
    statuses = await repo.counts_by("status", "signals")
    activity_today = await repo.activity_since(today)
    open_messages = await core.storage.messages.open_count()
    extra = [line for section in core.stats_sections for line in await section()]
    return Stats(roles, recommendations, statuses, activity_today, open_messages, extra)


async def storage_health(core: Core) -> StorageHealth:
    db = core.storage.db
    try:
        return StorageHealth(str(db.path), await db.schema_version(), await core.storage.users.count())
    except Exception as exc:  # health must report, not fail
        return StorageHealth(str(db.path), error=str(exc))


def market_health(core: Core) -> MarketHealth:
    market = core.services.market
    try:
        status = {str(key): str(value) for key, value in market.status().items()}
    except Exception as exc:  # a source that cannot report is itself a finding
        return MarketHealth(market.name, market.demo, error=str(exc))
    return MarketHealth(market.name, market.demo, status)


def sentiment_health(core: Core) -> SentimentHealth:
    """The active model beside the one configured, each news source's state, and the cache."""
    sentiment = core.services.sentiment
    model = getattr(sentiment, "model", None)
    status = getattr(sentiment, "status", None)
    sources = dict(status()) if status is not None else None  # asked once: it may probe every source
    cache = getattr(sentiment, "cache", None)
    cache_line = None
    if cache is not None:
        cache_status = getattr(cache, "status", None)
        cache_line = str(cache_status() if cache_status else cache.name)
    return SentimentHealth(str(getattr(model, "name", "unknown")), core.settings.sentiment.model, sources,
                           cache_line)


async def health(core: Core) -> Health:
    storage = await storage_health(core)
    market = market_health(core)
    sentiment = sentiment_health(core)
    uptime = core.now() - core.started_at
    extra = [line for section in core.health_sections for line in await section()]
    return Health(storage, market, sentiment, uptime, VERSION, platform.python_version(), extra)
