"""Market data: the `MarketData` protocol, its errors, the bundled replay source and a TTL cache."""

from engine.market.base import MarketData, MarketError, NoData, UnknownSymbol, UnknownTimeframe
from engine.market.cache import CachedMarket
from engine.market.replay import ReplayMarket
from engine.market.resample import timeframe_seconds

__all__ = [
    "CachedMarket",
    "MarketData",
    "MarketError",
    "NoData",
    "ReplayMarket",
    "UnknownSymbol",
    "UnknownTimeframe",
    "timeframe_seconds",
]
