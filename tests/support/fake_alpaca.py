"""A local server speaking the subset of Alpaca's Trading API v2 that engine/brokers/alpaca.py uses.

Why: mocking TradingClient would test our assumptions about alpaca-py, not alpaca-py. Pointing the real
client at this server (``url_override=fake.base_url``) exercises its request encoding, its pydantic models
(which reject a response that lacks a required field), its error mapping, and our threading and timeouts.

The JSON shapes follow Alpaca's documented order, position and account objects (every field alpaca-py's
models read, including the ones it requires); error bodies are Alpaca's ``{"code": …, "message": …}``, with
the codes Alpaca returns (40310000 "insufficient buying power" is a 403, see alpacahq/alpaca-py#225;
refused keys are a 401 without a code).

Behaviour that matters to a broker client is imitated:

* a market order is ``accepted`` when POSTed and fills on a later look (``fill_after_polls``), or never
  while ``market_open`` is False — so clients must poll;
* bracket/OTO entries carry ``legs`` (take-profit ``limit``, stop-loss ``stop``); they are ``held`` until
  the entry fills, then the take-profit is ``new`` and the stop-loss stays ``held``, and open sell legs hold
  the shares: a separate sell of those shares is refused with "insufficient qty available";
* validation Alpaca does: unique ``client_order_id``, whole shares for brackets, sub-penny prices, the
  legs on the right side of the price, buying power;
* fault injection: ``fail_next`` (any status, body, headers — e.g. 429 with Retry-After), ``reject_next``,
  ``slow_next_order`` (the order IS created, the answer comes late: a client timeout mid-order),
  ``trigger_leg`` (the broker closes a bracket position by itself).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.support.loopback import LoopbackServer

OPEN_STATES = {"new", "accepted", "pending_new", "held", "partially_filled"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _flag(value: str | None) -> bool:
    """A boolean query parameter as Alpaca (Go, strconv.ParseBool) reads it: alpaca-py sends "True"."""
    return (value or "").lower() in ("1", "t", "true")


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


@dataclass
class Fault:
    method: str
    path: str  # prefix of the request path, e.g. "/v2/orders"
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    echo_into: str | None = None  # body field that gets the request's headers appended (a debugging proxy)


@dataclass
class FakeOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    type: str
    time_in_force: str
    order_class: str
    status: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    filled_at: str | None = None
    canceled_at: str | None = None
    legs: list[FakeOrder] = field(default_factory=list)
    parent: FakeOrder | None = None
    polls: int = 0

    def to_json(self, nested: bool) -> dict[str, Any]:
        return {
            "id": self.id, "client_order_id": self.client_order_id,
            "created_at": self.created_at, "updated_at": self.updated_at, "submitted_at": self.created_at,
            "filled_at": self.filled_at, "expired_at": None, "canceled_at": self.canceled_at, "failed_at": None,
            "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.symbol)), "symbol": self.symbol,
            "asset_class": "us_equity", "notional": None, "qty": _num(self.qty),
            "filled_qty": _num(self.filled_qty), "filled_avg_price": _num(self.filled_avg_price),
            "order_class": self.order_class, "order_type": self.type, "type": self.type, "side": self.side,
            "position_intent": ("buy_to_open" if self.side == "buy" else "sell_to_close") if self.parent is None
            else ("sell_to_close" if self.side == "sell" else "buy_to_close"),
            "time_in_force": self.time_in_force, "limit_price": _num(self.limit_price),
            "stop_price": _num(self.stop_price), "status": self.status, "extended_hours": False,
            "legs": [leg.to_json(False) for leg in self.legs] if nested and self.legs else None,
            "trail_percent": None, "trail_price": None, "hwm": None, "commission": "0", "subtag": None,
            "source": None, "expires_at": None,
        }


class FakeAlpaca(LoopbackServer):
    def __init__(self, key: str = "PKTESTKEY", secret: str = "test-secret", *, cash: Decimal = Decimal(100_000),
                 fill_after_polls: int = 1) -> None:
        self.key = key
        self.secret = secret
        self.cash = cash
        self.prices: dict[str, Decimal] = {"AAPL": Decimal("187.50"), "SPY": Decimal("512.30")}
        self.positions: dict[str, Decimal] = {}  # signed quantity
        self.avg_price: dict[str, Decimal] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.by_client_id: dict[str, FakeOrder] = {}
        self.fill_after_polls = fill_after_polls
        self.market_open = True
        self.faults: list[Fault] = []
        self.slow_orders: list[float] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, faults included

    # ---- life cycle ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v2/orders", self._post_order)
        app.router.add_get("/v2/orders", self._list_orders)
        app.router.add_get("/v2/orders:by_client_order_id", self._get_by_client_id)
        app.router.add_get("/v2/orders/{order_id}", self._get_order)
        app.router.add_delete("/v2/orders/{order_id}", self._cancel_order)
        app.router.add_get("/v2/positions/{symbol}", self._get_position)
        app.router.add_get("/v2/account", self._account)
        return app

    # ---- fault injection ----------------------------------------------------------------------------

    def fail_next(self, method: str, path: str, status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None, *, echo_into: str | None = None) -> None:
        """The next matching request gets this error; `echo_into` names a body field that also carries the
        request's headers (the keys included), as servers and proxies that echo the request do."""
        self.faults.append(Fault(method, path, status, body, headers or {}, echo_into))

    def reject_next(self, message: str = "insufficient buying power", status: int = 403,
                    code: int = 40310000) -> None:
        self.fail_next("POST", "/v2/orders", status, {"code": code, "message": message})

    def rate_limit_next(self, method: str = "POST", path: str = "/v2/orders", retry_after: int = 1) -> None:
        self.fail_next(method, path, 429, {"code": 42910000, "message": "rate limit exceeded"},
                       {"Retry-After": str(retry_after), "X-RateLimit-Limit": "200",
                        "X-RateLimit-Remaining": "0"})

    def slow_next_order(self, delay: float) -> None:
        """The next order is created at once, and its answer is sent after `delay` seconds."""
        self.slow_orders.append(delay)

    def trigger_leg(self, entry_client_order_id: str, which: str, price: Decimal | None = None) -> FakeOrder:
        """The market reached a leg: it fills (at its limit/stop price) and its sibling is canceled (OCO)."""
        entry = self.by_client_id[entry_client_order_id]
        self._advance(entry, force=True)
        wanted = "limit" if which == "take_profit" else "stop"
        leg = next(leg for leg in entry.legs if leg.type == wanted)
        fill_price = price or leg.limit_price or leg.stop_price
        assert fill_price is not None
        self._fill(leg, fill_price)
        for sibling in entry.legs:
            if sibling is not leg and sibling.status in OPEN_STATES:
                sibling.status, sibling.canceled_at = "canceled", _now()
        return leg

    # ---- HTTP -------------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if (request.headers.get("APCA-API-KEY-ID") != self.key
                or request.headers.get("APCA-API-SECRET-KEY") != self.secret):
            return web.json_response({"message": "unauthorized"}, status=401)
        for fault in self.faults:
            if fault.method == request.method and request.path.startswith(fault.path):
                self.faults.remove(fault)
                body = dict(fault.body)
                if fault.echo_into:
                    body[fault.echo_into] = f"{body.get(fault.echo_into, '')} request: {dict(request.headers)}"
                return web.json_response(body, status=fault.status, headers=fault.headers)
        return await handler(request)

    @staticmethod
    def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
        return web.json_response({**extra, "code": code, "message": message}, status=status)

    async def _post_order(self, request: web.Request) -> web.Response:
        data = await request.json()
        coid = data.get("client_order_id") or str(uuid.uuid4())
        if coid in self.by_client_id:
            return self._error(422, 40010001, "client_order_id must be unique")
        symbol = data.get("symbol", "")
        if symbol not in self.prices:
            return self._error(422, 40010001, f'asset "{symbol}" not found')
        qty = Decimal(str(data["qty"]))
        side = data["side"]
        order_class = data.get("order_class") or "simple"
        price = self.prices[symbol]
        if qty <= 0:
            return self._error(422, 40010001, "qty must be > 0")
        if order_class != "simple" and qty != qty.to_integral_value():
            return self._error(422, 40010001, "fractional orders must be simple orders")
        tp = data.get("take_profit", {}).get("limit_price")
        sl = data.get("stop_loss", {}).get("stop_price")
        for name, value in (("take_profit.limit_price", tp), ("stop_loss.stop_price", sl)):
            if value is None:
                continue
            dec = Decimal(str(value))
            places = 2 if dec >= 1 else 4
            if dec != dec.quantize(Decimal(1).scaleb(-places)):
                return self._error(422, 42210000, f"invalid {name} {value}. sub-penny increment does not "
                                                  "fulfill minimum pricing criteria")
        penny = Decimal("0.01")
        if side == "buy":
            if tp is not None and Decimal(str(tp)) < price + penny:
                return self._error(422, 42210000, "take_profit.limit_price must be >= base_price + 0.01")
            if sl is not None and Decimal(str(sl)) > price - penny:
                return self._error(422, 42210000, "stop_loss.stop_price must be <= base_price - 0.01")
        else:
            if tp is not None and Decimal(str(tp)) > price - penny:
                return self._error(422, 42210000, "take_profit.limit_price must be <= base_price - 0.01")
            if sl is not None and Decimal(str(sl)) < price + penny:
                return self._error(422, 42210000, "stop_loss.stop_price must be >= base_price + 0.01")
        held = self.positions.get(symbol, Decimal(0))
        if side == "sell" and held > 0:
            available = held - self._held_by_legs(symbol)
            if qty > available:
                return self._error(403, 40310000, f"insufficient qty available for order (requested: {qty:f}, "
                                                  f"available: {available:f})", symbol=symbol)
        opening = (side == "buy" and held >= 0) or (side == "sell" and held <= 0)
        if opening and qty * price > self.buying_power:
            return self._error(403, 40310000, "insufficient buying power",
                               buying_power=_num(self.buying_power), cost_basis=_num(qty * price))
        order = FakeOrder(id=str(uuid.uuid4()), client_order_id=coid, symbol=symbol, side=side, qty=qty,
                          type="market", time_in_force=data["time_in_force"], order_class=order_class,
                          status="accepted")
        exit_side = "sell" if side == "buy" else "buy"
        if tp is not None:
            order.legs.append(FakeOrder(id=str(uuid.uuid4()), client_order_id=str(uuid.uuid4()), symbol=symbol,
                                        side=exit_side, qty=qty, type="limit", time_in_force=data["time_in_force"],
                                        order_class=order_class, status="held", limit_price=Decimal(str(tp)),
                                        parent=order))
        if sl is not None:
            order.legs.append(FakeOrder(id=str(uuid.uuid4()), client_order_id=str(uuid.uuid4()), symbol=symbol,
                                        side=exit_side, qty=qty, type="stop", time_in_force=data["time_in_force"],
                                        order_class=order_class, status="held", stop_price=Decimal(str(sl)),
                                        parent=order))
        for o in (order, *order.legs):
            self.orders[o.id] = o
        self.by_client_id[coid] = order
        if self.slow_orders:
            # The order exists from here on; the answer is late: the client times out mid-order.
            await asyncio.sleep(self.slow_orders.pop(0))
        return web.json_response(order.to_json(nested=True))

    async def _list_orders(self, request: web.Request) -> web.Response:
        status = request.query.get("status", "open")
        nested = _flag(request.query.get("nested"))
        result = []
        for order in self.orders.values():
            if nested and order.parent is not None:
                continue
            is_open = order.status in OPEN_STATES
            if status == "all" or (status == "open") == is_open:
                result.append(order.to_json(nested))
        return web.json_response(result)

    async def _get_by_client_id(self, request: web.Request) -> web.Response:
        coid = request.query.get("client_order_id", "")
        order = self.by_client_id.get(coid)
        if order is None:
            return self._error(404, 40410000, f"order not found for {coid}")
        self._advance(order)
        return web.json_response(order.to_json(nested=False))

    async def _get_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return self._error(404, 40410000, "order not found")
        if order.parent is None:
            self._advance(order)
        return web.json_response(order.to_json(nested=_flag(request.query.get("nested"))))

    async def _cancel_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return self._error(404, 40410000, "order not found")
        if order.status not in OPEN_STATES:
            return self._error(422, 42210000, "order is not cancelable")
        order.status, order.canceled_at, order.updated_at = "canceled", _now(), _now()
        return web.Response(status=204)

    async def _get_position(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        qty = self.positions.get(symbol, Decimal(0))
        if qty == 0:
            return self._error(404, 40410000, "position does not exist")
        price = self.prices[symbol]
        avg = self.avg_price[symbol]
        return web.json_response({
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)), "symbol": symbol, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": True, "qty": _num(qty),
            "qty_available": _num(abs(qty) - self._held_by_legs(symbol)), "avg_entry_price": _num(avg),
            "side": "long" if qty > 0 else "short", "market_value": _num(qty * price),
            "cost_basis": _num(qty * avg), "unrealized_pl": _num((price - avg) * qty),
            "unrealized_plpc": _num((price - avg) / avg), "unrealized_intraday_pl": _num((price - avg) * qty),
            "unrealized_intraday_plpc": _num((price - avg) / avg), "current_price": _num(price),
            "lastday_price": _num(price), "change_today": "0"})

    async def _account(self, request: web.Request) -> web.Response:
        bp = _num(self.buying_power)
        return web.json_response({
            "id": "0d969814-40d6-4b2b-99ac-2e37427f1ad2", "account_number": "PA3ZKX7S2BWM", "status": "ACTIVE",
            "crypto_status": "ACTIVE", "currency": "USD", "buying_power": bp, "regt_buying_power": bp,
            "daytrading_buying_power": "0", "non_marginable_buying_power": bp, "cash": _num(self.cash),
            "accrued_fees": "0", "pending_transfer_in": "0", "portfolio_value": _num(self.cash),
            "pattern_day_trader": False, "trading_blocked": False, "transfers_blocked": False,
            "account_blocked": False, "created_at": "2024-01-02T15:04:05.123456Z", "trade_suspended_by_user": False,
            "multiplier": "1", "shorting_enabled": True, "equity": _num(self.cash), "last_equity": _num(self.cash),
            "long_market_value": "0", "short_market_value": "0", "initial_margin": "0", "maintenance_margin": "0",
            "last_maintenance_margin": "0", "sma": "0", "daytrade_count": 0, "options_trading_level": 0})

    # ---- the simulated market ---------------------------------------------------------------------------

    @property
    def buying_power(self) -> Decimal:
        return self.cash

    def _held_by_legs(self, symbol: str) -> Decimal:
        """Shares reserved by open sell legs; the two legs of one bracket are OCO and reserve them once."""
        return sum((max(leg.qty for leg in legs) for o in self.orders.values() if o.parent is None
                    and o.symbol == symbol and o.status == "filled"
                    if (legs := [leg for leg in o.legs if leg.side == "sell" and leg.status in OPEN_STATES])),
                   Decimal(0))

    def _advance(self, order: FakeOrder, force: bool = False) -> None:
        if order.status != "accepted":
            return
        order.polls += 1
        if force or (self.market_open and order.polls >= self.fill_after_polls):
            self._fill(order, self.prices[order.symbol])
            for leg in order.legs:  # the entry filled: its legs go to work (take-profit new, stop held)
                leg.status = "new" if leg.type == "limit" else "held"

    def _fill(self, order: FakeOrder, price: Decimal) -> None:
        order.status, order.filled_qty, order.filled_avg_price = "filled", order.qty, price
        order.filled_at = order.updated_at = _now()
        signed = order.qty if order.side == "buy" else -order.qty
        before = self.positions.get(order.symbol, Decimal(0))
        after = before + signed
        if before == 0 or (before > 0) == (signed > 0):  # opening or adding: new average price
            self.avg_price[order.symbol] = (abs(before) * self.avg_price.get(order.symbol, price)
                                            + order.qty * price) / abs(after)
        self.positions[order.symbol] = after
        self.cash -= signed * price
