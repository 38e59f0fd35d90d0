"""The composition root's half of /reload and config.watch: build the market data and the news sources again
when their own settings changed (bot.core.usecases.reload applies everything else).

The builders are bot.app's, handed in by open_core (this module does not import bot.app, which imports it).
The sentiment model is kept (its weights stay loaded); only the news it reads and the cache's terms change.
A replay market is rebuilt only when its own settings change: a new one would start its clock again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.core.kernel import Core
from bot.settings import ConfigError, Settings
from engine.market.base import MarketData
from engine.sentiment.protocols import NewsSource
from engine.sentiment_provider import CachedSentiment

log = logging.getLogger(__name__)

# The settings each part is built from.
MARKET_KEYS = ("market.source", "market.exchange", "market.exchange_api_url", "market.alpaca_data_url",
               "market.alpaca_feed", "market.routes", "market.replay", "cache.market_ttl")
NEWS_KEYS = ("market.source", "sentiment.rss_feeds", "sentiment.subreddits", "sentiment.reddit_url",
             "sentiment.max_age_hours", "sentiment.max_texts", "cache.sentiment_ttl")


def _touches(changed: list[str], keys: tuple[str, ...]) -> bool:
    return any(k == key or k.startswith(key + ".") for k in changed for key in keys)


class SourceRebuild:
    """bot.core.usecases.reload.Rebuild over bot.app's builders."""

    def __init__(self, build_market: Callable[[Settings], MarketData],
                 build_news: Callable[[Settings], list[NewsSource]],
                 build_options: Callable[[Settings], Any], *, market_fixed: bool = False) -> None:
        self.build_market = build_market
        self.build_news = build_news
        self.build_options = build_options
        self.market_fixed = market_fixed  # a market handed in by the caller (tests) is never replaced

    async def __call__(self, core: Core, new: Settings, changed: list[str]) -> list[str]:
        services = core.services
        market = options = sentiment = None
        live = new.market.source == "live"
        # Alpaca's symbol list is the live market's own knowledge; the replay serves its bundled symbols.
        if not self.market_fixed and (_touches(changed, MARKET_KEYS) or (live and "market.symbols" in changed)):
            market, options = self._built(lambda: self.build_market(new), "market"), self.build_options(new)
        if _touches(changed, NEWS_KEYS):
            model = getattr(services.sentiment, "model", None)
            if model is None:
                raise ConfigError("sentiment: the running provider cannot take new news sources; restart")
            cfg = new.sentiment
            sources = self._built(lambda: self.build_news(new), "sentiment")
            sentiment = CachedSentiment(sources, model, max_texts=cfg.max_texts, max_age_hours=cfg.max_age_hours,
                                        ttl=new.cache.sentiment_ttl, cache=getattr(services.sentiment, "cache", None))
        rebuilt, retired = [], []
        if market is not None:
            retired.append(services.market)
            services.market, services.options = market, options
            rebuilt.append("market data")
        if sentiment is not None:
            retired.append(services.sentiment)
            services.sentiment = sentiment
            rebuilt.append("news sources")
        for part in retired:  # after the swap: new requests already go to the new parts
            close = getattr(part, "close", None) or getattr(part, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    log.warning("closing the replaced %s failed", type(part).__name__, exc_info=True)
        return rebuilt

    @staticmethod
    def _built(build: Callable[[], Any], section: str) -> Any:
        try:
            return build()
        except SystemExit as exc:  # bot.app's builders stop start-up with one line (a missing extra)
            raise ConfigError(f"{section}: {exc}") from None


class CurrentMarket:
    """The market the services hold now, for parts built once (the paper broker's prices): /reload may
    replace the market, and a fill must never be priced by the one it retired."""

    def __init__(self, services: Any) -> None:
        self._services = services

    def __getattr__(self, name: str) -> Any:
        return getattr(self._services.market, name)
