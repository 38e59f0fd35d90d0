"""The one protocol every broker implements (paper, Alpaca, ccxt), and the shapes of orders and fills.

Money and quantities are `Decimal`. A broker call either returns a `Fill`, or raises a `BrokerError` that
says whether trying again may help; it never leaves the caller guessing whether an order exists: with the
`client_order_id` the caller chose, `order_status` finds out after a timeout or a crash.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel


class Side(StrEnum):
    LONG = "long"  # opened by a BUY tip
    SHORT = "short"  # opened by a SELL tip


class OrderStatus(StrEnum):
    FILLED = "filled"
    PENDING = "pending"  # accepted, not (fully) filled yet
    REJECTED = "rejected"
    CANCELED = "canceled"
    NOT_FOUND = "not_found"  # the broker never saw this client_order_id


class ExitTrigger(BaseModel):
    """An exit the position monitor saw touched, for a broker that holds no SL/TP orders of its own (paper).

    `limit`: a take-profit resting at `price` fills there (or better, when the market opened beyond it:
    then `price` is that open); no slippage. `stop`: a stop-loss or trailing stop touched becomes a market
    order from `price` (the stop, or the open the market gapped to) and pays slippage from there."""

    kind: Literal["limit", "stop"]
    price: Decimal


class OrderRequest(BaseModel):
    """Open (or close) a position at market. `price` is the reference price the user saw."""

    client_order_id: str  # chosen by us before the call: the key for reconciliation
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    closing: bool = False  # True: this order closes `side` (sells a long, buys back a short)
    # The instrument's price decimals (tick), when known: fills are rounded to it.
    price_decimals: int | None = None
    # Closing only: the client order id of the entry this exit closes. A broker that holds the entry's SL/TP
    # (a bracket) needs it to cancel those first, or to find that one of them already closed the position.
    entry_client_order_id: str | None = None
    # Closing only: the monitor's exit that triggered it (engine.positions), or None for an exit at market.
    trigger: ExitTrigger | None = None


class Fill(BaseModel):
    client_order_id: str
    broker_order_id: str
    status: OrderStatus
    quantity: Decimal = Decimal(0)
    price: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    filled_at: datetime | None = None
    bracket: bool = False  # the broker holds SL/TP orders for this position (else we monitor exits)
    detail: str = ""


class AccountFigures(BaseModel):
    """What a broker account is worth now, as the broker reports it: the risk budget of a user trading with
    their own keys is this, not the paper ledger."""

    equity: Decimal  # cash plus positions at market value
    cash: Decimal  # what new orders may spend


class BrokerError(Exception):
    """A broker call failed. `transient`: retrying later may succeed (timeouts, 429, 5xx); `auth`: the keys
    were refused (stop and tell the user, never retry); `retry_after`: seconds the broker asked us to wait."""

    def __init__(self, message: str, *, transient: bool = False, auth: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.auth = auth
        self.retry_after = retry_after


class OrderRejected(BrokerError):
    """The broker refused the order (insufficient funds, invalid symbol, market closed ...)."""


@runtime_checkable
class Broker(Protocol):
    name: str

    async def submit(self, order: OrderRequest) -> Fill:
        """Place a market order (with SL/TP where the broker supports brackets) and return its fill."""
        ...

    async def order_status(self, client_order_id: str, symbol: str | None = None) -> Fill:
        """What became of an order we may or may not have placed (after a timeout or a crash).

        Pass the order's `symbol` when known: some exchanges (binance) look orders up per symbol only.
        """
        ...
