"""Alpaca (paper endpoint by default) through alpaca-py's TradingClient: bracket entries, polled fills.

alpaca-py is synchronous (requests), so every call runs in a worker thread (asyncio.to_thread). Two of its
defaults are wrong for a bot and are changed on the client it builds (see `_harden`):

* its requests.Session has no timeout: a stalled connection would hold a worker thread, and the user's
  order, forever — every request here gets `timeout` seconds;
* it retries 429 and 504 itself with a blocking `time.sleep(3)`, three times, without reading Retry-After —
  the retrying is done here instead (tenacity, backoff, Retry-After honoured, order POSTs never re-sent
  after a timeout).

Errors: 401 → auth; 403 is ambiguous at Alpaca — "insufficient buying power" is a 403 with an Alpaca error
code (40310000) while refused keys get a 403 without one — so a coded 403 is a rejection and an uncoded one
is auth; 400/422 → OrderRejected; 429/5xx/timeouts/connection errors → transient.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, OrderType, QueryOrderStatus, TimeInForce
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from alpaca.trading.models import Order
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

from engine.brokers.base import AccountFigures, BrokerError, Fill, OrderRejected, OrderRequest, OrderStatus, Side
from engine.brokers.reasons import one_line, shown_reason
from engine.brokers.retry import RetryPolicy, parse_retry_after, retryable, with_retry

log = logging.getLogger(__name__)
T = TypeVar("T")

_FILLED = {AlpacaStatus.FILLED}
_DEAD = {AlpacaStatus.CANCELED, AlpacaStatus.EXPIRED, AlpacaStatus.DONE_FOR_DAY, AlpacaStatus.REPLACED}
_REFUSED = {AlpacaStatus.REJECTED, AlpacaStatus.SUSPENDED}
_LEG_OPEN = {AlpacaStatus.NEW, AlpacaStatus.HELD, AlpacaStatus.ACCEPTED, AlpacaStatus.PENDING_NEW,
             AlpacaStatus.PARTIALLY_FILLED, AlpacaStatus.ACCEPTED_FOR_BIDDING, AlpacaStatus.PENDING_REPLACE,
             AlpacaStatus.CALCULATED}


class _NotFound(BrokerError):
    """404: the order (or position) does not exist at Alpaca."""


class _TimeoutSession(requests.Session):
    """A requests.Session whose every request has a timeout (requests' default is to wait forever)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def _harden(client: TradingClient, timeout: float) -> None:
    # Private attributes of alpaca-py's RESTClient (0.44); checked so that an upgrade that renames them fails
    # here, loudly, instead of silently bringing back unbounded waits and blocking retries.
    for attr in ("_session", "_retry"):
        if not hasattr(client, attr):
            raise RuntimeError(f"alpaca-py changed: TradingClient has no {attr}; review engine/brokers/alpaca.py")
    client._session = _TimeoutSession(timeout)
    client._retry = 0


def alpaca_price(price: Decimal) -> Decimal:
    """Alpaca refuses sub-penny prices: 2 decimals at or above $1, 4 below (SEC Reg NMS rule 612)."""
    return price.quantize(Decimal("0.01") if price >= 1 else Decimal("0.0001"))


def _dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _body(exc: APIError) -> dict[str, Any]:
    try:
        parsed = json.loads(str(exc))
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _translate(exc: Exception, *, idempotent: bool, secrets: tuple[str, ...] = ()) -> BrokerError:
    """An alpaca-py / requests exception as a BrokerError whose message is ours plus Alpaca's one-line reason.

    Never the raw body: the keys travel in headers, and a proxy or server that echoes the request puts them
    in the body. The body goes to the log only, with `secrets` (the broker's keys) redacted."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, APIError):
        status = exc.status_code or 0
        body = _body(exc)
        message = shown_reason(body.get("message"), secrets) or f"HTTP {status}, details in the log"
        code = str(body.get("code") or "")
        log.info("alpaca answered %s: %s", status, one_line(exc, secrets, limit=2000))
        if status == 401:
            return BrokerError(f"Alpaca refused the API keys ({message})", auth=True)
        if status == 403:
            if code.startswith("403"):  # a business refusal: buying power, shortable, held qty …
                return OrderRejected(message)
            return BrokerError(f"Alpaca refused access ({message})", auth=True)
        if status == 404:
            return _NotFound(message)
        if status in (400, 422):
            return OrderRejected(message)
        if status == 429:
            headers = exc.response.headers if exc.response is not None else {}
            after = parse_retry_after(headers.get("Retry-After"))
            if after is None and headers.get("X-RateLimit-Reset"):  # Alpaca's own header: epoch seconds
                after = max(0.0, float(_dec(headers["X-RateLimit-Reset"])) - time.time())
            return retryable(BrokerError(f"Alpaca rate limit ({message})", transient=True, retry_after=after))
        if status >= 500:
            # A 5xx on an order POST may still have created the order: only reads are retried.
            return retryable(BrokerError(f"Alpaca server error {status} ({message})", transient=True), idempotent)
        return BrokerError(f"Alpaca error {status}: {message}")
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _never_connected(exc):
        return retryable(BrokerError(f"Alpaca unreachable ({type(exc).__name__})", transient=True))
    if isinstance(exc, requests.exceptions.Timeout):
        return retryable(BrokerError("Alpaca did not answer in time; the order may exist — reconcile with "
                                     "order_status", transient=True), idempotent)
    if isinstance(exc, requests.exceptions.RequestException):
        return retryable(BrokerError(f"Alpaca connection error ({type(exc).__name__})", transient=True), idempotent)
    raise exc


def _never_connected(exc: Exception) -> bool:
    """True when the request cannot have reached Alpaca (connection refused, DNS): safe to send again."""
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    import urllib3.exceptions

    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError)


class AlpacaBroker:
    name = "alpaca"

    def __init__(self, api_key: str, secret_key: str, paper: bool = True, url_override: str | None = None,
                 timeout: float = 10, *, retry: RetryPolicy | None = None, poll_interval: float = 0.5,
                 fill_timeout: float = 30.0) -> None:
        self._client = TradingClient(api_key, secret_key, paper=paper, url_override=url_override)
        self._secrets = (api_key, secret_key)  # redacted from every error text
        _harden(self._client, timeout)
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.fill_timeout = fill_timeout  # market orders outside market hours wait for the open: PENDING then

    # ---- plumbing ---------------------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any, idempotent: bool = True, what: str = "alpaca") -> T:
        async def once() -> T:
            try:
                return await asyncio.to_thread(fn, *args)
            except Exception as exc:  # translated: alpaca-py raises APIError, requests its own family
                raise _translate(exc, idempotent=idempotent, secrets=self._secrets) from None

        return await with_retry(once, self.retry, what)

    async def _order(self, client_order_id: str) -> Order:
        return await self._call(self._client.get_order_by_client_id, client_order_id, what="get order")

    async def _nested(self, order_id: Any) -> Order:
        return await self._call(self._client.get_order_by_id, order_id, GetOrderByIdRequest(nested=True),
                                what="get order legs")

    # ---- the protocol -----------------------------------------------------------------------------------

    async def submit(self, order: OrderRequest) -> Fill:
        if order.closing:
            return await self._close(order)
        request, legs = self._entry_request(order)
        placed = await self._place(request)
        return await self._until_done(placed, order.client_order_id, bracket=legs)

    async def order_status(self, client_order_id: str, symbol: str | None = None) -> Fill:
        try:
            found = await self._order(client_order_id)
        except _NotFound:
            return Fill(client_order_id=client_order_id, broker_order_id="", status=OrderStatus.NOT_FOUND,
                        detail="Alpaca has no order with this client order id")
        return self._fill(found, client_order_id)

    async def exit_fill(self, entry_client_order_id: str, symbol: str | None = None) -> Fill | None:
        """The fill of the bracket leg (stop-loss or take-profit) that closed this entry at Alpaca, if one did;
        its `detail` names which. The position monitor asks this for bracket positions: Alpaca may close them
        between our price checks. (`symbol` is accepted for symmetry with the ccxt broker; Alpaca ignores it.)
        """
        try:
            entry = await self._order(entry_client_order_id)
        except _NotFound:
            return None
        nested = await self._nested(entry.id)
        for leg in nested.legs or []:
            if leg.status in _FILLED:
                return self._leg_fill(leg, entry_client_order_id)
        return None

    async def check(self) -> str:
        """One line about the account; raises BrokerError(auth=True) when the keys are refused."""
        account = await self._call(self._client.get_account, what="get account")
        return f"Alpaca account {account.account_number} {account.status.value}, buying power {account.buying_power}"

    async def account(self) -> AccountFigures:
        """The account's equity and cash as Alpaca reports them (GET /v2/account)."""
        account = await self._call(self._client.get_account, what="get account")
        return AccountFigures(equity=_dec(account.equity), cash=_dec(account.cash))

    async def cancel_open_orders(self) -> int:
        """Cancel every open order of the account, bracket legs included (a user leaving: /forgetme); returns
        how many Alpaca accepted. One already gone (filled, or cancelled with its sibling) is skipped."""
        orders = await self._call(self._client.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN,
                                                                             limit=500), what="list open orders")
        cancelled = 0
        for order in orders:
            try:
                await self._call(self._client.cancel_order_by_id, order.id, what="cancel order")
                cancelled += 1
            except (OrderRejected, _NotFound):
                pass
        return cancelled

    async def close(self) -> None:
        self._client._session.close()

    # ---- entries ----------------------------------------------------------------------------------------

    def _entry_request(self, order: OrderRequest) -> tuple[MarketOrderRequest, bool]:
        side = OrderSide.BUY if order.side is Side.LONG else OrderSide.SELL
        crypto = "/" in order.symbol  # Alpaca crypto has no bracket orders: its exits are monitored by us
        legs: dict[str, Any] = {}
        if not crypto and order.take_profit is not None:
            legs["take_profit"] = TakeProfitRequest(limit_price=float(alpaca_price(order.take_profit)))
        if not crypto and order.stop_loss is not None:
            legs["stop_loss"] = StopLossRequest(stop_price=float(alpaca_price(order.stop_loss)))
        if not legs:
            quantity = order.quantity
            if quantity <= 0:
                raise OrderRejected(f"quantity {order.quantity} of {order.symbol} is not positive")
            # fractional shares are allowed for simple market orders, DAY only; crypto trades GTC
            tif = TimeInForce.GTC if crypto else TimeInForce.DAY
            return MarketOrderRequest(symbol=order.symbol, qty=float(quantity), side=side, time_in_force=tif,
                                      client_order_id=order.client_order_id), False
        # Bracket/OTO legs need whole shares at Alpaca; the part of a share that does not fit is not bought.
        shares = order.quantity.to_integral_value(rounding=ROUND_DOWN)
        if shares < 1:
            raise OrderRejected(
                f"Alpaca bracket orders need whole shares: {order.quantity.normalize():f} {order.symbol} "
                f"(about ${order.quantity * order.price:,.2f} at {order.price}) is less than 1 share. "
                "Choose a larger size.")
        return MarketOrderRequest(
            symbol=order.symbol, qty=float(shares), side=side,
            # GTC, not DAY: the legs inherit it, and DAY legs would silently expire at the close
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET if len(legs) == 2 else OrderClass.OTO,
            client_order_id=order.client_order_id, **legs), True

    async def _place(self, request: MarketOrderRequest) -> Order:
        coid = request.client_order_id or ""
        try:
            # not idempotent: a timeout here surfaces as a transient error for order_status to settle
            return await self._call(self._client.submit_order, request, idempotent=False, what="submit order")
        except OrderRejected as exc:
            if "client_order_id must be unique" not in str(exc):
                raise
            # Sent before (a retry by our caller after a lost answer): it is the same order; follow it.
            return await self._order(coid)

    async def _until_done(self, placed: Order, client_order_id: str, *, bracket: bool) -> Fill:
        current = placed
        deadline = time.monotonic() + self.fill_timeout
        while not self._settled(current) and time.monotonic() < deadline:
            await asyncio.sleep(self.poll_interval)
            current = await self._order(client_order_id)
        fill = self._fill(current, client_order_id)
        if fill.status is OrderStatus.FILLED and not bracket and not fill.detail:
            fill.detail = "monitored exits (no broker-side stop-loss/take-profit for this order)"
        return fill

    @staticmethod
    def _settled(order: Order) -> bool:
        return order.status in _FILLED | _DEAD | _REFUSED

    def _fill(self, order: Order, client_order_id: str) -> Fill:
        filled = _dec(order.filled_qty)
        wanted = _dec(order.qty)
        status = OrderStatus.PENDING
        detail = ""
        if order.status in _FILLED:
            status = OrderStatus.FILLED
        elif order.status in _REFUSED:
            status = OrderStatus.REJECTED
            detail = f"Alpaca {order.status.value}"
        elif order.status in _DEAD:
            if filled > 0:  # partly filled, then canceled/expired: the shares we got are a position
                status = OrderStatus.FILLED
                detail = f"partially filled ({filled:f} of {wanted:f}), the rest {order.status.value}"
            else:
                status = OrderStatus.CANCELED
                detail = f"Alpaca {order.status.value}"
        else:
            detail = f"Alpaca {order.status.value}" + (f", {filled:f} of {wanted:f} filled" if filled else "")
        legs = order.legs or []
        return Fill(
            client_order_id=client_order_id, broker_order_id=str(order.id), status=status,
            quantity=filled, price=_dec(order.filled_avg_price),
            fee=Decimal(0),  # Alpaca charges no commission on US equities (regulatory fees come later, per day)
            filled_at=order.filled_at, detail=detail,
            bracket=order.order_class in (OrderClass.BRACKET, OrderClass.OTO) or bool(legs))

    def _leg_fill(self, leg: Order, client_order_id: str) -> Fill:
        kind = "take-profit" if leg.type is OrderType.LIMIT else "stop-loss"
        return Fill(client_order_id=client_order_id, broker_order_id=str(leg.id), status=OrderStatus.FILLED,
                    quantity=_dec(leg.filled_qty), price=_dec(leg.filled_avg_price), fee=Decimal(0),
                    filled_at=leg.filled_at or datetime.now(UTC),
                    detail=f"closed at Alpaca by the {kind} leg")

    # ---- exits ------------------------------------------------------------------------------------------

    async def _close(self, order: OrderRequest) -> Fill:
        # 1. The entry's bracket legs hold the shares: a sell next to them is refused ("insufficient qty
        #    available"). Cancel them — unless one already filled, which means Alpaca closed the position.
        if order.entry_client_order_id:
            closed = await self._release_legs(order.entry_client_order_id)
            if closed is not None:
                closed.client_order_id = order.client_order_id
                return closed
        # 2. Never sell what is not held: a sell with no long position would open a short at Alpaca.
        held = await self._held(order.symbol)
        want_long = order.side is Side.LONG
        if held == 0 or (held > 0) != want_long:
            raise OrderRejected(f"no {order.side.value} {order.symbol} position at Alpaca to close "
                                f"(held: {held:f}); it may have been closed there")
        quantity = min(order.quantity, abs(held))
        side = OrderSide.SELL if want_long else OrderSide.BUY
        tif = TimeInForce.GTC if "/" in order.symbol else TimeInForce.DAY
        request = MarketOrderRequest(symbol=order.symbol, qty=float(quantity), side=side, time_in_force=tif,
                                     client_order_id=order.client_order_id)
        placed = await self._place(request)
        fill = await self._until_done(placed, order.client_order_id, bracket=False)
        fill.bracket = False
        if fill.detail.startswith("monitored exits"):
            fill.detail = ""
        return fill

    async def _release_legs(self, entry_client_order_id: str) -> Fill | None:
        """Cancel the entry's open legs and wait until Alpaca has released the shares they hold; or return the
        fill of a leg that already closed the position."""
        try:
            entry = await self._order(entry_client_order_id)
        except _NotFound:
            return None
        asked: set[str] = set()
        deadline = time.monotonic() + self.fill_timeout
        while True:
            nested = await self._nested(entry.id)
            legs = nested.legs or []
            for leg in legs:
                if leg.status in _FILLED:
                    return self._leg_fill(leg, entry_client_order_id)
            working = [leg for leg in legs if leg.status in _LEG_OPEN or leg.status is AlpacaStatus.PENDING_CANCEL]
            if not working:
                return None
            if time.monotonic() >= deadline:
                raise BrokerError(f"Alpaca has not canceled the bracket legs of {entry_client_order_id} yet",
                                  transient=True)
            for leg in working:
                if leg.status in _LEG_OPEN and str(leg.id) not in asked:
                    asked.add(str(leg.id))
                    try:
                        await self._call(self._client.cancel_order_by_id, leg.id, what="cancel leg")
                    except (OrderRejected, _NotFound):
                        pass  # not cancelable any more (filled or gone): the next look tells which
            await asyncio.sleep(self.poll_interval)

    async def _held(self, symbol: str) -> Decimal:
        try:
            position = await self._call(self._client.get_open_position, symbol.replace("/", ""),
                                        what="get position")
        except _NotFound:
            return Decimal(0)
        qty = _dec(position.qty)
        return -abs(qty) if position.side.value == "short" else abs(qty)
