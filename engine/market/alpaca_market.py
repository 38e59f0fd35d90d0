"""Live US stock and ETF bars from Alpaca's market-data REST API (v2), with the project's async client.

Not alpaca-py's data client: it uses `requests` with no timeout and its own fixed retries that ignore
Retry-After (issue 8). `engine.fetching.HttpClient` gives every call a timeout, honours Retry-After and
stops at once on refused keys. The keys travel only in the APCA-API-* headers, which are never logged.

Stocks trade in sessions, so freshness is measured in session time (engine.market.sessions): Friday's last
bar read on Sunday is current, a bar missing for more than two timeframes of open market is stale. Bars are
computed on closed bars only: an intraday bar closes at open + timeframe, a daily bar at its session's close.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

from engine.fetching import DEFAULT_POLICY, FetchPolicy, HttpClient, SourceError, SourceHealth
from engine.market import sessions
from engine.market.base import MarketUnavailable, NoData, StaleData, UnknownSymbol, UnknownTimeframe
from engine.market.resample import TIMEFRAMES, Bars, timeframe_seconds
from engine.market.symbols import normalise_symbol
from engine.market.validation import MalformedCandles, checked_bars, checked_price, live_candles
from engine.models import Candles

log = logging.getLogger(__name__)

DEFAULT_DATA_URL = "https://data.alpaca.markets"
ALPACA_TIMEFRAMES = {"15m": "15Min", "1h": "1Hour", "4h": "4Hour", "1d": "1Day"}
FEED_NAMES = {"iex": "IEX", "sip": "SIP", "delayed_sip": "delayed SIP", "otc": "OTC"}
# Alpaca's own symbol rule is looser; this keeps a typed symbol from becoming another URL path.
_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
_PAGE_LIMIT = 10_000  # Alpaca's maximum per page
_MAX_PAGES = 20
_SAMPLE = 8


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: object) -> int:
    if not isinstance(text, str):
        raise MalformedCandles(f"bar time {str(text)[:20]!r} is not a timestamp")
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise MalformedCandles(f"bar time {text[:30]!r} is not a timestamp") from None


class AlpacaMarket:
    """`MarketData` for US stocks and ETFs from Alpaca's data API."""

    name = "alpaca"
    demo = False

    def __init__(self, key: str, secret: str, *, data_url: str | None = None, feed: str = "iex",
                 known_symbols: Iterable[str] = (), policy: FetchPolicy = DEFAULT_POLICY,
                 clock: Callable[[], float] = time.time) -> None:
        if not key or not secret:
            raise ValueError("Alpaca market data needs brokers.alpaca.key and brokers.alpaca.secret")
        self.feed = feed
        self.base_url = (data_url or DEFAULT_DATA_URL).rstrip("/")
        self.source = f"Alpaca {FEED_NAMES.get(feed, feed)} feed · live"
        self.policy = policy
        self._known = sorted({normalise_symbol(s) for s in known_symbols if "/" not in s})
        self._clock = clock
        self._client = HttpClient("Alpaca data", policy=policy,
                                  base_headers={"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret})
        self._health = SourceHealth(self._clock)

    async def close(self) -> None:
        await self._client.aclose()

    # ---- plumbing -----------------------------------------------------------------------------------------

    def _succeeded(self) -> None:
        self._health.succeeded()

    def _failed(self, message: str) -> None:
        self._health.failed(message)

    def _unknown(self, symbol: str) -> UnknownSymbol:
        close = difflib.get_close_matches(symbol, self._known, n=5, cutoff=0.5)
        return UnknownSymbol(symbol, close or self._known[:_SAMPLE])

    def _unavailable(self, exc: SourceError) -> MarketUnavailable:
        if exc.auth:
            message = (f"Alpaca refused the API key (HTTP {exc.status or 401}); check brokers.alpaca.key/secret "
                       f"(and that your plan includes the {self.feed} feed, market.alpaca_feed)")
            self._failed(f"Alpaca refused the API key (HTTP {exc.status or 401})")
            return MarketUnavailable(message, auth=True, source=self.name)
        tail = f" after {self.policy.attempts} tries; try again later" if exc.transient else ""
        self._failed(f"Alpaca data: {exc.message}")
        return MarketUnavailable(f"Alpaca market data unavailable: {exc.message}{tail}.", source=self.name)

    def _malformed(self, symbol: str, what: str, reason: str) -> MarketUnavailable:
        message = f"Alpaca sent a malformed answer for {symbol} {what} ({reason})"
        self._failed(message)
        return MarketUnavailable(f"{message}; try again later.", source=self.name)

    async def _get_json(self, path: str, params: dict[str, Any], symbol: str, what: str) -> dict[str, Any]:
        """GET under the retry policy; 404/422 → UnknownSymbol, other failures → MarketUnavailable."""
        try:
            response = await self._client.get(f"{self.base_url}{path}", params=params)
        except SourceError as exc:
            if exc.status in (404, 422):
                self._succeeded()  # the service answered: it just does not know the symbol
                raise self._unknown(symbol) from None
            log.warning("Alpaca data %s %s failed: %s", symbol, what, exc.message)
            raise self._unavailable(exc) from None
        try:
            body = response.json()
        except ValueError:
            raise self._malformed(symbol, what, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise self._malformed(symbol, what, f"a JSON {type(body).__name__} instead of an object")
        self._succeeded()
        return body

    def _symbol(self, symbol: str) -> str:
        normal = normalise_symbol(symbol)
        if not _SYMBOL_RE.match(normal):
            raise self._unknown(normal)
        return normal

    # ---- bars ---------------------------------------------------------------------------------------------

    def _start(self, now: datetime, timeframe: str, bars: int) -> datetime:
        """Far enough back for `bars` bars: counted in regular sessions (weekends and holidays skipped),
        assuming only regular-session bars exist, plus a margin of two sessions."""
        seconds = timeframe_seconds(timeframe)
        per_session = max(1, math.floor(sessions.SESSION_SECONDS / seconds))
        needed = math.ceil((bars + 1) / per_session) + 2
        day = sessions.trading_days_back(now, needed)
        return datetime.combine(day, datetime.min.time(), sessions.NEW_YORK)

    async def _bars(self, symbol: str, timeframe: str, start: datetime,
                    alpaca_timeframe: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"timeframe": alpaca_timeframe or ALPACA_TIMEFRAMES[timeframe],
                                  "start": _rfc3339(start),
                                  "limit": _PAGE_LIMIT, "adjustment": "raw", "feed": self.feed, "sort": "asc"}
        rows: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            body = await self._get_json(f"/v2/stocks/{symbol}/bars", params, symbol, f"{timeframe} bars")
            page = body.get("bars") or []  # Alpaca sends null when there are none
            if not isinstance(page, list):
                raise self._malformed(symbol, f"{timeframe} bars", "bars is not a list")
            rows.extend(page)
            token = body.get("next_page_token")
            if not token:
                break
            params = {**params, "page_token": token}
        return rows

    def _parse(self, symbol: str, timeframe: str, rows: list[dict[str, Any]]) -> Bars:
        try:
            table = []
            for i, bar in enumerate(rows):
                if not isinstance(bar, dict):
                    raise MalformedCandles(f"bar {i} is not an object")
                table.append([_epoch(bar.get("t"))] + [bar.get(k) for k in ("o", "h", "l", "c", "v")])
            return checked_bars(table)
        except MalformedCandles as exc:
            raise self._malformed(symbol, f"{timeframe} bars", str(exc)) from None

    @staticmethod
    def _close_times(bars: Bars, timeframe: str) -> np.ndarray:
        """When each bar closes: open + timeframe intraday; for daily bars, that day's session close."""
        if timeframe != "1d":
            return bars.timestamps + timeframe_seconds(timeframe)
        days = (datetime.fromtimestamp(int(t), tz=UTC).astimezone(sessions.NEW_YORK).date() for t in bars.timestamps)
        return np.array([int(sessions.session_close(d).timestamp()) for d in days], dtype=np.int64)

    async def _latest_trade(self, symbol: str) -> float | None:
        """The latest trade's price; None when there is none or the call failed (bars decide then)."""
        try:
            body = await self._get_json(f"/v2/stocks/{symbol}/trades/latest", {"feed": self.feed}, symbol,
                                        "latest trade")
        except (UnknownSymbol, MarketUnavailable):
            return None
        trade = body.get("trade")
        return checked_price(trade.get("p") if isinstance(trade, dict) else None)

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        if isinstance(bars, bool) or not isinstance(bars, int) or bars < 1:
            raise ValueError(f"bars must be a positive integer, got {bars!r}")
        normal = self._symbol(symbol)
        if timeframe not in ALPACA_TIMEFRAMES:
            raise UnknownTimeframe(normal, timeframe, self.timeframes(normal), where="on Alpaca")
        now_ts = self._clock()
        now = datetime.fromtimestamp(now_ts, tz=UTC)
        trade = asyncio.ensure_future(self._latest_trade(normal))
        try:
            rows = await self._bars(normal, timeframe, self._start(now, timeframe, bars))
        except BaseException:
            trade.cancel()
            raise
        last_trade = await trade
        parsed = self._parse(normal, timeframe, rows)
        if len(parsed) == 0:
            if last_trade is None:
                raise self._unknown(normal)
            raise NoData(f"Alpaca has no {timeframe} bars of {normal} on the {self.feed} feed since "
                         f"{self._start(now, timeframe, bars):%Y-%m-%d}")
        closes = self._close_times(parsed, timeframe)
        closed = int(np.searchsorted(closes, now_ts, side="right"))
        if closed == 0:
            raise NoData(f"Alpaca has no closed {timeframe} bars of {normal} yet")
        start = max(0, closed - bars)
        window = parsed.slice(start, closed)
        last_close = datetime.fromtimestamp(int(closes[closed - 1]), tz=UTC)
        unit = min(timeframe_seconds(timeframe), sessions.SESSION_SECONDS)
        if sessions.session_seconds_between(last_close, now) > 2 * unit:
            limit = "two trading sessions" if timeframe == "1d" else f"two {timeframe} bars of trading session"
            raise StaleData(normal, timeframe, last_close, now, limit)
        price = last_trade if last_trade is not None else float(window.close[-1])
        note = None
        if not sessions.is_open(now):
            used = sessions.last_session_close(now)
            note = f"US market closed · last close {used:%a %Y-%m-%d %H:%M} ET"
        return live_candles(normal, timeframe, window, source=self.source, last_price=price,
                            price_decimals=self._decimals(price), session_note=note)

    async def bars_since(self, symbol: str, since: datetime) -> Candles:
        """1Min bars that opened at or after `since` (none outside the session): what the position monitor
        needs to see a level touched between two of its looks. The last is `forming` while its minute runs."""
        normal = self._symbol(symbol)
        now_ts = self._clock()
        start = datetime.fromtimestamp(math.ceil(since.timestamp()), tz=UTC)
        parsed = self._parse(normal, "1m", await self._bars(normal, "1m", start, "1Min"))
        keep = int(np.searchsorted(parsed.timestamps, since.timestamp(), side="left"))
        window = parsed.slice(keep, len(parsed))
        forming = bool(len(window)) and int(window.timestamps[-1]) + 60 > now_ts
        decimals = self._decimals(float(window.close[-1])) if len(window) else 2
        return Candles(symbol=normal, timeframe="1m", timestamps=window.timestamps, open=window.open,
                       high=window.high, low=window.low, close=window.close, volume=window.volume,
                       source=self.source, demo=False, forming=forming, price_decimals=decimals)

    @staticmethod
    def _decimals(price: float) -> int:
        """US equities quote in $0.01 ticks at or above $1 and $0.0001 below (Reg NMS rule 612)."""
        return 2 if price >= 1 else 4

    # ---- MarketData ---------------------------------------------------------------------------------------

    def symbols(self) -> list[str]:
        return list(self._known)

    def timeframes(self, symbol: str) -> list[str]:
        self._symbol(symbol)
        return [tf for tf in TIMEFRAMES if tf in ALPACA_TIMEFRAMES]

    async def as_of(self, symbol: str) -> datetime | None:
        return None

    async def last_price(self, symbol: str) -> Decimal:
        normal = self._symbol(symbol)
        body = await self._get_json(f"/v2/stocks/{normal}/trades/latest", {"feed": self.feed}, normal,
                                    "latest trade")
        trade = body.get("trade")
        price = checked_price(trade.get("p") if isinstance(trade, dict) else None)
        if price is None:
            raise self._malformed(normal, "latest trade", "no usable price")
        step = Decimal(1).scaleb(-self._decimals(price))
        return Decimal(repr(price)).quantize(step, ROUND_HALF_EVEN)

    def status(self) -> dict[str, str]:
        key = f"alpaca data ({self.feed})"
        return {key: self._health.line("idle · no request yet", "")}


__all__ = ["ALPACA_TIMEFRAMES", "DEFAULT_DATA_URL", "AlpacaMarket"]
