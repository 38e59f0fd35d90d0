"""A local server speaking enough of Binance's spot REST API (v3) for ccxt's real binance code path.

Why: engine/brokers/ccxt_broker.py is tested through ccxt's own binance class — its URL building, HMAC
signing, parameter names (newClientOrderId, origClientOrderId, listClientOrderId …), response parsing and
error mapping (ccxt maps Binance's ``{"code": -2010, "msg": …}`` bodies to its exception classes) — pointed
at this server with the broker's ``urls_override``.

The JSON follows Binance's documented responses (exchangeInfo, FULL order responses with ``fills``, the
order object of GET /order, the new OCO ``orderList/oco`` response with ``orderReports``, account, myTrades);
errors are Binance's codes and messages. Imitated behaviour that matters to a client:

* requests are signed: a wrong API key is a 401 ``-2015``, a bad signature ``-1022``, a stale timestamp
  ``-1021``;
* market orders fill at once at ``prices[symbol]``; the commission (``commission_rate``) is taken from the
  asset received — BTC on a buy — as Binance does without BNB, so a buyer holds less than he bought;
* balances: a buy needs quote, a sell needs free base; an OCO reserves (locks) its quantity, so a market
  sell of the same coins is refused with "insufficient balance" until the OCO is canceled;
* LOT_SIZE / NOTIONAL / PRICE_FILTER filters, OCO price relationships;
* fault injection: ``fail_next`` (any status/body/headers: 429 with Retry-After …), ``reject_next``,
  ``slow_next_order`` (the order IS created and filled; the answer comes late), ``trigger_leg``.

Public market data (what engine/market/ccxt_market.py reads, no keys): ``/api/v3/klines`` with symbol,
interval, limit (default 500, at most 1000), startTime and endTime, rows as Binance sends them (prices and
volumes as strings, close time = open time + interval − 1 ms) and the last row the bar forming now;
``/api/v3/ticker/24hr`` and ``/api/v3/ticker/price``. Series are set per symbol and interval with
``set_candles`` (from closes, relative to now: fresh or ``stale_bars`` old), ``set_bars`` (explicit rows) or
``set_candles_from_csv`` (a bundled file shifted so its last bar is forming now). More faults for them:
``hang_next`` (the answer comes after N seconds: a client timeout) and ``malformed_next`` (a 200 whose body
is not JSON, is cut off, or is rows of garbage), ``restricted_next`` (Binance's HTTP 451 for a US address).
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.loopback import Fault, LoopbackServer, take_fault

Q8 = Decimal("0.00000001")


def _s(value: Decimal) -> str:
    return format(value.quantize(Q8), "f")


def _ms() -> int:
    return int(time.time() * 1000)


INTERVALS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200, "4h": 14400,
             "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800}
# What Binance answers a request from a restricted location (the US among them), with HTTP 451.
RESTRICTED_BODY = {"code": 0, "msg": "Service unavailable from a restricted location according to 'b. Eligibility' "
                                     "in https://www.binance.com/en/terms. Please contact customer service if you "
                                     "believe you received this message in error."}
MALFORMED_BODIES = {
    "html": ("<html><body>Bad gateway, but with a 200</body></html>", "text/html"),
    "truncated": ('[[1700000000000,"42000.00000000","42100.0', "application/json"),
    "garbage": (json.dumps([["x", None, "abc", {}, [], "nan"], ["y", "1", "2", "3", "4", "5"]]), "application/json"),
}


@dataclass(frozen=True)
class Kline:
    """One bar as the server holds it; `open_time` in epoch seconds."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def to_json(self, seconds: int) -> list[Any]:
        quote_volume = self.volume * self.close
        return [self.open_time * 1000, f"{self.open:.8f}", f"{self.high:.8f}", f"{self.low:.8f}",
                f"{self.close:.8f}", f"{self.volume:.8f}", (self.open_time + seconds) * 1000 - 1,
                f"{quote_volume:.8f}", 100, f"{self.volume / 2:.8f}", f"{quote_volume / 2:.8f}", "0"]


@dataclass
class Market:
    symbol: str
    base: str
    quote: str
    tick: Decimal = Decimal("0.01")
    step: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    min_notional: Decimal = Decimal("5")


@dataclass
class BOrder:
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    orig_qty: Decimal
    price: Decimal = Decimal(0)
    stop_price: Decimal = Decimal(0)
    executed_qty: Decimal = Decimal(0)
    quote_qty: Decimal = Decimal(0)
    status: str = "NEW"
    order_list_id: int = -1
    time: int = field(default_factory=_ms)
    update_time: int = field(default_factory=_ms)
    fills: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id, "price": _s(self.price), "origQty": _s(self.orig_qty),
            "executedQty": _s(self.executed_qty), "cummulativeQuoteQty": _s(self.quote_qty),
            "status": self.status, "timeInForce": "GTC", "type": self.type, "side": self.side,
            "stopPrice": _s(self.stop_price), "icebergQty": "0.00000000", "time": self.time,
            "updateTime": self.update_time, "isWorking": self.status != "NEW" or self.type == "LIMIT_MAKER",
            "workingTime": self.time, "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        return out

    def report(self) -> dict[str, Any]:
        """The order as a POST answers it (transactTime instead of time/updateTime)."""
        out = self.to_json()
        for key in ("time", "updateTime", "isWorking", "icebergQty"):
            out.pop(key)
        out["transactTime"] = self.update_time
        return out


@dataclass
class OrderList:
    list_id: int
    list_client_order_id: str
    symbol: str
    orders: list[BOrder]
    status: str = "EXEC_STARTED"  # listStatusType; ALL_DONE once one leg filled or both were canceled

    def to_json(self) -> dict[str, Any]:
        done = self.status == "ALL_DONE"
        return {
            "orderListId": self.list_id, "contingencyType": "OCO", "listStatusType": self.status,
            "listOrderStatus": "ALL_DONE" if done else "EXECUTING", "listClientOrderId": self.list_client_order_id,
            "transactionTime": _ms(), "symbol": self.symbol,
            "orders": [{"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
                       for o in self.orders],
        }


class FakeBinance(LoopbackServer):
    def __init__(self, key: str = "test-api-key", secret: str = "test-api-secret", *,
                 balances: dict[str, Decimal] | None = None, commission_rate: Decimal = Decimal("0.001")) -> None:
        self.key = key
        self.secret = secret
        self.markets = {m.symbol: m for m in (Market("BTCUSDT", "BTC", "USDT"), Market("ETHUSDT", "ETH", "USDT"))}
        self.prices: dict[str, Decimal] = {"BTCUSDT": Decimal("60000.00"), "ETHUSDT": Decimal("3000.00")}
        self.free: dict[str, Decimal] = dict(balances or {"USDT": Decimal(10_000), "BTC": Decimal(0),
                                                          "ETH": Decimal(0)})
        self.locked: dict[str, Decimal] = {asset: Decimal(0) for asset in self.free}
        self.commission_rate = commission_rate
        self.orders: dict[int, BOrder] = {}
        self.lists: dict[int, OrderList] = {}
        self.trades: list[dict[str, Any]] = []
        self._ids = itertools.count(1000)
        self._trade_ids = itertools.count(500)
        self.faults: list[Fault] = []
        self.slow_orders: list[float] = []
        self.requests: list[tuple[str, str]] = []
        self.queries: list[tuple[str, dict[str, str]]] = []  # (path, query) of every request, in order
        self.klines: dict[tuple[str, int], list[Kline]] = {}  # (symbol, interval seconds) → bars, oldest first
        self.hangs: list[tuple[str, float]] = []
        self.malformed: list[tuple[str, str]] = []

    # ---- life cycle -------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/api/v3/ping", self._ping)
        r.add_get("/api/v3/time", self._time)
        r.add_get("/api/v3/exchangeInfo", self._exchange_info)
        r.add_get("/api/v3/klines", self._klines)
        r.add_get("/api/v3/ticker/24hr", self._ticker_24hr)
        r.add_get("/api/v3/ticker/price", self._ticker_price)
        r.add_post("/api/v3/order", self._new_order)
        r.add_get("/api/v3/order", self._get_order)
        r.add_delete("/api/v3/order", self._cancel_order)
        r.add_post("/api/v3/orderList/oco", self._new_oco)
        r.add_get("/api/v3/orderList", self._get_list)
        r.add_delete("/api/v3/orderList", self._cancel_list)
        r.add_get("/api/v3/openOrders", self._open_orders)
        r.add_get("/api/v3/allOrders", self._all_orders)
        r.add_get("/api/v3/myTrades", self._my_trades)
        r.add_get("/api/v3/account", self._account)
        return app

    # ---- fault injection --------------------------------------------------------------------------------

    def fail_next(self, method: str, path: str, status: int, body: dict[str, Any] | str,
                  headers: dict[str, str] | None = None) -> None:
        """The next matching request gets this answer (a dict is sent as JSON, a string as HTML)."""
        self.faults.append(Fault(path, status, body, headers or {}, method=method, content_type="text/html"))

    def unavailable_next(self, method: str, path: str) -> None:
        """A 503 from the gateway in front of the API (an HTML page, as a load balancer sends it)."""
        self.fail_next(method, path, 503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")

    def reject_next(self, code: int = -2010, msg: str = "Account has insufficient balance for requested action.",
                    status: int = 400) -> None:
        self.fail_next("POST", "/api/v3/order", status, {"code": code, "msg": msg})

    def rate_limit_next(self, method: str = "POST", path: str = "/api/v3/order", retry_after: int = 1) -> None:
        self.fail_next(method, path, 429, {"code": -1003, "msg": "Too many requests; current limit of IP is 6000 "
                                                                "requests per minute. Please use WebSocket Streams "
                                                                "for live updates to avoid polling the API."},
                       {"Retry-After": str(retry_after)})

    def restricted_next(self, method: str = "GET", path: str = "/api/v3/") -> None:
        """Binance's answer to a US (or otherwise restricted) address: HTTP 451 with its JSON body."""
        self.fail_next(method, path, 451, dict(RESTRICTED_BODY))

    def hang_next(self, path: str, seconds: float) -> None:
        """The next request under `path` is answered normally, but only after `seconds`."""
        self.hangs.append((path, seconds))

    def malformed_next(self, path: str, kind: str = "html") -> None:
        """The next request under `path` gets a 200 whose body is `kind`: html (not JSON), truncated JSON,
        or garbage (JSON rows of the wrong things)."""
        if kind not in MALFORMED_BODIES:
            raise ValueError(f"kind must be one of {', '.join(MALFORMED_BODIES)}")
        self.malformed.append((path, kind))

    # ---- public market data -----------------------------------------------------------------------------

    def add_market(self, symbol: str, base: str, quote: str, tick: Decimal = Decimal("0.01")) -> Market:
        market = Market(symbol, base, quote, tick=tick)
        self.markets[symbol] = market
        return market

    def set_bars(self, symbol: str, seconds: int, bars: Sequence[Kline], *, last_price: float | None = None) -> None:
        """Serve exactly these bars for (symbol, interval); the ticker's last price is `last_price` (default:
        the last bar's close)."""
        symbol = symbol.replace("/", "")
        self.klines[(symbol, seconds)] = list(bars)
        if bars or last_price is not None:
            price = last_price if last_price is not None else bars[-1].close
            self.prices[symbol] = Decimal(repr(price))

    def set_candles(self, symbol: str, seconds: int, closes: Sequence[float], *, stale_bars: int = 0,
                    forming_close: float | None = None, now: float | None = None) -> list[Kline]:
        """Closed bars with these closes, the last one the bar that closed most recently before `now` (or
        `stale_bars` bars earlier), then — when fresh — the bar forming now, closing at `forming_close`
        (default: 0.1 % above the last close). open = the previous close, high/low 0.1 % around the body,
        volume 10–16. Returns every bar served, the forming one last when there is one."""
        now = time.time() if now is None else now
        bucket = int(now) // seconds * seconds  # open time of the bar forming now
        first = bucket - (len(closes) + stale_bars) * seconds
        bars: list[Kline] = []
        previous = closes[0]
        for i, close in enumerate(closes):
            bars.append(_bar(first + i * seconds, previous, close, 10.0 + i % 7))
            previous = close
        if stale_bars == 0:
            forming = forming_close if forming_close is not None else round(previous * 1.001, 2)
            bars.append(_bar(bucket, previous, forming, 1.5))
        self.set_bars(symbol, seconds, bars)
        return bars

    def set_candles_from_csv(self, symbol: str, seconds: int, path: Path, *, count: int = 600,
                             now: float | None = None) -> list[Kline]:
        """The last `count` rows of a bundled candle file (timestamp, open, high, low, close, volume), moved in
        time so that its last row is the bar forming now."""
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))[-count:]
        now = time.time() if now is None else now
        shift = int(now) // seconds * seconds - int(datetime.fromisoformat(rows[-1]["timestamp"]).timestamp())
        bars = [Kline(int(datetime.fromisoformat(r["timestamp"]).timestamp()) + shift, float(r["open"]),
                      float(r["high"]), float(r["low"]), float(r["close"]), float(r["volume"])) for r in rows]
        self.set_bars(symbol, seconds, bars)
        return bars

    def slow_next_order(self, delay: float) -> None:
        """The next new order is created (and a market order filled) at once; its answer comes after `delay`."""
        self.slow_orders.append(delay)

    def trigger_leg(self, list_client_order_id: str, which: str) -> BOrder:
        """The price reached one leg of an OCO: it fills at its price, the other is canceled."""
        olist = next(x for x in self.lists.values() if x.list_client_order_id == list_client_order_id)
        wanted = "LIMIT_MAKER" if which == "take_profit" else "STOP_LOSS"
        leg = next(o for o in olist.orders if o.type == wanted)
        other = next(o for o in olist.orders if o is not leg)
        market = self.markets[leg.symbol]
        self.locked[market.base] -= leg.orig_qty
        self.free[market.base] += leg.orig_qty
        self._execute(leg, leg.price if leg.type == "LIMIT_MAKER" else leg.stop_price, maker=leg.type == "LIMIT_MAKER")
        other.status, other.update_time = "CANCELED", _ms()
        olist.status = "ALL_DONE"
        return leg

    def order_by_client_id(self, client_order_id: str) -> BOrder | None:
        return next((o for o in self.orders.values() if o.client_order_id == client_order_id), None)

    # ---- HTTP plumbing ----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        self.queries.append((request.path, dict(request.query)))
        if (scripted := take_fault(self.faults, request)) is not None:
            return scripted
        for hang in self.hangs:
            if request.path.startswith(hang[0]):
                self.hangs.remove(hang)
                await asyncio.sleep(hang[1])
                break
        for bad in self.malformed:
            if request.path.startswith(bad[0]):
                self.malformed.remove(bad)
                text, content_type = MALFORMED_BODIES[bad[1]]
                return web.Response(text=text, content_type=content_type)
        return await handler(request)

    @staticmethod
    def _err(code: int, msg: str, status: int = 400) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    async def _signed(self, request: web.Request) -> dict[str, str] | web.Response:
        """The parameters of a SIGNED endpoint, or Binance's error for a bad key, signature or timestamp."""
        if request.headers.get("X-MBX-APIKEY") != self.key:
            return self._err(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        query = request.query_string
        body = (await request.text()) if request.can_read_body else ""
        payload = query + body  # Binance signs the query string followed by the body
        unsigned, _, signature = payload.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return self._err(-1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(unsigned, keep_blank_values=True))
        window = int(params.get("recvWindow", "5000"))
        if abs(_ms() - int(params.get("timestamp", "0"))) > window:
            return self._err(-1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    # ---- public -----------------------------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": _ms()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        symbols = []
        for m in self.markets.values():
            symbols.append({
                "symbol": m.symbol, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
                "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                               "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": True, "cancelReplaceAllowed": True, "amendAllowed": True,
                "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": _s(m.tick), "maxPrice": "1000000.00000000",
                     "tickSize": _s(m.tick)},
                    {"filterType": "LOT_SIZE", "minQty": _s(m.min_qty), "maxQty": "9000.00000000",
                     "stepSize": _s(m.step)},
                    {"filterType": "ICEBERG_PARTS", "limit": 10},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000",
                     "stepSize": "0.00000000"},
                    {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
                     "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
                    {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
                     "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
                    {"filterType": "NOTIONAL", "minNotional": _s(m.min_notional), "applyMinToMarket": True,
                     "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                    {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                    {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
                ],
                "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
            })
        return web.json_response({
            "timezone": "UTC", "serverTime": _ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            ],
            "exchangeFilters": [], "symbols": symbols})

    async def _klines(self, request: web.Request) -> web.Response:
        q = request.query
        if "symbol" not in q or "interval" not in q:
            return self._err(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if q["symbol"] not in self.markets:
            return self._err(-1121, "Invalid symbol.")
        seconds = INTERVALS.get(q["interval"])
        if seconds is None:
            return self._err(-1120, "Invalid interval.")
        limit = int(q.get("limit", "500"))
        if not 1 <= limit <= 1000:
            return self._err(-1130, "Invalid data sent for a parameter.")
        bars = self.klines.get((q["symbol"], seconds), [])
        if "startTime" in q:
            bars = [b for b in bars if b.open_time * 1000 >= int(q["startTime"])]
        if "endTime" in q:
            bars = [b for b in bars if b.open_time * 1000 <= int(q["endTime"])]
        bars = bars[:limit] if "startTime" in q else bars[-limit:]  # Binance: from startTime on, else the latest
        return web.json_response([b.to_json(seconds) for b in bars])

    def _ticker(self, symbol: str) -> dict[str, Any]:
        last = self.prices.get(symbol, Decimal(0))
        finest = min((seconds for s, seconds in self.klines if s == symbol), default=None)
        series = self.klines.get((symbol, finest), []) if finest is not None else []
        day = [b for b in series if b.open_time >= time.time() - 86400]
        opening = Decimal(repr(min(day, key=lambda b: b.open_time).open)) if day else last
        high = max([Decimal(repr(b.high)) for b in day] + [last])
        low = min([Decimal(repr(b.low)) for b in day] + [last])
        volume = Decimal(repr(sum(b.volume for b in day)))
        change = last - opening
        percent = (change / opening * 100).quantize(Decimal("0.001")) if opening else Decimal(0)
        now = _ms()
        return {"symbol": symbol, "priceChange": _s(change), "priceChangePercent": str(percent),
                "weightedAvgPrice": _s(last), "prevClosePrice": _s(opening), "lastPrice": _s(last),
                "lastQty": "0.01000000", "bidPrice": _s(last), "bidQty": "1.00000000", "askPrice": _s(last),
                "askQty": "1.00000000", "openPrice": _s(opening), "highPrice": _s(high), "lowPrice": _s(low),
                "volume": _s(volume), "quoteVolume": _s(volume * last), "openTime": now - 86_400_000,
                "closeTime": now, "firstId": 1, "lastId": 100, "count": 100}

    async def _ticker_24hr(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol")
        if symbol is None:
            return web.json_response([self._ticker(s) for s in self.markets])
        if symbol not in self.markets:
            return self._err(-1121, "Invalid symbol.")
        return web.json_response(self._ticker(symbol))

    async def _ticker_price(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol")
        if symbol is None:
            return web.json_response([{"symbol": s, "price": _s(self.prices.get(s, Decimal(0)))}
                                      for s in self.markets])
        if symbol not in self.markets:
            return self._err(-1121, "Invalid symbol.")
        return web.json_response({"symbol": symbol, "price": _s(self.prices.get(symbol, Decimal(0)))})

    # ---- orders -----------------------------------------------------------------------------------------

    def _check_qty(self, market: Market, qty: Decimal) -> web.Response | None:
        if qty < market.min_qty or (qty / market.step) % 1 != 0:
            return self._err(-1013, "Filter failure: LOT_SIZE")
        return None

    async def _new_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        market = self.markets.get(params.get("symbol", ""))
        if market is None:
            return self._err(-1121, "Invalid symbol.")
        coid = params.get("newClientOrderId") or f"web_{next(self._ids)}"
        if any(o.client_order_id == coid and o.status == "NEW" for o in self.orders.values()):
            return self._err(-2010, "Duplicate order sent.")
        side, kind = params["side"], params["type"]
        qty = Decimal(params.get("quantity", "0"))
        bad = self._check_qty(market, qty)
        if bad is not None:
            return bad
        price = self.prices[market.symbol]
        if kind == "MARKET":
            if qty * price < market.min_notional:
                return self._err(-1013, "Filter failure: NOTIONAL")
            if side == "BUY" and qty * price > self.free[market.quote]:
                return self._err(-2010, "Account has insufficient balance for requested action.")
            if side == "SELL" and qty > self.free[market.base]:
                return self._err(-2010, "Account has insufficient balance for requested action.")
            order = BOrder(market.symbol, next(self._ids), coid, side, kind, qty)
            self.orders[order.order_id] = order
            self._execute(order, price, maker=False)
        elif kind in ("STOP_LOSS", "TAKE_PROFIT"):
            stop = Decimal(params["stopPrice"])
            if side == "SELL" and qty > self.free[market.base]:
                return self._err(-2010, "Account has insufficient balance for requested action.")
            below_market = (kind == "STOP_LOSS") == (side == "SELL")  # a sell stop sits below the price
            if (stop >= price) if below_market else (stop <= price):
                return self._err(-2010, "Stop price would trigger immediately.")
            order = BOrder(market.symbol, next(self._ids), coid, side, kind, qty, stop_price=stop)
            self.orders[order.order_id] = order
            if side == "SELL":
                self.free[market.base] -= qty
                self.locked[market.base] += qty
        else:
            return self._err(-1116, "Invalid orderType.")
        if self.slow_orders:
            await asyncio.sleep(self.slow_orders.pop(0))  # created (and filled); the answer is late
        resp = params.get("newOrderRespType", "FULL" if kind == "MARKET" else "ACK")
        out = order.report()
        if resp == "FULL":
            out["fills"] = order.fills
        elif resp == "ACK":
            out = {k: out[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")}
        return web.json_response(out)

    def _execute(self, order: BOrder, price: Decimal, *, maker: bool) -> None:
        """Fill `order` completely at `price`; the commission is taken from the asset received."""
        market = self.markets[order.symbol]
        quote_qty = order.orig_qty * price
        if order.side == "BUY":
            commission = (order.orig_qty * self.commission_rate).quantize(Q8, rounding=ROUND_DOWN)
            asset = market.base
            self.free[market.quote] -= quote_qty
            self.free[market.base] += order.orig_qty - commission
        else:
            commission = (quote_qty * self.commission_rate).quantize(Q8, rounding=ROUND_DOWN)
            asset = market.quote
            self.free[market.base] -= order.orig_qty
            self.free[market.quote] += quote_qty - commission
        trade_id = next(self._trade_ids)
        order.executed_qty, order.quote_qty = order.orig_qty, quote_qty
        order.status, order.update_time = "FILLED", _ms()
        order.fills = [{"price": _s(price), "qty": _s(order.orig_qty), "commission": _s(commission),
                        "commissionAsset": asset, "tradeId": trade_id}]
        self.trades.append({
            "symbol": order.symbol, "id": trade_id, "orderId": order.order_id, "orderListId": order.order_list_id,
            "price": _s(price), "qty": _s(order.orig_qty), "quoteQty": _s(quote_qty), "commission": _s(commission),
            "commissionAsset": asset, "time": order.update_time, "isBuyer": order.side == "BUY", "isMaker": maker,
            "isBestMatch": True})

    def _find(self, params: dict[str, str]) -> BOrder | None:
        symbol = params.get("symbol")
        if "orderId" in params:
            order = self.orders.get(int(params["orderId"]))
        else:
            order = self.order_by_client_id(params.get("origClientOrderId", ""))
        return order if order is not None and order.symbol == symbol else None

    async def _get_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        if "symbol" not in params:
            return self._err(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        order = self._find(params)
        if order is None:
            return self._err(-2013, "Order does not exist.")
        return web.json_response(order.to_json())

    async def _cancel_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        order = self._find(params)
        if order is None or order.status != "NEW":
            return self._err(-2011, "Unknown order sent.")
        if order.order_list_id != -1:
            return self._err(-2011, "Unknown order sent.")  # an OCO leg is canceled through its list
        self._release(order)
        order.status, order.update_time = "CANCELED", _ms()
        return web.json_response({**order.report(), "origClientOrderId": order.client_order_id})

    def _release(self, order: BOrder) -> None:
        if order.side == "SELL":
            base = self.markets[order.symbol].base
            self.locked[base] -= order.orig_qty
            self.free[base] += order.orig_qty

    async def _new_oco(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        market = self.markets.get(params.get("symbol", ""))
        if market is None:
            return self._err(-1121, "Invalid symbol.")
        side = params["side"]
        qty = Decimal(params["quantity"])
        bad = self._check_qty(market, qty)
        if bad is not None:
            return bad
        if params.get("aboveType") != "LIMIT_MAKER" or params.get("belowType") not in ("STOP_LOSS", "STOP_LOSS_LIMIT"):
            return self._err(-1106, "Parameter combination not supported by this fake (aboveType/belowType).")
        above = Decimal(params["abovePrice"])
        below = Decimal(params["belowStopPrice"])
        for value in (above, below):
            if (value / market.tick) % 1 != 0:
                return self._err(-1013, "Filter failure: PRICE_FILTER")
        price = self.prices[market.symbol]
        if side != "SELL":
            return self._err(-1106, "Parameter combination not supported by this fake (BUY OCO).")
        if not below < price < above:
            return self._err(-2010, "The relationship of the prices for the orders is not correct.")
        if qty > self.free[market.base]:
            return self._err(-2010, "Account has insufficient balance for requested action.")
        list_id = next(self._ids)
        stop = BOrder(market.symbol, next(self._ids), params.get("belowClientOrderId") or f"below_{list_id}",
                      side, "STOP_LOSS", qty, stop_price=below, order_list_id=list_id)
        limit = BOrder(market.symbol, next(self._ids), params.get("aboveClientOrderId") or f"above_{list_id}",
                       side, "LIMIT_MAKER", qty, price=above, order_list_id=list_id)
        olist = OrderList(list_id, params.get("listClientOrderId") or f"list_{list_id}", market.symbol, [stop, limit])
        for order in olist.orders:
            self.orders[order.order_id] = order
        self.lists[list_id] = olist
        self.free[market.base] -= qty
        self.locked[market.base] += qty
        return web.json_response({**olist.to_json(), "orderReports": [o.report() for o in olist.orders]})

    def _find_list(self, params: dict[str, str]) -> OrderList | None:
        if "orderListId" in params:
            return self.lists.get(int(params["orderListId"]))
        return next((x for x in self.lists.values()
                     if x.list_client_order_id == params.get("listClientOrderId", params.get("origClientOrderId"))),
                    None)

    async def _get_list(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        olist = self._find_list(params)
        if olist is None:
            return self._err(-2018, "Order list does not exist.")
        return web.json_response(olist.to_json())

    async def _cancel_list(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        olist = self._find_list(params)
        if olist is None or olist.status == "ALL_DONE" or olist.symbol != params.get("symbol"):
            return self._err(-2011, "Unknown order list sent.")
        for order in olist.orders:
            if order.status == "NEW":
                order.status, order.update_time = "CANCELED", _ms()
        market = self.markets[olist.symbol]
        qty = olist.orders[0].orig_qty
        self.locked[market.base] -= qty
        self.free[market.base] += qty
        olist.status = "ALL_DONE"
        return web.json_response({**olist.to_json(), "orderReports": [o.report() for o in olist.orders]})

    async def _open_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        return web.json_response([o.to_json() for o in self.orders.values()
                                  if o.status == "NEW" and params.get("symbol") in (None, o.symbol)])

    async def _all_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        if "symbol" not in params:
            return self._err(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        return web.json_response([o.to_json() for o in self.orders.values() if o.symbol == params["symbol"]])

    async def _my_trades(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        trades = [t for t in self.trades if t["symbol"] == params.get("symbol")
                  and ("orderId" not in params or str(t["orderId"]) == params["orderId"])]
        return web.json_response(trades)

    async def _account(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        if isinstance(params, web.Response):
            return params
        rate = _s(self.commission_rate)
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": "0.00000000", "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": _ms(), "accountType": "SPOT",
            "balances": [{"asset": a, "free": _s(self.free[a]), "locked": _s(self.locked[a])} for a in self.free],
            "permissions": ["SPOT"], "uid": 354937868})


def _bar(open_time: int, open_: float, close: float, volume: float) -> Kline:
    spread = round(max(open_, close) * 0.001, 2)
    return Kline(open_time, open_, round(max(open_, close) + spread, 2), round(min(open_, close) - spread, 2), close,
                 volume)
