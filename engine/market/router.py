"""One `MarketData` for live mode: crypto pairs to ccxt, stocks and ETFs to Alpaca (seed 000's rule).

A symbol with "/" is crypto, anything else a stock or ETF; `routes` (market.routes) overrides that per
symbol, e.g. {"GLD": "alpaca", "PAXG/USDT": "ccxt"}. A symbol routed to a source that is not configured
gets one line saying what to configure instead of a failure deeper down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from engine.market.base import MarketData, MarketUnavailable
from engine.market.symbols import normalise_symbol
from engine.models import Candles

_NEEDS: dict[str, str] = {
    "ccxt": "crypto needs a ccxt exchange: set market.exchange (e.g. binance, kraken)",
    "alpaca": "stocks and ETFs need Alpaca market data: set brokers.alpaca.key and brokers.alpaca.secret",
}


class RoutedMarket:
    name = "live"
    demo = False

    def __init__(self, crypto: MarketData | None, stocks: MarketData | None,
                 routes: Mapping[str, str] | None = None) -> None:
        self.crypto = crypto
        self.stocks = stocks
        self.routes = {normalise_symbol(k): v for k, v in (routes or {}).items()}
        unknown = {v for v in self.routes.values() if v not in _NEEDS}
        if unknown:
            raise ValueError(f"market.routes: unknown source {', '.join(sorted(unknown))}; use ccxt or alpaca")

    def route(self, symbol: str) -> str:
        normal = normalise_symbol(symbol)
        return self.routes.get(normal) or ("ccxt" if "/" in normal else "alpaca")

    def source_for(self, symbol: str) -> MarketData:
        which = self.route(symbol)
        source = self.crypto if which == "ccxt" else self.stocks
        if source is None:
            raise MarketUnavailable(f"No live source for {normalise_symbol(symbol)}: {_NEEDS[which]}.",
                                    source=which)
        return source

    def symbols(self) -> list[str]:
        found: dict[str, None] = {}
        for source in (self.crypto, self.stocks):
            if source is not None:
                found.update(dict.fromkeys(source.symbols()))
        return list(found)

    def timeframes(self, symbol: str) -> list[str]:
        return self.source_for(symbol).timeframes(symbol)

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        return await self.source_for(symbol).fetch_ohlcv(symbol, timeframe, bars)

    async def last_price(self, symbol: str) -> Decimal:
        return await self.source_for(symbol).last_price(symbol)

    async def as_of(self, symbol: str) -> datetime | None:
        return None

    async def bars_since(self, symbol: str, since: datetime) -> Candles:
        return await self.source_for(symbol).bars_since(symbol, since)

    def status(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for source in (self.crypto, self.stocks):
            if source is not None:
                out.update(source.status())
        if self.crypto is None:
            out["crypto"] = f"not configured ({_NEEDS['ccxt']})"
        if self.stocks is None:
            out["stocks"] = f"not configured ({_NEEDS['alpaca']})"
        return out

    async def close(self) -> None:
        closers = [getattr(s, "close", None) for s in (self.crypto, self.stocks) if s is not None]
        await asyncio.gather(*(c() for c in closers if c is not None), return_exceptions=True)


__all__ = ["RoutedMarket"]
