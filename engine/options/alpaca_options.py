"""An option chain from Alpaca when keys are set: quotes and Greeks from the market-data API, open interest from
the trading API, both through the project's HTTP client (timeouts, retries, Retry-After; keys only in headers).

* ``GET {data}/v1beta1/options/snapshots/{underlying}`` (docs.alpaca.markets/reference/optionchain) with feed
  (``indicative`` free, ``opra`` with a subscription), type (call/put), expiration_date_gte/lte, limit (≤ 1000)
  and page_token → ``{"snapshots": {OCC symbol: {"latestQuote": {"bp", "ap", …}, "latestTrade": {"p", …},
  "greeks": {"delta", "gamma", "theta", "vega", "rho"}, "impliedVolatility": …}}, "next_page_token": …}``.
  A snapshot carries no open interest.
* ``GET {trading}/v2/options/contracts`` with underlying_symbols, type, expiration_date_gte/lte, status=active,
  limit (≤ 10000) and page_token → ``{"option_contracts": [{"symbol", "type", "strike_price", "expiration_date",
  "open_interest" (a string, or null), …}], "next_page_token": …}``: the open interest, as of the last session.

Expiry, strike and kind are read from the OCC symbol (root, YYMMDD, C/P, strike × 1000). A contract whose
snapshot has no Greeks (the feed sends none when it cannot solve for volatility) gets Black-Scholes Greeks
from its implied volatility when it has one; without either it has no delta and fails the delta filter.
Every failure is one line (`OptionsUnavailable`), never a header.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from engine.fetching import DEFAULT_POLICY, FetchPolicy, HttpClient, SourceError
from engine.market import sessions
from engine.market.symbols import normalise_symbol
from engine.models import Candles
from engine.options.black_scholes import Kind, black_scholes, per_day_theta, per_point
from engine.options.chain import OptionChain, OptionContract, OptionsUnavailable, tip_date

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_DATA_URL = "https://data.alpaca.markets"
DEFAULT_TRADING_URL = "https://paper-api.alpaca.markets"  # the paper account's trading API serves the same list
FEEDS = ("indicative", "opra")
_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
_OCC_RE = re.compile(r"^(?P<root>[A-Z0-9]{1,6})(?P<date>\d{6})(?P<kind>[CP])(?P<strike>\d{8})$")
_SNAPSHOT_LIMIT = 1000  # Alpaca's maximum per page
_CONTRACT_LIMIT = 10_000
_MAX_PAGES = 10
_YEAR_SECONDS = 365.25 * 86400


class _Malformed(Exception):
    pass


class AlpacaOptions:
    """`ChainSource` of Alpaca option chains (the rate is only used for Greeks computed from an IV)."""

    name = "alpaca"

    def __init__(self, key: str, secret: str, *, data_url: str | None = None, trading_url: str | None = None,
                 feed: str = "indicative", rate: float = 0.04, policy: FetchPolicy = DEFAULT_POLICY) -> None:
        if not key or not secret:
            raise ValueError("Alpaca options data needs brokers.alpaca.key and brokers.alpaca.secret")
        if feed not in FEEDS:
            raise ValueError(f"the Alpaca options feed is one of {', '.join(FEEDS)}, not {feed!r}")
        self.feed = feed
        self.rate = rate
        self.data_url = (data_url or DEFAULT_DATA_URL).rstrip("/")
        self.trading_url = (trading_url or DEFAULT_TRADING_URL).rstrip("/")
        self.policy = policy
        self.source = f"Alpaca options ({feed} feed)"
        self._client = HttpClient("Alpaca options", policy=policy,
                                  base_headers={"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret})

    async def close(self) -> None:
        await self._client.aclose()

    async def chain(self, underlying: str, kind: Kind, *, price: Decimal, as_of: datetime, candles: Candles,
                    min_days: int, max_days: int) -> OptionChain:
        symbol = normalise_symbol(underlying)
        if not _SYMBOL_RE.match(symbol):
            raise OptionsUnavailable(f"{underlying} is not a US stock or ETF symbol Alpaca lists options for.")
        today = tip_date(as_of)
        window = {"type": kind, "expiration_date_gte": (today + timedelta(days=min_days)).isoformat(),
                  "expiration_date_lte": (today + timedelta(days=max_days)).isoformat()}
        snapshots, interest = await _both(self._snapshots(symbol, window), self._open_interest(symbol, window))
        try:
            contracts = [self._contract(symbol, occ, snap, interest.get(occ), float(price), as_of)
                         for occ, snap in sorted(snapshots.items())]
        except _Malformed as exc:
            raise self._malformed(symbol, str(exc)) from None
        return OptionChain(underlying=symbol, underlying_price=price, as_of=as_of, source=self.source,
                           contracts=[c for c in contracts if c.kind == kind], rate=self.rate)

    # ---- requests -----------------------------------------------------------------------------------------

    async def _pages(self, url: str, params: dict[str, Any], symbol: str, key: str) -> list[Any]:
        """Every page's `key` value (a dict or list each), following next_page_token."""
        pages: list[Any] = []
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            body = await self._get_json(url, params, symbol)
            value = body.get(key)
            if value is None:
                value = {} if key == "snapshots" else []
            if not isinstance(value, dict if key == "snapshots" else list):
                raise self._malformed(symbol, f"{key} is a JSON {type(value).__name__}")
            pages.append(value)
            token = body.get("next_page_token")
            if not token:
                return pages
            if not isinstance(token, str) or token in seen:
                raise self._malformed(symbol, "its page token repeats or is not text")
            seen.add(token)
            params = {**params, "page_token": token}
        raise OptionsUnavailable(f"Alpaca's {symbol} option chain runs past {_MAX_PAGES} pages; narrow the "
                                 "expiry window (min_days/max_days).")

    async def _snapshots(self, symbol: str, window: dict[str, str]) -> dict[str, Any]:
        params = {"feed": self.feed, "limit": _SNAPSHOT_LIMIT, **window}
        merged: dict[str, Any] = {}
        for page in await self._pages(f"{self.data_url}/v1beta1/options/snapshots/{symbol}", params, symbol,
                                      "snapshots"):
            merged.update(page)
        return merged

    async def _open_interest(self, symbol: str, window: dict[str, str]) -> dict[str, int | None]:
        params = {"underlying_symbols": symbol, "status": "active", "limit": _CONTRACT_LIMIT, **window}
        interest: dict[str, int | None] = {}
        for page in await self._pages(f"{self.trading_url}/v2/options/contracts", params, symbol,
                                      "option_contracts"):
            for row in page:
                if not isinstance(row, dict) or not isinstance(row.get("symbol"), str):
                    raise self._malformed(symbol, "a contract without a symbol")
                try:
                    interest[row["symbol"]] = _count(row.get("open_interest"))
                except _Malformed as exc:
                    raise self._malformed(symbol, f"{row['symbol'][:30]} {exc}") from None
        return interest

    async def _get_json(self, url: str, params: dict[str, Any], symbol: str) -> dict[str, Any]:
        try:
            response = await self._client.get(url, params=params)
        except SourceError as exc:
            raise self._unavailable(symbol, exc) from None
        try:
            body = response.json()
        except ValueError:
            raise self._malformed(symbol, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise self._malformed(symbol, f"a JSON {type(body).__name__} instead of an object")
        return body

    # ---- errors -------------------------------------------------------------------------------------------

    def _unavailable(self, symbol: str, exc: SourceError) -> OptionsUnavailable:
        log.warning("Alpaca options %s failed: %s", symbol, exc.message)
        if exc.auth:
            plan = " and that your plan includes the opra feed" if exc.status == 403 and self.feed == "opra" else ""
            return OptionsUnavailable(f"Alpaca refused the API key for options data (HTTP {exc.status or 401}); "
                                      f"check brokers.alpaca.key/secret{plan}.")
        if exc.status in (400, 404, 422):
            return OptionsUnavailable(f"Alpaca has no option chain for {symbol} (HTTP {exc.status}).")
        tail = f" after {self.policy.attempts} tries; try again later" if exc.transient else ""
        return OptionsUnavailable(f"Alpaca options data unavailable: {exc.message}{tail}.")

    @staticmethod
    def _malformed(symbol: str, reason: str) -> OptionsUnavailable:
        message = f"Alpaca sent a malformed option chain for {symbol} ({reason}); try again later."
        log.warning("%s", message)
        return OptionsUnavailable(message)

    # ---- parsing ------------------------------------------------------------------------------------------

    def _contract(self, symbol: str, occ: str, snap: Any, open_interest: int | None, spot: float,
                  as_of: datetime) -> OptionContract:
        match = _OCC_RE.match(occ)
        if match is None:
            raise _Malformed(f"{occ[:30]!r} is not an OCC option symbol")
        if not isinstance(snap, dict):
            raise _Malformed(f"the snapshot of {occ} is not an object")
        try:
            expiry = datetime.strptime(match["date"], "%y%m%d").date()
        except ValueError:
            raise _Malformed(f"{occ} has no valid expiry date") from None
        kind: Kind = "call" if match["kind"] == "C" else "put"
        strike = Decimal(int(match["strike"])) / 1000
        quote, trade = _object(snap, "latestQuote", occ), _object(snap, "latestTrade", occ)
        greeks = _object(snap, "greeks", occ)
        iv = _number(snap.get("impliedVolatility"), f"{occ} impliedVolatility")
        values = {name: _number(greeks.get(name), f"{occ} {name}") for name in ("delta", "gamma", "theta", "vega",
                                                                                "rho")}
        if values["delta"] is None and iv is not None and iv > 0:
            values = self._model_greeks(kind, spot, strike, expiry, as_of, iv)
        return OptionContract(symbol=occ, underlying=symbol, kind=kind, expiry=expiry, strike=strike,
                              bid=_money(quote.get("bp"), f"{occ} bid"), ask=_money(quote.get("ap"), f"{occ} ask"),
                              last=_money(trade.get("p"), f"{occ} last trade"), open_interest=open_interest,
                              implied_vol=iv, **values)

    def _model_greeks(self, kind: Kind, spot: float, strike: Decimal, expiry: date, as_of: datetime,
                      iv: float) -> dict[str, float | None]:
        years = (sessions.session_close(expiry) - as_of.astimezone(UTC)).total_seconds() / _YEAR_SECONDS
        if years <= 0 or spot <= 0:
            return dict.fromkeys(("delta", "gamma", "theta", "vega", "rho"))
        g = black_scholes(kind, spot, float(strike), years, self.rate, iv)
        return {"delta": float(g.delta), "gamma": float(g.gamma), "theta": float(per_day_theta(g.theta)),
                "vega": float(per_point(g.vega)), "rho": float(per_point(g.rho))}


async def _both(first: Awaitable[T], second: Awaitable[Any]) -> tuple[T, Any]:
    """Both results; when one fails the other is cancelled at once and the failure raised as it is."""
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            error = task.exception() if task.done() else None
            if error is not None:
                raise error
        return tasks[0].result(), tasks[1].result()
    finally:
        for task in tasks:
            task.cancel()


def _object(snap: dict[str, Any], key: str, occ: str) -> dict[str, Any]:
    value = snap.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Malformed(f"{occ} {key} is not an object")
    return value


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Malformed(f"{what} is not a number")
    return float(value)


def _money(value: Any, what: str) -> Decimal | None:
    number = _number(value, what)
    if number is None:
        return None
    if number < 0:
        raise _Malformed(f"{what} is negative")
    return Decimal(repr(number)) if number > 0 else None  # Alpaca sends 0 for "no bid"


def _count(value: Any) -> int | None:
    """Open interest arrives as a string ("5420"), occasionally a number, or null when unknown."""
    if value is None:
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d+(\.0+)?", text):
        raise _Malformed(f"open interest {text[:20]!r} is not a count")
    return int(float(text))


__all__ = ["DEFAULT_DATA_URL", "DEFAULT_TRADING_URL", "FEEDS", "AlpacaOptions"]
