"""Wiring: settings in, a ready `TipsterCore` out (database open, market and sentiment chosen)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from bot.core.handlers import positions as position_handlers
from bot.core.outbox import outbox_of
from bot.core.scheduler import JobScheduler, build_scheduler
from bot.core.service import Services, TipsterCore
from bot.core.trading import Trading
from engine.brokers.base import Broker
from engine.brokers.paper import PaperBroker
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


def build_brokers(settings: Settings, market: MarketData) -> dict[str, Broker]:
    """The paper broker always; Alpaca and ccxt when their keys are configured."""
    brokers: dict[str, Broker] = {
        "paper": PaperBroker(market.last_price, Decimal(str(settings.paper.fee_pct)),
                             Decimal(str(settings.paper.slippage_pct))),
    }
    alpaca = settings.brokers.alpaca
    if alpaca.key and alpaca.secret:
        from engine.brokers.alpaca import AlpacaBroker

        brokers["alpaca"] = AlpacaBroker(alpaca.key, alpaca.secret, paper=True, url_override=alpaca.base_url)
    ccxt_cfg = settings.brokers.ccxt
    if ccxt_cfg.key and ccxt_cfg.secret:
        from engine.brokers.ccxt_broker import CcxtBroker

        urls = {"api": ccxt_cfg.api_url} if ccxt_cfg.api_url else None
        brokers["ccxt"] = CcxtBroker(ccxt_cfg.exchange, ccxt_cfg.key, ccxt_cfg.secret, sandbox=ccxt_cfg.sandbox,
                                     urls_override=urls)
    if settings.brokers.default not in brokers:
        raise SystemExit(f"brokers.default is {settings.brokers.default}, but its keys are not configured.")
    return brokers


@asynccontextmanager
async def open_core(settings: Settings, *, market: MarketData | None = None) -> AsyncIterator[TipsterCore]:
    use_settings(settings)
    db = await Database(settings.storage.sqlite_path).open()
    try:
        services = Services(settings=settings, db=db, market=market or build_market(settings),
                            sentiment=build_sentiment(settings))
        core = await TipsterCore.create(services)
        core.trading = Trading(core, build_brokers(settings, services.market))
        core.summary_sections.append(position_handlers.summary_section)
        core.stats_sections.append(lambda: position_handlers.stats_lines(core))
        core.health_sections.append(lambda: position_handlers.health_lines(core))
        outbox = outbox_of(services)
        core.outbox = outbox
        core.start_hooks.append(lambda ctx: outbox.unblock_chat(ctx.platform, ctx.chat_id))
        try:
            yield core
        finally:
            if core.trading is not None:
                await core.trading.close_brokers()
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
