"""Live crypto candles from any ccxt exchange's public REST API (no keys), spot markets only.

One ccxt exchange object per source: markets are loaded once (a failed or empty load is retried on the
next request, never cached), OHLCV and the ticker are fetched concurrently, and every call runs under the
project's retry policy (engine.fetching) with ccxt's own timeout set to the policy's. ccxt's errors become a
one-line `MarketUnavailable`; nothing raw escapes, because the chat shows the message as it is.

Tips are computed on closed bars only: the exchange's last kline is the bar forming now and repaints until
it closes, so one extra bar is requested and the forming one dropped. The card's price is the ticker's last
trade. A last closed bar that closed more than two timeframes ago means the market is halted or the feed is
stuck: StaleData, never a tip presented as current.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np

from engine.fetching import (
    DEFAULT_POLICY,
    AuthFailed,
    FetchPolicy,
    SourceError,
    SourceHealth,
    parse_retry_after,
    with_retries,
)
from engine.market.base import MarketUnavailable, NoData, StaleData, UnknownSymbol, UnknownTimeframe
from engine.market.resample import TIMEFRAMES, Bars, timeframe_seconds
from engine.market.symbols import normalise_symbol
from engine.market.validation import MalformedCandles, checked_bars, checked_price, live_candles
from engine.models import Candles

log = logging.getLogger(__name__)
T = TypeVar("T")

# Exchanges to suggest when one refuses our location (Binance answers US addresses with HTTP 451).
ALTERNATIVES: dict[str, str] = {"binance": "kraken, coinbase or binanceus"}
_DEFAULT_ALTERNATIVE = "kraken or coinbase"
# ccxt's HTTP-status errors read "<id> <METHOD> <url> <status> <reason> <body>"; URLs hold no spaces.
_HTTP_STATUS = re.compile(r"^\S+ [A-Z]+ \S+ (\d{3}) ")
_MAX_PAGES = 10
_SAMPLE = 8


def rebase_urls(api: Any, origin: str) -> Any:
    """Every URL in ccxt's `urls['api']` (a string, or dicts of them nested to any depth) moved onto
    `origin`, each keeping its path: https://api.binance.com/api/v3 on http://127.0.0.1:8080 →
    http://127.0.0.1:8080/api/v3. Values that are not strings or dicts are kept as they are."""
    if isinstance(api, dict):
        return {key: rebase_urls(value, origin) for key, value in api.items()}
    if isinstance(api, str):
        target, source = urlsplit(origin), urlsplit(api)
        query = f"?{source.query}" if source.query else ""
        return f"{target.scheme}://{target.netloc}{target.path.rstrip('/')}{source.path}{query}"
    return api


def _one_line(text: str, limit: int = 160) -> str:
    return " ".join(text.split())[:limit]


def _readable(timeframe: str) -> bool:
    try:
        timeframe_seconds(timeframe)
    except ValueError:  # e.g. Binance's 1s or 1M (month), which the project's timeframes do not name
        return False
    return True


def tick_decimals(tick: float | str | Decimal) -> int:
    """Decimals shown for a tick size: 0.01 → 2, 1e-05 → 5, 0.5 → 1, 10 → 0."""
    exponent = Decimal(str(tick)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2


class CcxtMarket:
    """`MarketData` for crypto spot pairs through `ccxt.async_support` (public endpoints only)."""

    demo = False

    def __init__(self, exchange_id: str = "binance", *, api_url: str | None = None,
                 policy: FetchPolicy = DEFAULT_POLICY, clock: Callable[[], float] = time.time) -> None:
        import ccxt.async_support as ccxt_async  # 0.35 s: paid only when a live source is configured

        cls = getattr(ccxt_async, exchange_id, None)
        if not (isinstance(cls, type) and issubclass(cls, ccxt_async.Exchange)):
            raise ValueError(f"ccxt has no exchange {exchange_id!r} (market.exchange); try binance, kraken or "
                             "coinbase")
        self.exchange: Any = cls({
            "enableRateLimit": True,
            # Exchanges budget requests per minute (Binance: 6,000 weight/min); ccxt's default leaky bucket
            # spaces every request out instead, which makes a cold tip wait 200 ms after exchangeInfo.
            "rateLimiterAlgorithm": "rollingWindow",
            "timeout": int(policy.timeout * 1000),
            "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
        })
        if not self.exchange.has.get("fetchOHLCV"):
            raise ValueError(f"ccxt's {exchange_id} has no public OHLCV (market.exchange)")
        if api_url:
            self.exchange.urls["api"] = rebase_urls(self.exchange.urls["api"], api_url)
        self.exchange_id = exchange_id
        self.name = f"ccxt {exchange_id}"
        self.title = str(self.exchange.name or exchange_id)
        self.source = f"{self.title} spot via ccxt · live"
        self.policy = policy
        self._api_url = api_url
        self._clock = clock
        self._markets: dict[str, dict[str, Any]] | None = None
        self._reload = False  # a load that failed or came back empty must hit the exchange again
        self._lock = asyncio.Lock()
        self._health = SourceHealth(self._clock)
        self._ccxt_errors = ccxt_async  # the module, for its exception classes

    # ---- plumbing -----------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Release ccxt's aiohttp session (ccxt warns about, and leaks, an exchange that is not closed)."""
        await self.exchange.close()

    def _translate(self, exc: Exception) -> SourceError:
        """A ccxt (or aiohttp) exception as a SourceError with a one-line message (ccxt's carry the URL and
        the exchange's body, never a key: these are public endpoints)."""
        cx = self._ccxt_errors
        text = str(exc)
        match = _HTTP_STATUS.match(text)
        status = int(match.group(1)) if match else None
        if status == 451 or "restricted location" in text:
            other = ALTERNATIVES.get(self.exchange_id, _DEFAULT_ALTERNATIVE)
            return SourceError(self.name, f"{self.title} refuses requests from this location (HTTP 451); set "
                                          f"market.exchange to {other}", status=451)
        if isinstance(exc, cx.DDoSProtection | cx.RateLimitExceeded):
            headers = self.exchange.last_response_headers or {}
            after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
            return SourceError(self.name, f"{self.title} is rate limiting us (HTTP {status or 429})",
                               transient=True, retry_after=after, status=status or 429)
        if isinstance(exc, cx.AuthenticationError | cx.PermissionDenied):
            return AuthFailed(self.name, f"{self.title} refused the request ({type(exc).__name__})", status=status)
        if isinstance(exc, cx.RequestTimeout):
            return SourceError(self.name, f"{self.title} did not answer within {self.policy.timeout:g} s",
                               transient=True, status=status)
        if status == 404:
            hint = " (is market.exchange_api_url right?)" if self._api_url else ""
            return SourceError(self.name, f"{self.title} has no such endpoint (HTTP 404){hint}", status=404)
        if isinstance(exc, cx.ExchangeNotAvailable | cx.NetworkError | cx.OperationFailed):
            what = f"HTTP {status}" if status else type(exc).__name__
            return SourceError(self.name, f"{self.title} is unavailable ({what})", transient=True, status=status)
        if isinstance(exc, cx.ExchangeError):
            return SourceError(self.name, f"{self.title} refused the request: {_one_line(text)}", status=status)
        if isinstance(exc, TimeoutError):
            return SourceError(self.name, f"{self.title} did not answer within {self.policy.timeout:g} s",
                               transient=True)
        if isinstance(exc, OSError):  # aiohttp's connection errors, should ccxt not wrap one
            return SourceError(self.name, f"{self.title} is unreachable ({type(exc).__name__})", transient=True)
        return SourceError(self.name, f"{self.title} sent an answer ccxt could not read ({type(exc).__name__})")

    async def _call(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """One ccxt call under the retry policy; afterwards a one-line MarketUnavailable, never a raw error."""

        async def once() -> T:
            try:
                # ccxt's own timeout covers the HTTP exchange; this also bounds a wait in its rate limiter
                async with asyncio.timeout(self.policy.timeout + 1.0):
                    return await fn()
            except SourceError:
                raise
            except Exception as exc:  # every ccxt/aiohttp failure is translated: none escapes raw
                raise self._translate(exc) from exc

        try:
            result = await with_retries(once, what=f"{self.name} {what}", policy=self.policy)
        except SourceError as exc:
            self._failed(exc.message)
            tail = f" after {self.policy.attempts} tries; try again later" if exc.transient else ""
            log.warning("%s %s failed: %s%s", self.name, what, exc.message, tail)
            raise MarketUnavailable(f"{exc.message}{tail}.", auth=exc.auth, source=self.name) from None
        self._succeeded()
        return result

    def _succeeded(self) -> None:
        self._health.succeeded()

    def _failed(self, message: str) -> None:
        self._health.failed(message)

    def _malformed(self, symbol: str, timeframe: str, reason: str) -> MarketUnavailable:
        message = f"{self.title} sent a malformed answer for {symbol} {timeframe} ({reason})"
        self._failed(message)
        return MarketUnavailable(f"{message}; try again later.", source=self.name)

    # ---- markets ------------------------------------------------------------------------------------------

    async def _load_markets(self) -> dict[str, dict[str, Any]]:
        if self._markets is not None:
            return self._markets
        async with self._lock:
            if self._markets is None:
                reload = self._reload
                markets = await self._call(lambda: self.exchange.load_markets(reload), "load markets")
                spot = {s: m for s, m in (markets or {}).items() if isinstance(m, dict) and m.get("spot")}
                if not spot:
                    self._reload = True
                    message = f"{self.title} listed no spot markets (a malformed answer?)"
                    self._failed(message)
                    raise MarketUnavailable(f"{message}; try again later.", source=self.name)
                self._markets = spot
        return self._markets

    async def load_markets(self) -> int:
        """Load the exchange's spot markets now (e.g. at start-up) rather than on the first request; returns
        how many there are. Raises MarketUnavailable like any request."""
        return len(await self._load_markets())

    def _unknown(self, symbol: str, markets: dict[str, dict[str, Any]]) -> UnknownSymbol:
        names = sorted(markets)
        close = difflib.get_close_matches(symbol, names, n=5, cutoff=0.6)
        if not close:
            quote = symbol.partition("/")[2]
            same_quote = [s for s in names if quote and s.endswith(f"/{quote}")]
            close = (same_quote or names)[:_SAMPLE]
        return UnknownSymbol(symbol, close)

    async def _market(self, symbol: str) -> tuple[str, dict[str, Any]]:
        normal = normalise_symbol(symbol)
        markets = await self._load_markets()
        market = markets.get(normal)
        if market is None:
            raise self._unknown(normal, markets)
        return normal, market

    def _timeframes(self) -> list[str]:
        offered = self.exchange.timeframes or {}
        return [tf for tf in TIMEFRAMES if tf in offered]

    def _price_decimals(self, market: dict[str, Any], reference: float) -> int:
        from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

        precision = (market.get("precision") or {}).get("price")
        mode = self.exchange.precisionMode
        if precision is not None:
            if mode == TICK_SIZE:
                return tick_decimals(precision)
            if mode == DECIMAL_PLACES:
                return max(0, int(precision))
            if mode == SIGNIFICANT_DIGITS and reference > 0:
                return min(8, max(0, int(precision) - 1 - math.floor(math.log10(reference))))
        # Unknown precision: six significant digits, at least two decimals.
        return min(8, max(2, 5 - math.floor(math.log10(reference)))) if reference > 0 else 2

    def _to_tick(self, market: dict[str, Any], price: float) -> Decimal:
        from ccxt.base.decimal_to_precision import TICK_SIZE

        decimals = self._price_decimals(market, price)
        value = Decimal(repr(price))
        tick = (market.get("precision") or {}).get("price")
        if self.exchange.precisionMode == TICK_SIZE and tick:
            step = Decimal(str(tick))
            value = (value / step).to_integral_value(ROUND_HALF_EVEN) * step
        return value.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_EVEN)

    # ---- MarketData ---------------------------------------------------------------------------------------

    def symbols(self) -> list[str]:
        """The exchange's spot symbols once markets are loaded (empty before the first request)."""
        return sorted(self._markets or {})

    def timeframes(self, symbol: str) -> list[str]:
        normal = normalise_symbol(symbol)
        if self._markets is not None and normal not in self._markets:
            raise self._unknown(normal, self._markets)
        return self._timeframes()

    async def as_of(self, symbol: str) -> datetime | None:
        return None

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        if isinstance(bars, bool) or not isinstance(bars, int) or bars < 1:
            raise ValueError(f"bars must be a positive integer, got {bars!r}")
        normal, market = await self._market(symbol)
        if timeframe not in self._timeframes():
            raise UnknownTimeframe(normal, timeframe, self._timeframes(), where=f"on {self.title}")
        seconds = timeframe_seconds(timeframe)
        ticker = asyncio.ensure_future(self._ticker_price(normal))
        try:
            window = await self._closed_bars(normal, timeframe, seconds, bars)
        except BaseException:
            ticker.cancel()
            raise
        last = await ticker
        now = self._clock()
        last_close = int(window.timestamps[-1]) + seconds
        if now - last_close > 2 * seconds:
            raise StaleData(normal, timeframe, datetime.fromtimestamp(last_close, tz=UTC),
                            datetime.fromtimestamp(now, tz=UTC), f"two {timeframe} bars")
        last_price = last if last is not None else float(window.close[-1])
        return live_candles(normal, timeframe, window, source=self.source, last_price=last_price,
                            price_decimals=self._price_decimals(market, last_price))

    async def _closed_bars(self, symbol: str, timeframe: str, seconds: int, bars: int) -> Bars:
        """The last `bars` closed bars (one more is requested: the exchange's last is still forming)."""
        wanted = bars + 1
        limit = int(((self.exchange.features or {}).get("spot") or {}).get("fetchOHLCV", {}).get("limit") or 1000)
        what = f"{symbol} {timeframe} candles"
        if wanted <= limit:
            rows = await self._call(lambda: self.exchange.fetch_ohlcv(symbol, timeframe, None, wanted), what)
            chunks = [rows]
        else:
            chunks = await self._paged(symbol, timeframe, seconds, wanted, limit, what)
        try:
            parsed = [checked_bars(chunk, time_scale=1000) for chunk in chunks]
        except MalformedCandles as exc:
            raise self._malformed(symbol, timeframe, str(exc)) from None
        merged = parsed[0]
        for more in parsed[1:]:  # pages may overlap by a bar: keep only what is newer than what we have
            start = int(np.searchsorted(more.timestamps, merged.timestamps[-1], side="right")) if len(merged) else 0
            merged = merged.concat(more.slice(start, len(more)))
        closed = int(np.searchsorted(merged.timestamps, self._clock() - seconds, side="right"))
        if closed == 0:
            raise NoData(f"{self.title} has no closed {timeframe} bars of {symbol} yet")
        return merged.slice(max(0, closed - bars), closed)

    async def _paged(self, symbol: str, timeframe: str, seconds: int, wanted: int, limit: int,
                     what: str) -> list[list[Any]]:
        """More bars than one request may ask for: walk forward from the first wanted bar."""
        bucket = int(self._clock()) // seconds * seconds
        since = (bucket - (wanted - 1) * seconds) * 1000
        chunks: list[list[Any]] = []
        for _ in range(_MAX_PAGES):
            rows = await self._call(lambda start=since: self.exchange.fetch_ohlcv(symbol, timeframe, start, limit),
                                    what)
            if not isinstance(rows, list) or not rows:
                break
            chunks.append(rows)
            first = rows[-1][0] if isinstance(rows[-1], list | tuple) and rows[-1] else None
            if len(rows) < limit or not isinstance(first, int | float):
                break
            since = int(first) + seconds * 1000
        return chunks or [[]]

    def _finest(self) -> tuple[str, int]:
        """1m when the exchange offers it (it almost always does), else its finest timeframe we can read."""
        offered = [tf for tf in (self.exchange.timeframes or {}) if _readable(tf)]
        if "1m" in offered or not offered:
            return "1m", 60
        finest = min(offered, key=timeframe_seconds)
        return finest, timeframe_seconds(finest)

    async def bars_since(self, symbol: str, since: datetime) -> Candles:
        """1m klines that opened at or after `since`, the forming one last (its high and low so far are
        trades), walking forward a page at a time (at most _MAX_PAGES)."""
        normal, market = await self._market(symbol)
        timeframe, seconds = self._finest()
        now = self._clock()
        start = math.ceil(since.timestamp()) * 1000
        minutes = max(1, int((now - since.timestamp()) // seconds) + 2)  # the bars there can be, and one
        limit = int(((self.exchange.features or {}).get("spot") or {}).get("fetchOHLCV", {}).get("limit") or 1000)
        what = f"{normal} {timeframe} candles since {since:%H:%M}"
        chunks: list[list[Any]] = []
        for _ in range(_MAX_PAGES):
            wanted = min(limit, minutes)
            rows = await self._call(lambda at=start, n=wanted: self.exchange.fetch_ohlcv(normal, timeframe, at, n),
                                    what)
            if not isinstance(rows, list) or not rows:
                break
            chunks.append(rows)
            last = rows[-1][0] if isinstance(rows[-1], list | tuple) and rows[-1] else None
            minutes -= len(rows)
            if len(rows) < wanted or minutes <= 0 or not isinstance(last, int | float):
                break
            start = int(last) + seconds * 1000
        try:
            parsed = [checked_bars(chunk, time_scale=1000) for chunk in chunks] or [checked_bars([])]
        except MalformedCandles as exc:
            raise self._malformed(normal, timeframe, str(exc)) from None
        merged = parsed[0]
        for more in parsed[1:]:
            first = int(np.searchsorted(more.timestamps, merged.timestamps[-1], side="right")) if len(merged) else 0
            merged = merged.concat(more.slice(first, len(more)))
        # an exchange may answer a bar from before `since` (its own alignment): only what opened after it counts
        keep = int(np.searchsorted(merged.timestamps, since.timestamp(), side="left"))
        merged = merged.slice(keep, len(merged))
        forming = bool(len(merged)) and int(merged.timestamps[-1]) + seconds > now
        reference = float(merged.close[-1]) if len(merged) else 0.0
        return Candles(symbol=normal, timeframe=timeframe, timestamps=merged.timestamps, open=merged.open,
                       high=merged.high, low=merged.low, close=merged.close, volume=merged.volume,
                       source=self.source, demo=False, forming=forming,
                       price_decimals=self._price_decimals(market, reference))

    async def _ticker_price(self, symbol: str) -> float | None:
        """The last traded price, or None (then the card falls back to the last close)."""
        try:
            ticker = await self._call(lambda: self.exchange.fetch_ticker(symbol), f"{symbol} ticker")
        except MarketUnavailable:
            return None
        price = checked_price(ticker.get("last") if isinstance(ticker, dict) else None)
        if price is None:
            log.warning("%s %s ticker: no usable last price; using the last close", self.name, symbol)
        return price

    async def last_price(self, symbol: str) -> Decimal:
        normal, market = await self._market(symbol)
        ticker = await self._call(lambda: self.exchange.fetch_ticker(normal), f"{normal} ticker")
        price = checked_price(ticker.get("last") if isinstance(ticker, dict) else None)
        if price is None:
            raise self._malformed(normal, "ticker", "no usable last price")
        return self._to_tick(market, price)

    def status(self) -> dict[str, str]:
        key = self.name
        markets = f"{len(self._markets or {}):,} spot markets · "
        return {key: self._health.line("idle · markets load on the first request", markets)}


__all__ = ["CcxtMarket", "rebase_urls", "tick_decimals"]
