"""Wiring: settings in, a ready `TipsterCore` out (database open, market and sentiment chosen)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.core.outbox import outbox_of
from bot.core.scheduler import JobScheduler, build_scheduler
from bot.core.service import Services, TipsterCore
from engine.config import Settings, use_settings
from engine.market.base import MarketData
from engine.market.cache import CachedMarket
from engine.market.replay import ReplayMarket
from engine.sentiment import BundledHeadlines, get_model
from engine.sentiment_provider import CachedSentiment
from storage.db import Database

log = logging.getLogger(__name__)


def build_market(settings: Settings) -> MarketData:
    if settings.market.source == "live":
        raise SystemExit("market.source: live is not available in this build yet; use replay.")
    replay = ReplayMarket(start=settings.market.replay.start, speed=settings.market.replay.speed)
    # The replay clock moves `speed` market seconds per real second, so a cached 1h series goes stale
    # within a minute; cap the cache at a few seconds so repeated /signal calls see the new bars.
    return CachedMarket(replay, ttl=min(settings.cache.market_ttl, 5))


def build_sentiment(settings: Settings) -> CachedSentiment:
    model = get_model(settings.sentiment.model)
    return CachedSentiment(BundledHeadlines(), model, max_texts=settings.sentiment.max_texts,
                           ttl=settings.cache.sentiment_ttl)


@asynccontextmanager
async def open_core(settings: Settings, *, market: MarketData | None = None) -> AsyncIterator[TipsterCore]:
    use_settings(settings)
    db = await Database(settings.storage.sqlite_path).open()
    try:
        services = Services(settings=settings, db=db, market=market or build_market(settings),
                            sentiment=build_sentiment(settings))
        core = await TipsterCore.create(services)
        outbox = outbox_of(services)
        core.outbox = outbox
        core.start_hooks.append(lambda ctx: outbox.unblock_chat(ctx.platform, ctx.chat_id))
        yield core
    finally:
        await db.close()


@asynccontextmanager
async def jobs_running(core: TipsterCore) -> AsyncIterator[JobScheduler]:
    """The application's scheduled jobs (monitoring, scans, summaries) while the block runs."""
    scheduler = build_scheduler(core)
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()
        core.scheduler = None
