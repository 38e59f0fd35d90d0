"""Exits of paper positions (issue 9): a take-profit is a resting limit, a stop a market order when touched;
the decision is exact (integer ticks) and sees every bar's high and low since the last look. Expected values
are computed by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from engine.brokers.base import ExitTrigger, OrderRejected, OrderRequest, OrderStatus, Side
from engine.brokers.paper import PaperBroker

NOON = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def market_at(price: str):
    async def price_of(symbol: str) -> D:
        return D(price)

    return price_of


def exit_order(coid: str, side: Side, quantity: str, trigger: ExitTrigger | None, decimals: int = 2) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="SOL/USDT", side=side, quantity=D(quantity), price=D("1"),
                        closing=True, price_decimals=decimals, trigger=trigger)


# ---- the paper broker's exit fills ---------------------------------------------------------------------


async def test_paper_take_profit_fills_at_the_target_not_the_later_price() -> None:
    # The market has run on to 109.54 (the SOL case); the take-profit at 107.62 is a resting limit:
    # a long's sell fills at 107.62, without slippage. 3 × 107.62 = 322.86; fee 0.1 % = 0.32286.
    broker = PaperBroker(market_at("109.54"), D("0.1"), D("0.05"), clock=lambda: NOON)
    fill = await broker.submit(exit_order("tp1", Side.LONG, "3", ExitTrigger(kind="limit", price=D("107.62"))))
    assert fill.status is OrderStatus.FILLED
    assert (fill.price, fill.quantity, fill.fee) == (D("107.62"), D(3), D("0.32286000"))
    # a short's take-profit is a buy limit: 95.10 exactly
    fill = await broker.submit(exit_order("tp2", Side.SHORT, "3", ExitTrigger(kind="limit", price=D("95.10"))))
    assert fill.price == D("95.10")


async def test_paper_stop_fills_at_the_stop_minus_slippage() -> None:
    # A long's stop at 98.00 touched: a market sell from 98.00 × (1 − 0.05 %) = 97.951 → 97.95 (down: against
    # the seller), whatever the price is now (102.00: the bar came back).
    broker = PaperBroker(market_at("102.00"), D("0.1"), D("0.05"), clock=lambda: NOON)
    fill = await broker.submit(exit_order("sl1", Side.LONG, "2", ExitTrigger(kind="stop", price=D("98.00"))))
    assert (fill.price, fill.fee) == (D("97.95"), D("0.19590000"))  # 2 × 97.95 = 195.90 → 0.1959
    # A short's stop at 101.00: a market buy from 101.00 × 1.0005 = 101.0505 → 101.06 (up)
    fill = await broker.submit(exit_order("sl2", Side.SHORT, "2", ExitTrigger(kind="stop", price=D("101.00"))))
    assert fill.price == D("101.06")


async def test_paper_exit_without_trigger_still_fills_at_market() -> None:
    # A manual close: the current price 102.00 × 0.9995 = 101.949 → 101.94
    broker = PaperBroker(market_at("102.00"), D("0.1"), D("0.05"), clock=lambda: NOON)
    fill = await broker.submit(exit_order("m1", Side.LONG, "1", None))
    assert fill.price == D("101.94")


async def test_paper_trigger_only_on_exits() -> None:
    broker = PaperBroker(market_at("100.00"), D("0.1"), D("0.05"), clock=lambda: NOON)
    entry = exit_order("e1", Side.LONG, "1", ExitTrigger(kind="limit", price=D("50")))
    with pytest.raises(OrderRejected, match="exits only"):
        await broker.submit(entry.model_copy(update={"closing": False}))
