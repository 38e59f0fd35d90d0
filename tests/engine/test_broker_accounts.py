"""A user's own broker account: its figures (the risk budget of /setkeys users) and cancelling every open
order (/forgetme), against the local Alpaca and Binance servers."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.brokers.base import BrokerError
from tests.engine.test_brokers import aapl, alpaca, binance, btc
from tests.support.fake_alpaca import FakeAlpaca
from tests.support.fake_exchange import FakeBinance


async def test_alpaca_account_figures_and_cancel_all_open_orders() -> None:
    async with FakeAlpaca(cash=D("25000")) as fake:
        broker = alpaca(fake)
        figures = await broker.account()
        assert (figures.equity, figures.cash) == (D("25000"), D("25000"))
        fake.market_open = False  # the entry stays accepted: an open order at the broker
        await broker.submit(aapl("tip-open1", "3").model_copy(update={"stop_loss": None, "take_profit": None}))
        fake.market_open = True
        await broker.submit(aapl("tip-open2", "2"))  # filled, its two legs open (new and held)
        fake.market_open = False
        open_ids = {o.id for o in fake.orders.values() if o.status in ("accepted", "new", "held")}
        assert len(open_ids) == 3
        assert await broker.cancel_open_orders() == 3
        deleted = {path.rsplit("/", 1)[1] for method, path in fake.requests if method == "DELETE"}
        assert deleted == {str(i) for i in open_ids}
        assert all(o.status in ("filled", "canceled") for o in fake.orders.values())
        assert await broker.cancel_open_orders() == 0  # nothing left open
        await broker.close()


async def test_alpaca_account_with_refused_keys_is_an_auth_error() -> None:
    async with FakeAlpaca() as fake:
        broker = alpaca(fake, secret="wrong")
        with pytest.raises(BrokerError) as caught:
            await broker.check()
        assert caught.value.auth and "wrong" not in str(caught.value)
        await broker.close()


async def test_ccxt_check_account_and_cancel_open_orders() -> None:
    async with FakeBinance(balances={"USDT": D("10000"), "BTC": D("0.1"), "ETH": D(0)}) as fake:
        async with binance(fake) as broker:
            assert "BTC" in await broker.check() and "USDT" in await broker.check()
            figures = await broker.account()
            # 10,000 USDT + 0.1 BTC × 60,000 = 16,000; cash is the free USDT
            assert (figures.equity, figures.cash) == (D("16000"), D("10000"))
            await broker.submit(btc("tip-c1"))  # bought, with an OCO list of two open legs
            await broker.submit(btc("tip-c2", take_profit=None))  # a lone stop-loss order, in no list
            assert len([o for o in fake.orders.values() if o.status == "NEW"]) == 3
            assert await broker.cancel_open_orders() == 2  # the OCO list once, the lone stop once
            assert ("DELETE", "/api/v3/orderList") in fake.requests and ("DELETE", "/api/v3/order") in fake.requests
            assert not [o for o in fake.orders.values() if o.status == "NEW"]
        async with binance(fake, key="wrong-key") as refused:
            with pytest.raises(BrokerError) as caught:
                await refused.check()
            assert caught.value.auth
