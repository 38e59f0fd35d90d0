"""Wiring: settings in, a ready `TipsterCore` out (database open, market and sentiment chosen)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from decimal import Decimal

from bot.config_reload import CurrentMarket, SourceRebuild
from bot.core.jobs.summary import SummaryScope
from bot.core.kernel import Core
from bot.core.outbox import AlertOutbox
from bot.core.scheduler import JobScheduler, build_scheduler
from bot.core.service import Services, TipsterCore
from bot.core.usecases import positions as position_cases
from bot.core.usecases.reload import ConfigReloader
from bot.core.usecases.trading import Trading
from bot.core.vault import Vault
from bot.core.views import positions as position_views
from bot.metrics import MetricsServer, metrics_served
from bot.settings import Settings
from engine.brokers.base import Broker
from engine.brokers.paper import PaperBroker
from engine.cache import Cache, MemoryCache
from engine.closing import close_quietly
from engine.market.base import MarketData
from engine.market.cache import CachedMarket
from engine.market.replay import ReplayMarket
from engine.options.chain import ChainSource
from engine.sentiment.dated import DatedHeadlines
from engine.sentiment.protocols import NewsSource
from engine.sentiment.registry import resolve_model
from engine.sentiment_provider import CachedSentiment
from storage.store import Storage

log = logging.getLogger(__name__)


def build_cache(settings: Settings) -> Cache:
    """Redis when storage.redis_url is set (shared between processes), else a dict in this process."""
    if settings.storage.redis_url:
        from storage.redis_cache import RedisCache

        return RedisCache(settings.storage.redis_url)
    return MemoryCache()


def _live_dependency(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise SystemExit(f"market.source: live needs the `live` extra ({module} is not installed): "
                         "pip install -e '.[live]'") from None


def build_market(settings: Settings, cache: Cache | None = None) -> MarketData:
    """Replay (bundled candles, DEMO) or live: ccxt for symbols with "/", Alpaca for the rest (market.routes)."""
    if settings.market.source == "live":
        _live_dependency("ccxt")
        from engine.market.alpaca_market import AlpacaMarket
        from engine.market.ccxt_market import CcxtMarket
        from engine.market.router import RoutedMarket

        crypto = CcxtMarket(settings.market.exchange, api_url=settings.market.exchange_api_url)
        alpaca = settings.brokers.alpaca
        stocks = None
        if alpaca.key and alpaca.secret:
            stocks = AlpacaMarket(alpaca.key, alpaca.secret, data_url=settings.market.alpaca_data_url,
                                  feed=settings.market.alpaca_feed, known_symbols=settings.market.symbols)
        routed = RoutedMarket(crypto, stocks, settings.market.routes)
        return CachedMarket(routed, ttl=settings.cache.market_ttl, cache=cache)
    replay = ReplayMarket(start=settings.market.replay.start, speed=settings.market.replay.speed)
    # The replay clock moves `speed` market seconds per real second, so a cached 1h series goes stale
    # within a minute; cap the cache at a few seconds so repeated /signal calls see the new bars.
    return CachedMarket(replay, ttl=min(settings.cache.market_ttl, 5), cache=cache)


def build_options(settings: Settings) -> ChainSource | None:
    """Alpaca's option chains when the market is live and Alpaca keys are set; else None, and the options
    strategy prices a synthetic chain (labelled SYNTHETIC)."""
    alpaca = settings.brokers.alpaca
    if settings.market.source != "live" or not (alpaca.key and alpaca.secret):
        return None
    from engine.options.alpaca_options import AlpacaOptions

    return AlpacaOptions(alpaca.key, alpaca.secret, data_url=settings.market.alpaca_data_url)


def build_news_sources(settings: Settings) -> list[NewsSource]:
    """Replay: the bundled dated headlines. Live: the RSS feeds and subreddits of sentiment.*."""
    cfg = settings.sentiment
    if settings.market.source != "live":
        return [DatedHeadlines(cfg.max_age_hours)]
    _live_dependency("feedparser")
    from engine.fetching import HttpClient
    from engine.sentiment.reddit import RedditSource
    from engine.sentiment.rss import RssSource

    sources: list[NewsSource] = []
    if any(cfg.feeds().values()):
        sources.append(RssSource(cfg.feeds(), HttpClient("RSS")))
    if any(cfg.reddit().values()):
        sources.append(RedditSource(cfg.reddit(), cfg.reddit_url, HttpClient("Reddit")))
    return sources


def build_sentiment(settings: Settings, cache: Cache | None = None) -> CachedSentiment:
    """The model sentiment.model names (FinBERT needs its weights on disk) over the news sources."""
    model, _ = resolve_model(settings.sentiment.model, settings.sentiment.finbert_path)  # the CLI said the note
    return CachedSentiment(build_news_sources(settings), model, max_texts=settings.sentiment.max_texts,
                           max_age_hours=settings.sentiment.max_age_hours, ttl=settings.cache.sentiment_ttl,
                           cache=cache)


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


def build_vault() -> Vault | None:
    """The master keys of users' broker keys, from TIPSTER_SECRET_KEY only (None: key commands disabled)."""
    from bot.settings import ConfigError

    try:
        return Vault.from_env()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def own_broker_factory(settings: Settings) -> Callable[[str, str, str], Broker]:
    """Builds a broker client on a user's own account (/setkeys): the configured broker's endpoint
    (brokers.alpaca.base_url; brokers.ccxt exchange, sandbox and api_url) with the user's key and secret."""
    def build(name: str, key: str, secret: str) -> Broker:
        if name == "alpaca":
            from engine.brokers.alpaca import AlpacaBroker

            return AlpacaBroker(key, secret, paper=True, url_override=settings.brokers.alpaca.base_url)
        if name == "ccxt":
            from engine.brokers.ccxt_broker import CcxtBroker

            cfg = settings.brokers.ccxt
            return CcxtBroker(cfg.exchange, key, secret, sandbox=cfg.sandbox,
                              urls_override={"api": cfg.api_url} if cfg.api_url else None)
        raise ValueError(f"no broker {name!r} takes users' keys")

    return build


@asynccontextmanager
async def open_core(settings: Settings, *, market: MarketData | None = None) -> AsyncIterator[TipsterCore]:
    storage = await Storage.open(settings.storage.sqlite_path)
    cache = build_cache(settings)
    try:
        services = Services(settings=settings, storage=storage, market=market or build_market(settings, cache),
                            sentiment=build_sentiment(settings, cache), options=build_options(settings),
                            vault=build_vault(), broker_factory=own_broker_factory(settings))
        core = await TipsterCore.create(services)
        warm_up_model(services.sentiment)
        core.trading = Trading(core, build_brokers(settings, CurrentMarket(services)),  # type: ignore[arg-type]
                               position_views.PositionAlertPayloads())
        add_position_sections(core)
        outbox = AlertOutbox.for_db(storage.db)
        services.outbox = outbox
        core.start_hooks.append(lambda ctx: outbox.unblock_chat(ctx.platform, ctx.chat_id))
        core.reloader = ConfigReloader(settings.source_path, SourceRebuild(
            lambda new: build_market(new, cache), build_news_sources, build_options, market_fixed=market is not None))
        try:
            async with metrics_running(core):
                yield core
        finally:
            if core.trading is not None:
                await core.trading.close_brokers()
            await close_quietly(services.market, services.sentiment)
    finally:
        await cache.close()
        await storage.close()


@asynccontextmanager
async def metrics_running(core: TipsterCore) -> AsyncIterator[MetricsServer | None]:
    """The Prometheus endpoint on metrics.host:metrics.port while the block runs; nothing when the port is null."""
    cfg = core.settings.metrics
    if cfg.port is None:
        yield None
        return
    async with metrics_served(core, cfg.host, cfg.port) as server:
        yield server


def add_position_sections(core: TipsterCore) -> None:
    """What positions add to the daily summary, /stats and /health: the use case's figures in the view's lines."""
    async def summary(c: Core, scope: SummaryScope) -> list[str]:
        return position_views.summary_lines(
            await position_cases.positions_summary(c, scope.user_id, scope.since, scope.until,
                                                   everyone=scope.everywhere))

    async def stats() -> list[str]:
        return position_views.stats_lines(await position_cases.status_counts(core))

    async def health() -> list[str]:
        return position_views.health_lines(position_cases.brokers(core))

    core.summary_sections.append(summary)
    core.stats_sections.append(stats)
    core.health_sections.append(health)


def warm_up_model(sentiment: object) -> None:
    """Load FinBERT's weights in a thread now, so the first tip does not wait seconds for them."""
    warm = getattr(getattr(sentiment, "model", None), "warm_up", None)
    if warm is None:
        return

    def loaded(task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("sentiment: FinBERT could not be loaded (%s); tips say sentiment is unavailable",
                        task.exception())

    asyncio.ensure_future(asyncio.to_thread(warm)).add_done_callback(loaded)


@asynccontextmanager
async def chats_running(core: TipsterCore) -> AsyncIterator[list[str]]:
    """Telegram and/or Discord by which tokens are set, in this process, sharing the core, its storage, its
    scheduler and its outbox (each platform drains its own alerts). Yields the platforms started."""
    started: list[str] = []
    async with AsyncExitStack() as stack:
        if core.settings.telegram.token:
            from bot.telegram.runner import telegram_running

            await stack.enter_async_context(telegram_running(core))
            started.append("telegram")
        if core.settings.discord.token:
            from bot.discord.runner import discord_running

            await stack.enter_async_context(discord_running(core))
            started.append("discord")
        if not started:
            raise ValueError("no chat platform has a token (telegram.token, discord.token)")
        yield started


# s from the first SIGINT/SIGTERM to the process gone: the parts' own bounds (the scheduler's and the
# outbox's grace) fit inside it; past it a watchdog exits so that a stuck part cannot hold the process.
SHUTDOWN_DEADLINE = 9.5


def _exit_now(code: int, why: str) -> None:
    log.warning("%s: exiting at once", why)
    for handler in logging.getLogger().handlers:
        with suppress(Exception):
            handler.flush()
    os._exit(code)


class ShutdownSignal(asyncio.Event):
    """Set by the first SIGINT or SIGTERM, so a stop runs every shutdown in order (stop taking updates,
    finish the job step and the sends in flight, close storage) and the process exits 0.

    A second signal exits at once (status 128 + its number): the database is safe (SQLite's WAL), and what
    a kill leaves `sending` is re-queued at the next start. So does the watchdog `deadline` seconds after
    the first signal, unless `finished()` is called first.
    """

    def __init__(self, deadline: float = SHUTDOWN_DEADLINE) -> None:
        super().__init__()
        self.deadline = deadline
        self.watchdog: threading.Timer | None = None
        self.loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(sig, self._first, sig)

    def _first(self, sig: signal.Signals) -> None:
        if self.is_set():
            return
        log.info("%s: shutting down (send it again to exit at once)", sig.name)
        self.set()
        for other in (signal.SIGINT, signal.SIGTERM):
            # A plain handler, not the loop's: it runs even while the loop is busy with a slow step.
            with suppress(NotImplementedError, RuntimeError, ValueError):
                self.loop.remove_signal_handler(other)
                signal.signal(other, self._second)
        self.watchdog = threading.Timer(self.deadline, _exit_now,
                                        (1, f"shutdown still running after {self.deadline:g} s"))
        self.watchdog.daemon = True
        self.watchdog.start()

    @staticmethod
    def _second(signum: int, _frame: object) -> None:
        _exit_now(128 + signum, f"second {signal.Signals(signum).name} during shutdown")

    def finished(self) -> None:
        """The shutdown is over: no watchdog, and the loop's handlers are removed."""
        if self.watchdog is not None:
            self.watchdog.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError, ValueError):
                self.loop.remove_signal_handler(sig)


def stop_on_signals(deadline: float = SHUTDOWN_DEADLINE) -> ShutdownSignal:
    """An event set by the first SIGINT or SIGTERM (see ShutdownSignal); call its `finished()` when done."""
    return ShutdownSignal(deadline)


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
