"""Brokers: the paper simulation checked against hand-computed Decimal cases, and the Alpaca and ccxt brokers
driven through their production code paths (alpaca-py's TradingClient, ccxt's binance class) against local
servers that speak the brokers' REST APIs (tests/support/fake_alpaca.py, tests/support/fake_exchange.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from engine.brokers.alpaca import AlpacaBroker
from engine.brokers.base import Broker, BrokerError, OrderRejected, OrderRequest, OrderStatus, Side
from engine.brokers.ccxt_broker import CcxtBroker, exchange_client_order_id, exit_ids
from engine.brokers.paper import PaperBroker, fee_for, pnl, position_quantity, slipped_price
from engine.brokers.retry import RetryPolicy, parse_retry_after, retryable, with_retry
from engine.market.base import NoData, UnknownSymbol
from tests.support.fake_alpaca import FakeAlpaca
from tests.support.fake_exchange import FakeBinance

# ---- paper -------------------------------------------------------------------------------------------

NOON = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def prices(table: dict[str, str]):
    async def price(symbol: str) -> D:
        if symbol not in table:
            raise UnknownSymbol(symbol, table)
        value = table[symbol]
        if value == "stale":
            raise NoData(f"{symbol}: data is stale")
        return D(value)

    return price


def paper(table: dict[str, str], fee: str = "0.1", slip: str = "0.05") -> PaperBroker:
    return PaperBroker(prices(table), D(fee), D(slip), clock=lambda: NOON)


def order(coid: str, symbol: str, side: Side, quantity: str, *, ref: str = "1", closing: bool = False,
          decimals: int | None = 2, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol=symbol, side=side, quantity=D(quantity), price=D(ref),
                        closing=closing, price_decimals=decimals, **kw)


def test_position_quantity_rounds_down_so_cost_never_exceeds_size() -> None:
    # 500 / 60,030 = 0.0083291687489…: down to 8 dp is 0.00832916 (half-up would give …17 and cost 500.0001)
    assert position_quantity(D(500), D("60030.00"), 8) == D("0.00832916")
    assert D("0.00832916") * D("60030.00") == D("499.9994748")  # ≤ 500
    # 1,000 / 187.53 = 5.33248…: whole shares (Alpaca brackets) → 5
    assert position_quantity(D(1000), D("187.53"), 0) == D(5)
    for notional, price in [("100", "3.07"), ("1000", "0.1234"), ("777.77", "64999.99"), ("10", "3")]:
        q = position_quantity(D(notional), D(price), 6)
        assert q * D(price) <= D(notional) < (q + D("0.000001")) * D(price)
    with pytest.raises(ValueError):
        position_quantity(D(100), D(0), 8)


def test_slippage_is_against_the_taker_and_rounds_against_it() -> None:
    # buy: 60,000 × 1.0005 = 60,030.00 exactly; sell: 61,000 × 0.9995 = 60,969.50 exactly
    assert slipped_price(D(60000), D("0.05"), buy=True, decimals=2) == D("60030.00")
    assert slipped_price(D(61000), D("0.05"), buy=False, decimals=2) == D("60969.50")
    # 33.333 × 1.0005 = 33.3496665 → a buyer pays the tick above, 33.35 (ceiling, not nearest)
    # 33.333 × 0.9995 = 33.3163335 → a seller gets the tick below, 33.31 (half-up would say 33.32)
    assert slipped_price(D("33.333"), D("0.05"), buy=True, decimals=2) == D("33.35")
    assert slipped_price(D("33.333"), D("0.05"), buy=False, decimals=2) == D("33.31")
    # without an instrument tick the exact product is kept
    assert slipped_price(D(90), D("0.05"), buy=True) == D("90.0450")


async def test_paper_long_round_trip_hand_computed() -> None:
    broker = paper({"BTC/USDT": "60000"})
    assert isinstance(broker, Broker)
    # Entry: $500 of BTC at 60,000 with 0.05 % slippage and a 0.1 % fee.
    #   fill  = 60,000 × 1.0005                 = 60,030.00
    #   qty   = 500 / 60,030.00 rounded down    = 0.00832916
    #   cost  = 0.00832916 × 60,030.00          = 499.9994748
    #   fee   = 499.9994748 × 0.1 / 100         = 0.4999994748 → 0.49999947 (8 dp)
    qty = position_quantity(D(500), slipped_price(D(60000), D("0.05"), True, 2), 8)
    # the reference price the user saw (59,990) is NOT the fill: the current price is
    entry = await broker.submit(order("e1", "BTC/USDT", Side.LONG, str(qty), ref="59990"))
    assert entry.status is OrderStatus.FILLED
    assert (entry.price, entry.quantity, entry.fee) == (D("60030.00"), D("0.00832916"), D("0.49999947"))
    assert entry.broker_order_id.startswith("paper-") and entry.filled_at == NOON and entry.bracket

    # Exit at 61,000 (a sell): 61,000 × 0.9995 = 60,969.50
    #   proceeds = 0.00832916 × 60,969.50 = 507.82472062; fee = 0.50782472062 → 0.50782472
    broker._price = prices({"BTC/USDT": "61000"})
    exit_ = await broker.submit(order("x1", "BTC/USDT", Side.LONG, str(qty), closing=True))
    assert (exit_.price, exit_.quantity, exit_.fee) == (D("60969.50"), D("0.00832916"), D("0.50782472"))
    assert not exit_.bracket
    # PnL: (60,969.50 − 60,030.00) / 60,030.00 = 939.5 / 60,030 = 0.0156505…
    #   gross = 939.5 × 0.00832916 = 7.82524582; fees = 0.49999947 + 0.50782472 = 1.00782419
    #   net   = 7.82524582 − 1.00782419 = 6.81742163 → 6.8174 (4 dp)
    pct, net = pnl(Side.LONG, entry.price, exit_.price, qty, entry.fee + exit_.fee)
    assert pct == D("939.5") / D("60030.00")
    assert net == D("6.8174")


async def test_paper_short_round_trip_hand_computed() -> None:
    broker = paper({"SPY": "100"})
    # Short entry is a sell: 100 × 0.9995 = 99.95; 10 shares → 999.50; fee 0.9995
    entry = await broker.submit(order("s1", "SPY", Side.SHORT, "10"))
    assert (entry.price, entry.fee) == (D("99.95"), D("0.99950000"))
    # Its close is a buy: 90 × 1.0005 = 90.045 → 90.05 (ceiling to the cent); 900.50 → fee 0.9005
    broker._price = prices({"SPY": "90"})
    exit_ = await broker.submit(order("s2", "SPY", Side.SHORT, "10", closing=True))
    assert (exit_.price, exit_.fee) == (D("90.05"), D("0.90050000"))
    # short PnL (entry − exit)/entry = (99.95 − 90.05)/99.95 = 9.9/99.95 = 0.0990495…
    # net = 9.9 × 10 − (0.9995 + 0.9005) = 99 − 1.9 = 97.1
    pct, net = pnl(Side.SHORT, entry.price, exit_.price, D(10), entry.fee + exit_.fee)
    assert pct == D("9.9") / D("99.95")
    assert net == D("97.1")
    # and a losing short: price rises 99.95 → 110 → (99.95 − 110)/99.95 < 0, loss grows by the fees
    pct, net = pnl(Side.SHORT, D("99.95"), D("110"), D(10), D(2))
    assert pct < 0 and net == D("-102.5")  # −10.05 × 10 − 2


def test_long_pnl_net_of_both_fees() -> None:
    # 2 shares 150 → 165: +10 %; gross 30; fees 0.30 in + 0.33 out → net 29.37
    pct, net = pnl(Side.LONG, D(150), D(165), D(2), D("0.30") + D("0.33"))
    assert pct == D("0.1") and net == D("29.37")
    assert fee_for(D("330"), D("0.1")) == D("0.33")


async def test_paper_order_status_and_idempotency() -> None:
    broker = paper({"ETH/USDT": "3000"})
    fill = await broker.submit(order("o1", "ETH/USDT", Side.LONG, "0.5"))
    assert await broker.order_status("o1") == fill
    assert await broker.submit(order("o1", "ETH/USDT", Side.LONG, "0.5")) == fill  # same id, same order
    missing = await broker.order_status("never-sent")
    assert missing.status is OrderStatus.NOT_FOUND


async def test_paper_errors() -> None:
    broker = paper({"ETH/USDT": "stale"})
    with pytest.raises(OrderRejected, match="Unknown symbol DOGE"):
        await broker.submit(order("a", "DOGE/USDT", Side.LONG, "1"))
    with pytest.raises(BrokerError) as info:
        await broker.submit(order("b", "ETH/USDT", Side.LONG, "1"))
    assert info.value.transient and not isinstance(info.value, OrderRejected)
    with pytest.raises(OrderRejected, match="rounds to nothing"):
        await broker.submit(order("c", "ETH/USDT", Side.LONG, "0.000000001"))


# ---- Alpaca against tests/support/fake_alpaca.py -------------------------------------------------------

FAST = RetryPolicy(attempts=3, initial=0.01, maximum=0.05, max_retry_after=0.05, jitter=0)


@pytest.fixture
async def fake_alpaca() -> AsyncIterator[FakeAlpaca]:
    async with FakeAlpaca() as fake:
        yield fake


def alpaca(fake: FakeAlpaca, *, secret: str | None = None, timeout: float = 2.0) -> AlpacaBroker:
    return AlpacaBroker(fake.key, secret or fake.secret, paper=True, url_override=fake.base_url, timeout=timeout,
                        retry=FAST, poll_interval=0.01, fill_timeout=1.0)


def aapl(coid: str, quantity: str = "5.7", **kw) -> OrderRequest:
    kw.setdefault("stop_loss", D("180.004"))
    kw.setdefault("take_profit", D("195"))
    return OrderRequest(client_order_id=coid, symbol="AAPL", side=Side.LONG, quantity=D(quantity),
                        price=D("187.40"), **kw)


async def test_alpaca_bracket_order_filled_with_legs_at_the_broker(fake_alpaca: FakeAlpaca) -> None:
    broker = alpaca(fake_alpaca)
    assert isinstance(broker, Broker)
    fill = await broker.submit(aapl("tip-a1"))
    # 5.7 shares asked: bracket legs need whole shares → 5; filled at the broker's price, not our reference
    assert fill.status is OrderStatus.FILLED
    assert (fill.quantity, fill.price, fill.fee) == (D(5), D("187.5"), D(0))
    assert fill.bracket and fill.client_order_id == "tip-a1" and fill.filled_at is not None
    entry = fake_alpaca.by_client_id["tip-a1"]
    assert (entry.order_class, entry.time_in_force, entry.qty) == ("bracket", "gtc", D(5))
    legs = {leg.type: leg for leg in entry.legs}
    assert legs["limit"].limit_price == D("195") and legs["limit"].side == "sell"
    assert legs["stop"].stop_price == D("180.00")  # 180.004 → the cent: Alpaca refuses sub-penny prices
    assert (legs["limit"].status, legs["stop"].status) == ("new", "held")
    # the POST answered "accepted"; the fill was found by polling
    assert ("GET", "/v2/orders:by_client_order_id") in fake_alpaca.requests
    assert (await broker.order_status("tip-a1")).status is OrderStatus.FILLED
    assert (await broker.order_status("never-sent")).status is OrderStatus.NOT_FOUND
    assert "PA3ZKX7S2BWM" in await broker.check()
    await broker.close()


async def test_alpaca_needs_a_whole_share_for_a_bracket(fake_alpaca: FakeAlpaca) -> None:
    with pytest.raises(OrderRejected, match=r"whole shares.*less than 1 share"):
        await alpaca(fake_alpaca).submit(aapl("tip-a2", "0.8"))
    assert not any(m == "POST" for m, _ in fake_alpaca.requests)  # refused before asking Alpaca


async def test_alpaca_rejections_carry_the_brokers_reason(fake_alpaca: FakeAlpaca) -> None:
    broker = alpaca(fake_alpaca)
    fake_alpaca.reject_next()  # injected: 403 {"code": 40310000, "message": "insufficient buying power"}
    with pytest.raises(OrderRejected, match="insufficient buying power") as info:
        await broker.submit(aapl("tip-a3"))
    assert not info.value.transient and not info.value.auth
    with pytest.raises(OrderRejected, match="insufficient buying power"):  # the real check: $1.9M > $100k
        await broker.submit(aapl("tip-a4", "10000"))
    with pytest.raises(OrderRejected, match=r"stop_loss.stop_price must be <= base_price - 0.01"):  # a 422
        await broker.submit(aapl("tip-a5", stop_loss=D("190")))
    fake_alpaca.reject_next("asset is not tradable", status=422, code=42210000)
    with pytest.raises(OrderRejected, match="not tradable"):
        await broker.submit(aapl("tip-a6"))


async def test_alpaca_429_then_success(fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.rate_limit_next(retry_after=1)  # Retry-After honoured, capped to 0.05 s by the test policy
    fake_alpaca.fail_next("GET", "/v2/orders:by_client_order_id", 503, {"message": "service unavailable"})
    fill = await alpaca(fake_alpaca).submit(aapl("tip-a7"))
    assert fill.status is OrderStatus.FILLED
    assert fake_alpaca.requests.count(("POST", "/v2/orders")) == 2  # refused once, then accepted
    assert len(fake_alpaca.by_client_id) == 1


async def test_alpaca_timeout_mid_order_then_reconciled(fake_alpaca: FakeAlpaca) -> None:
    broker = alpaca(fake_alpaca, timeout=0.3)
    fake_alpaca.slow_next_order(1.0)  # the order is created; its answer comes after our timeout
    with pytest.raises(BrokerError) as info:
        await broker.submit(aapl("tip-a8"))
    assert info.value.transient and not isinstance(info.value, OrderRejected)
    assert fake_alpaca.requests.count(("POST", "/v2/orders")) == 1  # an order POST is never re-sent blindly
    # the caller kept the position pending; reconciliation asks by the client order id it chose
    status = await broker.order_status("tip-a8")
    assert status.status is OrderStatus.FILLED and status.quantity == D(5) and status.price == D("187.5")
    # and a caller that resubmits the same order gets the same order, not a second one
    again = await broker.submit(aapl("tip-a8"))
    assert again.broker_order_id == status.broker_order_id and len(fake_alpaca.by_client_id) == 1


async def test_alpaca_auth_errors_are_not_retried(fake_alpaca: FakeAlpaca) -> None:
    with pytest.raises(BrokerError) as info:
        await alpaca(fake_alpaca, secret="wrong").submit(aapl("tip-a9"))
    assert info.value.auth and not info.value.transient and not isinstance(info.value, OrderRejected)
    assert len(fake_alpaca.requests) == 1
    fake_alpaca.fail_next("GET", "/v2/account", 403, {"message": "forbidden."})  # a 403 without an Alpaca code
    with pytest.raises(BrokerError) as info:
        await alpaca(fake_alpaca).check()
    assert info.value.auth


async def test_alpaca_close_cancels_the_legs_then_sells(fake_alpaca: FakeAlpaca) -> None:
    broker = alpaca(fake_alpaca)
    await broker.submit(aapl("tip-b1"))
    fake_alpaca.prices["AAPL"] = D("190.10")
    exit_order = aapl("tip-b2", "5", closing=True, stop_loss=None, take_profit=None)
    # without naming the entry, the sell meets the shares held by the legs — Alpaca refuses it
    with pytest.raises(OrderRejected, match="insufficient qty available"):
        await broker.submit(exit_order)
    fill = await broker.submit(exit_order.model_copy(update={"entry_client_order_id": "tip-b1"}))
    assert fill.status is OrderStatus.FILLED and (fill.quantity, fill.price) == (D(5), D("190.1"))
    assert not fill.bracket
    assert all(leg.status == "canceled" for leg in fake_alpaca.by_client_id["tip-b1"].legs)
    assert fake_alpaca.positions["AAPL"] == 0
    with pytest.raises(OrderRejected, match="no long AAPL position"):  # never sells into a short
        await broker.submit(aapl("tip-b3", "5", closing=True, stop_loss=None, take_profit=None))


async def test_alpaca_close_finds_the_bracket_already_closed_it(fake_alpaca: FakeAlpaca) -> None:
    broker = alpaca(fake_alpaca)
    await broker.submit(aapl("tip-c1"))
    assert await broker.exit_fill("tip-c1") is None
    fake_alpaca.trigger_leg("tip-c1", "take_profit")  # Alpaca sold at 195 between two of our price checks
    found = await broker.exit_fill("tip-c1")
    assert found is not None and found.price == D("195") and "take-profit" in found.detail
    posts = fake_alpaca.requests.count(("POST", "/v2/orders"))
    fill = await broker.submit(aapl("tip-c2", "5", closing=True, entry_client_order_id="tip-c1",
                                    stop_loss=None, take_profit=None))
    assert fill.status is OrderStatus.FILLED and fill.price == D("195") and fill.client_order_id == "tip-c2"
    assert fake_alpaca.requests.count(("POST", "/v2/orders")) == posts  # no second sell


async def test_alpaca_market_closed_order_is_pending_until_it_fills(fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.market_open = False
    broker = alpaca(fake_alpaca)
    broker.fill_timeout = 0.1
    fill = await broker.submit(aapl("tip-d1"))
    assert fill.status is OrderStatus.PENDING and "accepted" in fill.detail
    fake_alpaca.market_open = True
    assert (await broker.order_status("tip-d1")).status is OrderStatus.FILLED


# ---- ccxt (binance spot) against tests/support/fake_exchange.py ---------------------------------------


@pytest.fixture
async def fake_binance() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as fake:
        yield fake


@pytest.fixture
async def ccxt_broker(fake_binance: FakeBinance) -> AsyncIterator[CcxtBroker]:
    async with binance(fake_binance) as broker:
        yield broker


def binance(fake: FakeBinance, *, key: str | None = None, timeout_ms: int = 2000) -> CcxtBroker:
    # sandbox=True as in production: set_sandbox_mode swaps in the testnet URLs, which are then moved to
    # the local server (the config's brokers.ccxt.api_url does the same)
    return CcxtBroker("binance", key or fake.key, fake.secret, sandbox=True, urls_override={"api": fake.base_url},
                      timeout_ms=timeout_ms, retry=FAST, poll_interval=0.01, fill_timeout=1.0)


def btc(coid: str, quantity: str = "0.00833", side: Side = Side.LONG, **kw) -> OrderRequest:
    if not kw.get("closing"):
        kw.setdefault("stop_loss", D("58000"))
        kw.setdefault("take_profit", D("63000"))
    return OrderRequest(client_order_id=coid, symbol="BTC/USDT", side=side, quantity=D(quantity),
                        price=D("59990"), **kw)


async def test_ccxt_entry_with_oco_exits_at_the_exchange(fake_binance: FakeBinance, ccxt_broker: CcxtBroker) -> None:
    assert isinstance(ccxt_broker, Broker)
    assert ccxt_broker.exchange.urls["api"]["private"] == fake_binance.base_url + "/api/v3"
    fill = await ccxt_broker.submit(btc("tip-x1"))
    # Bought 0.00833 BTC at 60,000 = 499.80 USDT; Binance took 0.1 % of the BTC: 0.00000833 → 0.00832167 held.
    # Sellable in 0.00001 steps: 0.00832; the 0.00000167 left is dust. Both are charged as fee at the fill price:
    #   (0.00000833 + 0.00000167) × 60,000 = 0.00001 × 60,000 = 0.60 USDT
    assert fill.status is OrderStatus.FILLED
    assert (fill.quantity, fill.price, fill.fee) == (D("0.00832"), D("60000"), D("0.6"))
    assert fill.bracket and fill.client_order_id == "tip-x1"
    entry = fake_binance.order_by_client_id("tip-x1")
    assert entry is not None and (entry.side, entry.type, entry.orig_qty) == ("BUY", "MARKET", D("0.00833"))
    # one OCO list holds both exits on the sellable quantity, under ids derived from the entry's
    (olist,) = fake_binance.lists.values()
    assert olist.list_client_order_id == "tip-x1.oco"
    legs = {o.client_order_id: o for o in olist.orders}
    assert (legs["tip-x1.sl"].type, legs["tip-x1.sl"].stop_price) == ("STOP_LOSS", D("58000"))
    assert (legs["tip-x1.tp"].type, legs["tip-x1.tp"].price) == ("LIMIT_MAKER", D("63000"))
    assert legs["tip-x1.sl"].orig_qty == D("0.00832") and fake_binance.locked["BTC"] == D("0.00832")
    # reconciliation sees the same fill (its fee from the order's trades: GET /order has no commission)
    status = await ccxt_broker.order_status("tip-x1", "BTC/USDT")
    assert status.model_dump(exclude={"filled_at"}) == fill.model_dump(exclude={"filled_at"})
    assert (await ccxt_broker.order_status("never-sent", "BTC/USDT")).status is OrderStatus.NOT_FOUND


async def test_ccxt_take_profit_at_the_exchange_and_pnl_is_exact(fake_binance: FakeBinance,
                                                                 ccxt_broker: CcxtBroker) -> None:
    entry = await ccxt_broker.submit(btc("tip-x2"))
    assert await ccxt_broker.exit_fill("tip-x2", "BTC/USDT") is None
    fake_binance.trigger_leg("tip-x2.oco", "take_profit")  # 0.00832 sold at 63,000 by the exchange
    found = await ccxt_broker.exit_fill("tip-x2", "BTC/USDT")
    # proceeds 0.00832 × 63,000 = 524.16; commission 0.1 % in USDT = 0.52416
    assert found is not None and (found.quantity, found.price, found.fee) == (D("0.00832"), D("63000"), D("0.52416"))
    assert "take-profit" in found.detail
    posts = fake_binance.requests.count(("POST", "/api/v3/order"))
    exit_ = await ccxt_broker.submit(btc("tip-x3", "0.00832", closing=True, entry_client_order_id="tip-x2"))
    assert exit_.price == D("63000") and exit_.client_order_id == "tip-x3"
    assert fake_binance.requests.count(("POST", "/api/v3/order")) == posts  # nothing sold twice
    # PnL from the fills = the exchange's cash result:
    #   (63,000 − 60,000) × 0.00832 − (0.60 + 0.52416) = 24.96 − 1.12416 = 23.83584
    #   cash: 10,000 − 499.80 + 524.16 − 0.52416 − 10,000 = 23.83584
    _, net = pnl(Side.LONG, entry.price, exit_.price, entry.quantity, entry.fee + exit_.fee)
    assert net == D("23.8358") and fake_binance.free["USDT"] - 10_000 == D("23.83584")


async def test_ccxt_close_cancels_the_oco_then_sells(fake_binance: FakeBinance, ccxt_broker: CcxtBroker) -> None:
    await ccxt_broker.submit(btc("tip-y1"))
    fake_binance.prices["BTCUSDT"] = D("61000.00")
    close = btc("tip-y2", "0.00832", closing=True)
    # the OCO holds the coins: without naming the entry there is nothing free to sell (0.00000167 of dust)
    with pytest.raises(OrderRejected, match="no BTC to sell"):
        await ccxt_broker.submit(close)
    fill = await ccxt_broker.submit(close.model_copy(update={"entry_client_order_id": "tip-y1"}))
    # 0.00832 × 61,000 = 507.52; commission 0.50752 USDT
    assert fill.status is OrderStatus.FILLED and not fill.bracket
    assert (fill.quantity, fill.price, fill.fee) == (D("0.00832"), D("61000"), D("0.50752"))
    assert all(o.status == "CANCELED" for o in next(iter(fake_binance.lists.values())).orders)
    assert fake_binance.locked["BTC"] == 0 and fake_binance.free["BTC"] == D("0.00000167")


async def test_ccxt_rejections(fake_binance: FakeBinance, ccxt_broker: CcxtBroker) -> None:
    fake_binance.reject_next()
    with pytest.raises(OrderRejected, match="insufficient balance") as info:
        await ccxt_broker.submit(btc("tip-r1"))
    assert not info.value.transient and not info.value.auth
    with pytest.raises(OrderRejected, match="insufficient balance"):  # 1 BTC = 60,000 > 10,000 USDT
        await ccxt_broker.submit(btc("tip-r2", "1"))
    with pytest.raises(OrderRejected, match="minimum order value of 5"):  # 0.00005 × 59,990 ≈ 3 USDT
        await ccxt_broker.submit(btc("tip-r3", "0.00005"))
    with pytest.raises(OrderRejected, match="cannot open a short"):
        await ccxt_broker.submit(btc("tip-r4", side=Side.SHORT))
    assert fake_binance.requests.count(("POST", "/api/v3/order")) == 2  # the last two never left the process


async def test_ccxt_refused_exits_leave_monitored_exits(fake_binance: FakeBinance, ccxt_broker: CcxtBroker) -> None:
    fill = await ccxt_broker.submit(btc("tip-m1", stop_loss=D("61000")))  # a stop above the price: refused
    assert fill.status is OrderStatus.FILLED and not fill.bracket
    assert "monitored exits" in fill.detail and "relationship of the prices" in fill.detail
    plain = await ccxt_broker.submit(btc("tip-m2", stop_loss=None, take_profit=None))
    assert not plain.bracket and "monitored exits" in plain.detail
    assert not (await ccxt_broker.order_status("tip-m2", "BTC/USDT")).bracket


async def test_ccxt_429_then_success(fake_binance: FakeBinance, ccxt_broker: CcxtBroker) -> None:
    fake_binance.rate_limit_next(retry_after=1)
    fake_binance.unavailable_next("GET", "/api/v3/order")
    fill = await ccxt_broker.submit(btc("tip-z1"))
    assert fill.status is OrderStatus.FILLED and fill.bracket
    assert fake_binance.requests.count(("POST", "/api/v3/order")) == 2
    assert (await ccxt_broker.order_status("tip-z1", "BTC/USDT")).status is OrderStatus.FILLED  # 503, retried


async def test_ccxt_timeout_mid_order_then_reconciled(fake_binance: FakeBinance) -> None:
    async with binance(fake_binance, timeout_ms=300) as broker:
        await broker._market("BTC/USDT")
        fake_binance.slow_next_order(0.6)  # created and filled at once, answered after our timeout
        with pytest.raises(BrokerError) as info:
            await broker.submit(btc("tip-t1"))
        assert info.value.transient and not isinstance(info.value, OrderRejected)
        assert fake_binance.requests.count(("POST", "/api/v3/order")) == 1  # never re-sent blindly
        status = await broker.order_status("tip-t1")  # this process remembers the symbol
        assert status.status is OrderStatus.FILLED and status.quantity == D("0.00832")
        assert not status.bracket and "monitored exits" in status.detail  # the exits were never placed
    async with binance(fake_binance) as restarted:  # after a restart the caller passes the symbol
        with pytest.raises(BrokerError, match="needs the symbol"):
            await restarted.order_status("tip-t1")
        assert (await restarted.order_status("tip-t1", "BTC/USDT")).status is OrderStatus.FILLED


async def test_ccxt_auth_error_is_not_retried(fake_binance: FakeBinance) -> None:
    async with binance(fake_binance, key="revoked") as broker:
        with pytest.raises(BrokerError) as info:
            await broker.submit(btc("tip-k1"))
    assert info.value.auth and not info.value.transient
    assert fake_binance.requests.count(("POST", "/api/v3/order")) == 1


def test_ccxt_client_order_ids_and_urls() -> None:
    assert exchange_client_order_id("tip-0123456789abcdef0123") == "tip-0123456789abcdef0123"
    hashed = exchange_client_order_id("telegram:42/position:7/entry-with-a-long-suffix")
    assert len(hashed) == 32 and hashed == exchange_client_order_id("telegram:42/position:7/entry-with-a-long-suffix")
    assert all(len(i) <= 36 for i in exit_ids(hashed))  # binance's limit for client ids
    broker = CcxtBroker("binance", "k", "s", sandbox=True, urls_override="http://127.0.0.1:9/prefix")
    assert broker.exchange.urls["api"]["public"] == "http://127.0.0.1:9/prefix/api/v3"
    with pytest.raises(ValueError, match="no exchange"):
        CcxtBroker("nosuchexchange", "k", "s")


# ---- the retry policy ------------------------------------------------------------------------------------


async def test_retry_honours_retry_after_and_never_retries_the_rest() -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise retryable(BrokerError("429", transient=True, retry_after=0.2))
        return "ok"

    policy = RetryPolicy(attempts=3, initial=0.01, maximum=0.01, max_retry_after=5, jitter=0)
    assert await with_retry(flaky, policy, "test") == "ok"
    assert calls[1] - calls[0] >= 0.2  # waited what the broker asked, not the 10 ms backoff

    async def ambiguous() -> str:
        calls.append(time.monotonic())
        raise BrokerError("timeout on an order POST", transient=True)  # transient, but not marked retryable

    calls.clear()
    with pytest.raises(BrokerError, match="timeout"):
        await with_retry(ambiguous, policy, "test")
    assert len(calls) == 1
    assert parse_retry_after("3") == 3.0 and parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
