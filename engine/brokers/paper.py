"""The paper broker: simulated market fills with slippage and fees, plus the pure sizing and PnL helpers.

Stateless on purpose: the per-user cash ledger lives in storage, so one instance serves every user and a
restart loses nothing but the in-memory lookup of fills it already returned (order_status then says
NOT_FOUND, which is the truth: a paper order that was never filled does not exist anywhere).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from engine.brokers.base import BrokerError, ExitTrigger, Fill, OrderRejected, OrderRequest, OrderStatus, Side
from engine.market.base import MarketError, UnknownSymbol
from engine.positions import net_pnl, pnl_fraction

FEE_QUANTUM = Decimal("0.00000001")  # fees to 8 dp: below a satoshi-sized cent nothing is worth keeping
_HUNDRED = Decimal(100)


QUANTITY_DECIMALS = 8  # fractions the paper broker trades: satoshi-sized, like the exchanges it stands in for


def _quantum(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def is_buy(side: Side, closing: bool) -> bool:
    """A long's entry and a short's exit buy; a long's exit and a short's entry sell."""
    return (side is Side.LONG) != closing


def slipped_price(price: Decimal, slippage_pct: Decimal, buy: bool, decimals: int | None = None) -> Decimal:
    """The taker's fill: buys pay price×(1+slip), sells receive price×(1−slip).

    Rounded to the instrument's tick *against* the taker (buys up, sells down): a simulation that rounds in
    the trader's favour would report paper profits no real exchange pays.
    """
    factor = 1 + slippage_pct / _HUNDRED if buy else 1 - slippage_pct / _HUNDRED
    filled = price * factor
    if decimals is None:
        return filled
    return filled.quantize(_quantum(decimals), rounding=ROUND_CEILING if buy else ROUND_FLOOR)


def fee_for(notional: Decimal, fee_pct: Decimal) -> Decimal:
    """Fee on the filled notional (fee_pct is a percentage: 0.1 means 0.1 %), to 8 dp, half up."""
    return (notional * fee_pct / _HUNDRED).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)


def position_quantity(notional: Decimal, price: Decimal, decimals: int) -> Decimal:
    """How much `notional` buys at `price`, rounded DOWN to `decimals` so the cost never exceeds the size."""
    if price <= 0:
        raise ValueError("price must be positive")
    return (notional / price).quantize(_quantum(decimals), rounding=ROUND_DOWN)


def pnl(side: Side, entry: Decimal, exit_: Decimal, quantity: Decimal, fees: Decimal) -> tuple[Decimal, Decimal]:
    """(pnl_pct as a fraction, pnl_abs net of fees) — SPEC §4: long (exit−entry)/entry, short (entry−exit)/entry.

    Delegates to engine.positions so the broker, the monitor and the reports share one formula.
    """
    return pnl_fraction(side, entry, exit_), net_pnl(side, entry, exit_, quantity, fees)


class PaperBroker:
    """Fills every market order at once at the current price (replay or live), never at the order's reference
    price: the price the user saw may be seconds old, and the simulation should pay for that like a market.
    An exit the position monitor triggered (`OrderRequest.trigger`) fills as the resting order would have:
    a take-profit at its limit, a stop from its level (or the gap's open) less slippage."""

    name = "paper"

    def __init__(self, price: Callable[[str], Awaitable[Decimal]], fee_pct: Decimal, slippage_pct: Decimal,
                 quantity_decimals: int = QUANTITY_DECIMALS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._price = price
        self.fee_pct = Decimal(fee_pct)
        self.slippage_pct = Decimal(slippage_pct)
        self.quantity_decimals = quantity_decimals
        self._clock = clock
        # Fills of this process, so order_status right after submit agrees with it (reconciliation after a
        # restart finds nothing, which is correct for a broker that fills synchronously or not at all).
        self._fills: dict[str, Fill] = {}

    async def submit(self, order: OrderRequest) -> Fill:
        known = self._fills.get(order.client_order_id)
        if known is not None:  # the same client order id twice is the same order, as at a real broker
            return known
        quantity = order.quantity.quantize(_quantum(self.quantity_decimals), rounding=ROUND_DOWN)
        if quantity <= 0:
            raise OrderRejected(f"quantity {order.quantity} of {order.symbol} rounds to nothing at "
                                f"{self.quantity_decimals} decimals")
        buy = is_buy(order.side, order.closing)
        if order.trigger is not None:
            price, detail = self._triggered(order, order.trigger, buy)
        else:
            market = await self._market(order.symbol)
            price = slipped_price(market, self.slippage_pct, buy, order.price_decimals)
            detail = f"paper fill at {market} {'+' if buy else '−'}{self.slippage_pct}% slippage"
        fill = Fill(
            client_order_id=order.client_order_id,
            broker_order_id=f"paper-{uuid.uuid4()}",
            status=OrderStatus.FILLED,
            quantity=quantity,
            price=price,
            fee=fee_for(quantity * price, self.fee_pct),
            filled_at=self._clock(),
            # SL/TP of a paper position are simulated by the position monitor, which is exactly what a broker
            # bracket would do: the position is protected without us sending further orders.
            bracket=not order.closing,
            detail=detail,
        )
        self._fills[order.client_order_id] = fill
        return fill

    async def _market(self, symbol: str) -> Decimal:
        try:
            market = await self._price(symbol)
        except UnknownSymbol as exc:
            raise OrderRejected(str(exc)) from exc
        except MarketError as exc:  # no price right now (stale data, source down): try again later
            raise BrokerError(f"no price for {symbol}: {exc}", transient=True) from exc
        if market <= 0:
            raise BrokerError(f"no usable price for {symbol} ({market})", transient=True)
        return market

    def _triggered(self, order: OrderRequest, trigger: ExitTrigger, buy: bool) -> tuple[Decimal, str]:
        """The fill of an exit the monitor saw touched: a take-profit at its limit (never at a later price past
        it), a stop as a market order from the stop or the gap's open, slipped against the taker. An entry may
        rest as a limit too (a paper grid's level, filled at the close that crossed it); never as a stop."""
        if not order.closing and trigger.kind != "limit":
            raise OrderRejected("a stop trigger applies to exits only")
        if trigger.price <= 0:
            raise OrderRejected(f"trigger price {trigger.price} is not a price")
        if trigger.kind == "limit":
            price = trigger.price
            if order.price_decimals is not None:  # a limit never fills worse than its price
                price = price.quantize(_quantum(order.price_decimals), rounding=ROUND_FLOOR if buy else ROUND_CEILING)
            return price, f"paper limit fill at {trigger.price} ({'take-profit' if order.closing else 'grid level'})"
        price = slipped_price(trigger.price, self.slippage_pct, buy, order.price_decimals)
        return price, f"paper stop fill from {trigger.price} {'+' if buy else '−'}{self.slippage_pct}% slippage"

    async def order_status(self, client_order_id: str, symbol: str | None = None) -> Fill:
        known = self._fills.get(client_order_id)
        if known is not None:
            return known
        return Fill(client_order_id=client_order_id, broker_order_id="", status=OrderStatus.NOT_FOUND,
                    detail="paper orders fill synchronously; this one was never filled by this process")

    async def close(self) -> None:
        """Nothing to release; present so every broker can be closed the same way."""
