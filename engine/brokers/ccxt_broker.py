"""Any ccxt exchange (sandbox/testnet by default): market entries, then SL/TP where the exchange can hold them.

Exits held by the exchange: on a spot market both a stop-loss and a take-profit sell the same coins, and an
exchange reserves the coins of each open sell order, so two separate orders cannot both be placed — only a
one-cancels-the-other (OCO) order list can hold both. ccxt has no unified OCO call; Binance's spot OCO
(`POST /api/v3/orderList/oco`) is used through ccxt's implicit API where the exchange has it. With one of
SL/TP, a single trigger order is placed where `exchange.has` says the exchange supports it. Everything
else — shorts (spot cannot short), other exchanges, a refused exit order — is "monitored exits": the fill
says `bracket=False` and our position monitor closes at market.

Quantities: on spot the commission of a buy is usually taken from the coins bought (0.1 % of BTC on Binance
without BNB), and only multiples of the lot step can be sold. A long's `Fill.quantity` is therefore what
the position can actually sell (bought − base commission, floored to the step), and the commission and the
unsellable remainder are charged in `Fill.fee` at the fill price, in the quote currency: with these, PnL
computed from the fill equals the exchange's cash result exactly.

Client order ids: the caller's id is used as is when the exchange accepts it (≤ 32 characters of
[A-Za-z0-9_-]), otherwise a stable hash of it; exit orders get `<id>.sl`, `<id>.tp` and `<id>.oco`, so
reconciliation finds them from the entry's id alone, after a crash too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import ccxt.async_support as ccxt_async
from ccxt.base import errors as cx

from engine.brokers.base import AccountFigures, BrokerError, Fill, OrderRejected, OrderRequest, OrderStatus, Side
from engine.brokers.reasons import body_field, one_line, shown_reason
from engine.brokers.retry import RetryPolicy, parse_retry_after, retryable, with_retry

log = logging.getLogger(__name__)
T = TypeVar("T")

# Per-exchange ccxt options: load spot markets only, and skip calls a sandbox does not serve (binance's
# fetchCurrencies is a private /sapi call the testnet lacks; margin pairs likewise).
EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                "fetchMargins": False},
}
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_PRICE_Q = Decimal("0.00000001")


class _NotFound(BrokerError):
    """The exchange has no such order."""


class _Unsupported(BrokerError):
    """The exchange cannot do this call this way (ccxt NotSupported / ArgumentsRequired)."""


def exchange_client_order_id(client_order_id: str) -> str:
    """The id sent to the exchange: ours when every exchange takes it, else a stable 32-character hash."""
    if _PLAIN_ID.fullmatch(client_order_id):
        return client_order_id
    return "t" + hashlib.sha256(client_order_id.encode()).hexdigest()[:31]


def exit_ids(entry_id: str) -> tuple[str, str, str]:
    """(stop-loss, take-profit, OCO list) client ids of an entry's exit orders (≤ 36 characters: binance)."""
    return f"{entry_id}.sl", f"{entry_id}.tp", f"{entry_id}.oco"


def _dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))  # str() of a float is its shortest repr: 8.33e-06 → Decimal('0.00000833')
    except InvalidOperation:
        return Decimal(0)


def _rebase(url: str, base: str) -> str:
    """`url` moved to `base`'s scheme and host (and under its path): https://testnet.binance.vision/api/v3
    on http://127.0.0.1:8080 → http://127.0.0.1:8080/api/v3."""
    target = urlsplit(base)
    return f"{target.scheme}://{target.netloc}{target.path.rstrip('/')}{urlsplit(url).path}"


def override_urls(exchange: ccxt_async.Exchange, override: str | dict[str, Any]) -> None:
    """Point the exchange's REST URLs in use (after set_sandbox_mode) somewhere else, e.g. a local server.

    A string moves every URL to that origin, keeping paths; a dict may hold 'api' or 'test' (a string as
    above, or a dict of entries such as {'public': …, 'private': …}), or such entries directly.
    """
    if isinstance(override, dict):
        value: Any = override.get("test", override.get("api", override))
    else:
        value = override
    api = exchange.urls["api"]
    if isinstance(value, str):
        if isinstance(api, str):
            exchange.urls["api"] = _rebase(api, value)
        else:
            exchange.urls["api"] = {k: _rebase(v, value) if isinstance(v, str) else v for k, v in api.items()}
    elif isinstance(value, dict):
        if isinstance(api, dict):
            exchange.urls["api"] = {**api, **value}
        else:
            raise ValueError("this exchange has a single API URL: give urls_override as a string")


def _translate(exc: Exception, exchange: ccxt_async.Exchange, *, idempotent: bool) -> BrokerError:
    """A ccxt exception as a BrokerError whose message is ours plus a one-line reason.

    ccxt's messages carry the exchange's raw body (and URL): only its `msg` reaches the BrokerError, or ccxt's
    own text when there is no body, or else the exception's class; the raw text goes to the log, with the
    keys redacted (a server that echoes the request would otherwise show them)."""
    if isinstance(exc, BrokerError):
        return exc
    secrets = (exchange.apiKey, exchange.secret)
    raw = str(exc)
    text = (shown_reason(body_field(raw, "msg", "message") or raw, secrets)
            or f"{type(exc).__name__}, details in the log")
    log.info("%s answered %s: %s", exchange.id, type(exc).__name__, one_line(raw, secrets, limit=2000))
    if isinstance(exc, cx.OrderNotFound):  # before InvalidOrder, its parent class
        return _NotFound(text)
    if isinstance(exc, cx.AuthenticationError):
        return BrokerError(f"{exchange.id} refused the API keys: {text}", auth=True)
    if isinstance(exc, cx.DDoSProtection | cx.RateLimitExceeded):
        headers = exchange.last_response_headers or {}
        after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
        return retryable(BrokerError(f"{exchange.id} rate limit: {text}", transient=True, retry_after=after))
    if isinstance(exc, cx.InvalidNonce):  # timestamp outside the window: refused before processing
        return retryable(BrokerError(f"{exchange.id} clock/nonce: {text}", transient=True))
    if isinstance(exc, cx.RequestTimeout):
        return retryable(BrokerError(f"{exchange.id} did not answer in time; the order may exist — reconcile "
                                     "with order_status", transient=True), idempotent)
    if isinstance(exc, cx.NetworkError | cx.OperationFailed):
        never_sent = isinstance(exc.__cause__, aiohttp.ClientConnectorError)  # connection refused, DNS
        return retryable(BrokerError(f"{exchange.id} unavailable: {text}", transient=True), idempotent or never_sent)
    if isinstance(exc, cx.NotSupported | cx.ArgumentsRequired):
        return _Unsupported(text)
    if isinstance(exc, cx.InsufficientFunds | cx.InvalidOrder | cx.BadRequest | cx.OperationRejected):
        return OrderRejected(text)
    if isinstance(exc, cx.ExchangeError):
        return BrokerError(f"{exchange.id} error: {text}")
    if isinstance(exc, TimeoutError | aiohttp.ClientError):  # ccxt normally wraps these; in case it does not
        return retryable(BrokerError(f"{exchange.id} connection: {type(exc).__name__}", transient=True), idempotent)
    raise exc


class CcxtBroker:
    name = "ccxt"

    def __init__(self, exchange_id: str, api_key: str, secret: str, sandbox: bool = True,
                 urls_override: str | dict[str, Any] | None = None, timeout_ms: int = 10000, *,
                 password: str | None = None, options: dict[str, Any] | None = None,
                 retry: RetryPolicy | None = None, poll_interval: float = 0.5, fill_timeout: float = 10.0) -> None:
        cls = getattr(ccxt_async, exchange_id, None)
        if cls is None or not isinstance(cls, type):
            raise ValueError(f"ccxt has no exchange {exchange_id!r}")
        config: dict[str, Any] = {
            "apiKey": api_key, "secret": secret, "timeout": timeout_ms, "enableRateLimit": True,
            "options": {**EXCHANGE_OPTIONS.get(exchange_id, {}), **(options or {})},
        }
        if password:
            config["password"] = password
        self.exchange: ccxt_async.Exchange = cls(config)
        if sandbox:
            try:
                self.exchange.set_sandbox_mode(True)
            except cx.NotSupported as exc:
                raise ValueError(f"{exchange_id} has no sandbox/testnet in ccxt; set sandbox: false deliberately "
                                 "to trade live") from exc
        if urls_override:
            override_urls(self.exchange, urls_override)
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.fill_timeout = fill_timeout
        self._symbols: dict[str, str] = {}  # client order id → symbol, for order_status without a symbol
        self._markets_lock = asyncio.Lock()

    # ---- plumbing ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> CcxtBroker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release ccxt's aiohttp session (ccxt warns, and leaks it, when an exchange is not closed)."""
        await self.exchange.close()

    # ---- the account (a user's own keys: /setkeys checks them, the risk budget reads them) --------------

    async def check(self) -> str:
        """One line about the account (the exchange's balance call); raises BrokerError(auth=True) when the
        keys are refused."""
        balance = await self._call(self.exchange.fetch_balance, what="fetch balance")
        held = sorted(asset for asset, amount in (balance.get("total") or {}).items() if amount)
        return f"{self.exchange.id} account with {len(held)} asset(s)" + (f": {', '.join(held[:5])}" if held else "")

    async def account(self, quote: str = "USDT") -> AccountFigures:
        """Equity in `quote`: its balance plus every other held asset at its last price against `quote` (an
        asset without such a market counts nothing); cash is the free `quote` balance."""
        balance = await self._call(self.exchange.fetch_balance, what="fetch balance")
        totals = balance.get("total") or {}
        equity = _dec(totals.get(quote) or 0)
        async with self._markets_lock:
            if not self.exchange.markets:
                await self._call(self.exchange.load_markets, what="load markets")
        for asset, amount in totals.items():
            symbol = f"{asset}/{quote}"
            if asset == quote or not amount or symbol not in self.exchange.markets:
                continue
            ticker = await self._call(self.exchange.fetch_ticker, symbol, what="fetch ticker")
            equity += _dec(amount) * _dec(ticker.get("last") or 0)
        return AccountFigures(equity=equity, cash=_dec((balance.get("free") or {}).get(quote) or 0))

    async def cancel_open_orders(self) -> int:
        """Cancel every open order of the account (a user leaving: /forgetme), an OCO list through its list;
        returns how many were cancelled. One already gone is skipped."""
        self.exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False  # every symbol, on purpose
        orders = await self._call(self.exchange.fetch_open_orders, what="fetch open orders")
        cancelled, lists = 0, set()
        for order in orders:
            info = order.get("info") or {}
            list_id = str(info.get("orderListId", "-1"))
            try:
                if list_id != "-1":
                    if (info.get("symbol"), list_id) in lists:
                        continue
                    lists.add((info.get("symbol"), list_id))
                    await self._call(self.exchange.privateDeleteOrderList,
                                     {"symbol": info.get("symbol"), "orderListId": list_id}, what="cancel OCO")
                else:
                    await self._call(self.exchange.cancel_order, order["id"], order["symbol"], what="cancel order")
                cancelled += 1
            except (_NotFound, OrderRejected):
                pass
        return cancelled

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, idempotent: bool = True,
                    what: str = "ccxt") -> T:
        async def once() -> T:
            try:
                return await fn(*args)
            except (TimeoutError, cx.BaseError, aiohttp.ClientError) as exc:
                raise _translate(exc, self.exchange, idempotent=idempotent) from None

        return await with_retry(once, self.retry, f"{self.exchange.id} {what}")

    async def _market(self, symbol: str) -> dict[str, Any]:
        async with self._markets_lock:
            if not self.exchange.markets:
                await self._call(self.exchange.load_markets, what="load markets")
        if symbol not in self.exchange.markets:
            raise OrderRejected(f"{self.exchange.id} has no market {symbol}")
        return self.exchange.market(symbol)

    async def _find(self, symbol: str, exchange_id: str) -> dict[str, Any] | None:
        """The order with this client id, or None: fetch_order by client id where the exchange takes it,
        else a scan of the recent orders ccxt can list."""
        has = self.exchange.has
        if has.get("fetchOrder"):
            try:
                return await self._call(self.exchange.fetch_order, None, symbol, {"clientOrderId": exchange_id},
                                        what="fetch order")
            except _NotFound:
                return None
            except _Unsupported:
                pass
        for method in ("fetchOrders", "fetchOpenOrders", "fetchClosedOrders"):
            if has.get(method):
                orders = await self._call(getattr(self.exchange, method), symbol, what=method)
                for order in orders:
                    if order.get("clientOrderId") == exchange_id:
                        return order
        return None

    # ---- the protocol -----------------------------------------------------------------------------------

    async def submit(self, order: OrderRequest) -> Fill:
        market = await self._market(order.symbol)
        self._symbols[order.client_order_id] = order.symbol
        if order.closing:
            return await self._close(order, market)
        if order.side is Side.SHORT and market.get("spot"):
            raise OrderRejected(f"{self.exchange.id} {order.symbol} is a spot market: it cannot open a short "
                                "(that needs a margin or derivatives market)")
        amount = self._amount(market, order.quantity, order.price)
        xid = exchange_client_order_id(order.client_order_id)
        side = "buy" if order.side is Side.LONG else "sell"
        placed = await self._call(self.exchange.create_order, order.symbol, "market", side, float(amount), None,
                                  {"clientOrderId": xid}, idempotent=False, what="create order")
        done = await self._until_done(placed, order.symbol, xid)
        fill = await self._fill(done, order.client_order_id, market)
        if fill.status is OrderStatus.FILLED:
            await self._place_exits(order, market, fill, xid)
        return fill

    async def order_status(self, client_order_id: str, symbol: str | None = None) -> Fill:
        symbol = symbol or self._symbols.get(client_order_id)
        if symbol is None:
            raise BrokerError(f"{self.exchange.id}: order_status needs the symbol of {client_order_id} "
                              "(exchanges look orders up per market)")
        market = await self._market(symbol)
        xid = exchange_client_order_id(client_order_id)
        found = await self._find(symbol, xid)
        if found is None:
            return Fill(client_order_id=client_order_id, broker_order_id="", status=OrderStatus.NOT_FOUND,
                        detail=f"{self.exchange.id} has no order {xid} on {symbol}")
        fill = await self._fill(found, client_order_id, market)
        if fill.status is OrderStatus.FILLED and found.get("side") == "buy" and market.get("spot"):
            legs = [leg for leg in await self._legs(symbol, xid) if leg is not None]
            fill.bracket = any(leg.get("status") in ("open", "closed") for leg in legs)
            if not fill.bracket:
                fill.detail = _join(fill.detail, "monitored exits (no exit orders at the exchange)")
        return fill

    async def exit_fill(self, entry_client_order_id: str, symbol: str | None = None) -> Fill | None:
        """The fill of the exit order (stop-loss or take-profit) that closed this entry at the exchange, if any.

        Its `detail` names which ("… by the stop-loss order"). Pass the symbol (required after a restart).
        """
        symbol = symbol or self._symbols.get(entry_client_order_id)
        if symbol is None:
            raise BrokerError(f"{self.exchange.id}: exit_fill needs the symbol of {entry_client_order_id}")
        market = await self._market(symbol)
        for leg in await self._legs(symbol, exchange_client_order_id(entry_client_order_id)):
            if leg is not None and leg.get("status") == "closed":
                return await self._leg_fill(leg, entry_client_order_id, market)
        return None

    # ---- entries ----------------------------------------------------------------------------------------

    def _amount(self, market: dict[str, Any], quantity: Decimal, price: Decimal) -> Decimal:
        symbol = market["symbol"]
        try:
            amount = Decimal(self.exchange.amount_to_precision(symbol, float(quantity)))
        except cx.InvalidOrder as exc:  # ccxt raises when the amount truncates below the precision
            raise OrderRejected(f"{quantity} {symbol} is below the exchange's lot size") from exc
        limits = market.get("limits") or {}
        min_amount = _dec((limits.get("amount") or {}).get("min"))
        min_cost = _dec((limits.get("cost") or {}).get("min"))
        if amount <= 0 or amount < min_amount:
            raise OrderRejected(f"{quantity} {symbol} is below the exchange's minimum order of {min_amount} "
                                f"{market.get('base')}")
        if min_cost and amount * price < min_cost:
            raise OrderRejected(f"{amount} {symbol} at {price} is {amount * price:.2f} {market.get('quote')}, below "
                                f"the exchange's minimum order value of {min_cost}")
        return amount

    async def _until_done(self, placed: dict[str, Any], symbol: str, xid: str) -> dict[str, Any]:
        current = placed
        deadline = time.monotonic() + self.fill_timeout
        while current.get("status") in (None, "open") and time.monotonic() < deadline:
            await asyncio.sleep(self.poll_interval)
            current = await self._find(symbol, xid) or current
        return current

    async def _fees(self, order: dict[str, Any], symbol: str) -> list[dict[str, Any]]:
        fees = [f for f in (order.get("fees") or ([order["fee"]] if order.get("fee") else [])) if f]
        if not fees and _dec(order.get("filled")) > 0 and self.exchange.has.get("fetchOrderTrades"):
            # GET /order carries no commission; the order's trades do
            trades = await self._call(self.exchange.fetch_order_trades, order["id"], symbol, what="order trades")
            for trade in trades:
                fees.extend(trade.get("fees") or ([trade["fee"]] if trade.get("fee") else []))
        return fees

    async def _fill(self, order: dict[str, Any], client_order_id: str, market: dict[str, Any]) -> Fill:
        filled = _dec(order.get("filled"))
        cost = _dec(order.get("cost"))
        price = (cost / filled).quantize(_PRICE_Q, rounding=ROUND_HALF_EVEN) if filled and cost else \
            _dec(order.get("average"))
        raw_status = order.get("status")
        detail: list[str] = []
        if raw_status == "closed":
            status = OrderStatus.FILLED
        elif raw_status in ("canceled", "expired") and filled > 0:
            status = OrderStatus.FILLED  # what was bought before the cancel is a position
            detail.append(f"partially filled ({filled} of {_dec(order.get('amount'))}), the rest {raw_status}")
        elif raw_status in ("canceled", "expired"):
            status = OrderStatus.CANCELED
        elif raw_status == "rejected":
            status = OrderStatus.REJECTED
        else:
            status = OrderStatus.PENDING
        quantity, fee = filled, Decimal(0)
        if filled > 0:
            base, quote = market.get("base"), market.get("quote")
            for item in await self._fees(order, market["symbol"]):
                amount = _dec(item.get("cost"))
                if item.get("currency") == quote:
                    fee += amount
                elif item.get("currency") == base:
                    fee += amount * price
                    if order.get("side") == "buy":
                        quantity -= amount  # the commission came out of the coins bought
                elif amount:
                    detail.append(f"fee {amount} {item.get('currency')} not converted")
            if market.get("spot") and order.get("side") == "buy":
                try:
                    sellable = Decimal(self.exchange.amount_to_precision(market["symbol"], float(quantity)))
                except cx.InvalidOrder:  # less than one lot step
                    sellable = Decimal(0)
                fee += (quantity - sellable) * price  # dust below the lot step cannot be sold: a cost
                quantity = sellable
        stamp = order.get("lastTradeTimestamp") or order.get("timestamp")
        return Fill(client_order_id=client_order_id, broker_order_id=str(order.get("id") or ""), status=status,
                    quantity=quantity, price=price, fee=fee.quantize(_PRICE_Q, rounding=ROUND_HALF_EVEN),
                    filled_at=datetime.fromtimestamp(stamp / 1000, UTC) if stamp else None,
                    detail="; ".join(detail))

    # ---- exits held by the exchange ---------------------------------------------------------------------

    def _oco_capable(self, market: dict[str, Any]) -> bool:
        return bool(market.get("spot")) and hasattr(self.exchange, "privatePostOrderListOco") \
            and bool((market.get("info") or {}).get("ocoAllowed", False))

    async def _place_exits(self, order: OrderRequest, market: dict[str, Any], fill: Fill, xid: str) -> None:
        """Place SL/TP at the exchange where it can hold them; on any failure the fill says monitored exits.

        Never raises: the entry is filled, and an exception here would leave the caller unaware of a position.
        """
        sl, tp = order.stop_loss, order.take_profit
        symbol = market["symbol"]
        if sl is None and tp is None:
            fill.detail = _join(fill.detail, "monitored exits (no stop-loss or take-profit given)")
            return
        if order.side is not Side.LONG or not market.get("spot"):
            fill.detail = _join(fill.detail, "monitored exits (exit orders are placed for spot longs only)")
            return
        sl_id, tp_id, list_id = exit_ids(xid)
        qty = self.exchange.amount_to_precision(symbol, float(fill.quantity))
        try:
            if sl is not None and tp is not None:
                if not self._oco_capable(market):
                    fill.detail = _join(fill.detail, f"monitored exits ({self.exchange.id} has no OCO order for "
                                                     "a stop-loss and a take-profit on the same coins)")
                    return
                await self._call(self.exchange.privatePostOrderListOco, {
                    "symbol": market["id"], "side": "SELL", "quantity": qty, "listClientOrderId": list_id,
                    "aboveType": "LIMIT_MAKER", "abovePrice": self.exchange.price_to_precision(symbol, float(tp)),
                    "aboveClientOrderId": tp_id,
                    "belowType": "STOP_LOSS", "belowStopPrice": self.exchange.price_to_precision(symbol, float(sl)),
                    "belowClientOrderId": sl_id, "newOrderRespType": "RESULT",
                }, idempotent=False, what="place OCO exits")
            else:
                kind, price, leg_id = ("createStopLossOrder", sl, sl_id) if sl is not None else \
                    ("createTakeProfitOrder", tp, tp_id)
                if not self.exchange.has.get(kind):
                    fill.detail = _join(fill.detail, f"monitored exits ({self.exchange.id} has no {kind})")
                    return
                param = "stopLossPrice" if sl is not None else "takeProfitPrice"
                await self._call(self.exchange.create_order, symbol, "market", "sell", float(qty), None,
                                 {param: float(price), "clientOrderId": leg_id}, idempotent=False,
                                 what="place exit")
        except BrokerError as exc:
            log.warning("%s: exits for %s not placed: %s", self.exchange.id, order.client_order_id, exc)
            fill.detail = _join(fill.detail, f"exit orders not placed ({exc}); monitored exits")
            return
        fill.bracket = True

    async def _legs(self, symbol: str, xid: str) -> list[dict[str, Any] | None]:
        sl_id, tp_id, _ = exit_ids(xid)
        return [await self._find(symbol, sl_id), await self._find(symbol, tp_id)]

    async def _leg_fill(self, leg: dict[str, Any], client_order_id: str, market: dict[str, Any]) -> Fill:
        fill = await self._fill(leg, client_order_id, market)
        kind = "stop-loss" if str(leg.get("clientOrderId", "")).endswith(".sl") else "take-profit"
        fill.detail = _join(fill.detail, f"closed at {self.exchange.id} by the {kind} order")
        return fill

    # ---- closing ----------------------------------------------------------------------------------------

    async def _close(self, order: OrderRequest, market: dict[str, Any]) -> Fill:
        symbol = market["symbol"]
        if order.entry_client_order_id:
            closed = await self._release_exits(order.entry_client_order_id, market)
            if closed is not None:
                closed.client_order_id = order.client_order_id
                return closed
        side = "sell" if order.side is Side.LONG else "buy"
        quantity = order.quantity
        params: dict[str, Any] = {"clientOrderId": exchange_client_order_id(order.client_order_id)}
        if market.get("contract"):
            params["reduceOnly"] = True  # a close must never open the opposite position
        elif order.side is Side.LONG:
            # Sell what is there (never more): the base commission, or an exit the exchange already ran,
            # may have left fewer coins than the position's quantity.
            balance = await self._call(self.exchange.fetch_balance, what="fetch balance")
            free = _dec((balance.get(market["base"]) or {}).get("free"))
            if free < quantity:
                quantity = free
            min_amount = _dec(((market.get("limits") or {}).get("amount") or {}).get("min"))
            if quantity <= 0 or quantity < min_amount:
                raise OrderRejected(f"no {market['base']} to sell at {self.exchange.id} (free {free}): the position "
                                    "may have been closed there")
        amount = Decimal(self.exchange.amount_to_precision(symbol, float(quantity)))
        placed = await self._call(self.exchange.create_order, symbol, "market", side, float(amount), None, params,
                                  idempotent=False, what="create closing order")
        done = await self._until_done(placed, symbol, params["clientOrderId"])
        fill = await self._fill(done, order.client_order_id, market)
        fill.bracket = False
        return fill

    async def _release_exits(self, entry_client_order_id: str, market: dict[str, Any]) -> Fill | None:
        """Cancel the entry's exit orders so their coins are free to sell; or return the fill of one that
        already closed the position."""
        symbol = market["symbol"]
        xid = exchange_client_order_id(entry_client_order_id)
        legs = await self._legs(symbol, xid)
        for leg in legs:
            if leg is not None and leg.get("status") == "closed":
                return await self._leg_fill(leg, entry_client_order_id, market)
        open_legs = [leg for leg in legs if leg is not None and leg.get("status") == "open"]
        if not open_legs:
            return None
        in_list = any(str((leg.get("info") or {}).get("orderListId", "-1")) != "-1" for leg in open_legs)
        try:
            if in_list:
                await self._call(self.exchange.privateDeleteOrderList,
                                 {"symbol": market["id"], "listClientOrderId": exit_ids(xid)[2]},
                                 what="cancel OCO exits")
            else:
                for leg in open_legs:
                    await self._call(self.exchange.cancel_order, leg["id"], symbol, what="cancel exit")
        except (_NotFound, OrderRejected):
            pass  # already done or gone: the look below says which
        for leg in await self._legs(symbol, xid):
            if leg is not None and leg.get("status") == "closed":
                return await self._leg_fill(leg, entry_client_order_id, market)
        return None


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second
