"""Opening, closing and reconciling positions (SPEC §4): the use-cases behind the buttons and /open.

They return what happened (`OpenResult`, `CloseResult`), never reply text: bot.core.views.positions renders
those, and the alerts a fill or an exit queues with its storage writes are rendered by the `PositionAlerts`
the composition root hands to `Trading`, so the text is the views' while the writes stay atomic here.

The order of writes is what keeps storage and broker in agreement: the position and its order are stored
as `pending` before the broker is called; the fill is stored with the cash movement and its alert in one
transaction; a broker timeout leaves the row pending for `reconcile`, which asks the broker what became of
the order by the client order id we chose.

Opening is serial per user and atomic with its risk checks: a per-user lock runs one open at a time from
the checks to the recorded fill, and the pending row is inserted by the same storage transaction that
re-reads cash, positions and the day's trades, so any number of presses arriving together gives what
pressing them one after another gives. Times are the market's (the replay's virtual clock; now, live).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.usecases.broker_keys import OwnBrokers
from engine.brokers.base import (
    AccountFigures,
    Broker,
    BrokerError,
    ExitTrigger,
    Fill,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    Side,
)
from engine.brokers.paper import QUANTITY_DECIMALS, fee_for, is_buy, position_quantity, slipped_price
from engine.market.base import MarketError
from engine.positions import Position, net_pnl, pnl_fraction
from engine.risk_checks import CheckResult, Valuation, failures, run_checks, valuation
from storage.alerts import AlertSpec
from storage.models import User
from storage.positions import AccountState

if TYPE_CHECKING:
    from bot.core.kernel import Core

log = logging.getLogger(__name__)
PENDING_GRACE = timedelta(seconds=30)  # a pending order younger than this may still be in flight


@dataclass
class Quote:
    symbol: str
    side: Side
    notional: Decimal
    price: Decimal
    quantity: Decimal
    fee: Decimal  # estimated, on the fill value with slippage
    stop_loss: Decimal | None
    take_profit: Decimal | None
    price_decimals: int
    broker: str
    equity: Decimal
    cash: Decimal
    checks: list[CheckResult]
    signal_id: int | None = None

    @property
    def refused(self) -> list[CheckResult]:
        return failures(self.checks)


class OpenStatus(StrEnum):
    OPENED = "opened"  # filled: `position` is open, `fill` says at what
    REFUSED = "refused"  # a risk check refused at the last moment (`refused`): nothing was stored
    REJECTED = "rejected"  # the broker refused the order (`detail`): the position failed
    BROKER_ERROR = "broker_error"  # a broker error that is not worth retrying (`detail`): the position failed
    UNCONFIRMED = "unconfirmed"  # the broker did not answer in time (`detail`): pending, reconciliation settles it
    ACCEPTED = "accepted"  # the broker accepted the order but has not filled it: pending until it does
    NOT_FILLED = "not_filled"  # the broker reports the order `detail` (canceled, expired ...): the position failed


@dataclass(frozen=True)
class OpenResult:
    """What became of an open: a position id once one was stored (every status but REFUSED)."""

    status: OpenStatus
    position_id: int | None = None
    position: Position | None = None  # OPENED: the position as its fill left it
    fill: Fill | None = None  # OPENED
    refused: list[CheckResult] = field(default_factory=list)  # REFUSED: the checks that refused
    detail: str = ""


class CloseStatus(StrEnum):
    CLOSED = "closed"  # filled: `fill`, `pnl_abs`, `pnl_pct` and `fees` say how it went
    NOT_OPEN = "not_open"  # it was not open (closed, or being closed by someone else): nothing was sent
    REJECTED = "rejected"  # the broker refused the exit (`detail`): it stays open
    NOT_FILLED = "not_filled"  # the exit order ended `detail` (canceled, expired ...): it stays open
    UNCONFIRMED = "unconfirmed"  # the broker did not answer in time (`detail`): closing, reconciliation settles it
    ACCEPTED = "accepted"  # the exit order is accepted but not filled yet: closing until it is
    ALREADY_CLOSED = "already_closed"  # its exit was recorded meanwhile (by reconciliation): nothing changed


@dataclass(frozen=True)
class CloseResult:
    status: CloseStatus
    position: Position  # as the close was asked for (CLOSED: before the exit)
    reason: str = ""  # the exit reason: manual, stop_loss, take_profit, trailing_stop, signal_reversal
    fill: Fill | None = None
    pnl_abs: Decimal | None = None  # net of both fees
    pnl_pct: float | None = None
    fees: Decimal | None = None  # the entry's and the exit's
    detail: str = ""


class PositionAlerts(Protocol):
    """The alerts queued in the same transaction as a fill, an exit or a failed entry, as stored payloads
    (a Reply's JSON). bot.core.views.positions renders them; the composition root passes them to Trading."""

    def filled(self, result: OpenResult) -> dict[str, Any]: ...

    def closed(self, result: CloseResult) -> dict[str, Any]: ...

    def entry_failed(self, position: Position, status: OrderStatus) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ExitEstimate:
    """What closing at market now would give: the live price, the fill after slippage, and the net PnL
    after the entry's fee and the exit's estimated fee."""

    price: Decimal
    fill: Decimal
    fees: Decimal
    net_pnl: Decimal


def new_client_order_id() -> str:
    return "tip-" + uuid.uuid4().hex[:20]


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class Trading:
    def __init__(self, core: Core, brokers: dict[str, Broker], alerts: PositionAlerts) -> None:
        self.core = core
        self.brokers = brokers
        self.alerts = alerts
        self.repo = core.storage.positions
        # One lock per user who opened something in this process (a few bytes each): their opens queue.
        self._open_locks: dict[int, asyncio.Lock] = {}
        self.own = OwnBrokers(core)  # users' own accounts (/setkeys): their orders go there, not to ours

    @property
    def default_broker(self) -> str:
        return self.core.settings.brokers.default

    def broker(self, name: str) -> Broker:
        if name not in self.brokers:
            raise BrokerError(f"broker {name} is not configured", transient=False)
        return self.brokers[name]

    async def broker_for(self, user_id: int, name: str) -> Broker:
        """The user's own account at broker `name` when they stored keys for it (/setkeys), else the bot's."""
        own = await self.own.get(user_id, name)
        return own if own is not None else self.broker(name)

    @staticmethod
    def _on_own_account(account: Valuation, own: AccountFigures | None) -> Valuation:
        """A user trading with their own keys is budgeted on that account's equity and cash, as the broker
        reports them; our records still give the exposure per symbol and the cash pending entries hold."""
        if own is None:
            return account
        return Valuation(cash=own.cash, equity=own.equity, reserved=account.reserved, exposure=account.exposure)

    async def close_brokers(self) -> None:
        """Release the brokers' connections (ccxt keeps an HTTP session) at shutdown."""
        await self.own.close()
        for broker in self.brokers.values():
            closer = getattr(broker, "close", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    log.exception("closing broker %s failed", getattr(broker, "name", "?"))

    # ---- money ---------------------------------------------------------------------------------------

    async def current_prices(self, symbols: set[str]) -> tuple[dict[str, Decimal], dict[str, BaseException]]:
        """One current price per symbol, fetched concurrently; symbols without a price come back as errors."""
        names = sorted(symbols)
        answers = await asyncio.gather(*(self.core.services.market.last_price(s) for s in names),
                                       return_exceptions=True)
        prices: dict[str, Decimal] = {}
        errors: dict[str, BaseException] = {}
        for symbol, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException):
                errors[symbol] = answer
            else:
                prices[symbol] = answer
        return prices, errors

    @property
    def _starting_equity(self) -> Decimal:
        return Decimal(str(self.core.settings.paper.starting_equity))

    def _valuation(self, cash: Decimal, held: list[Position], prices: dict[str, Decimal]) -> Valuation:
        paper = self.core.settings.paper
        return valuation(cash, held, prices, slippage_pct=Decimal(str(paper.slippage_pct)),
                         fee_pct=Decimal(str(paper.fee_pct)))

    async def equity(self, user: User) -> tuple[Decimal, Decimal]:
        """(equity, cash) of the user's paper account: cash plus filled positions at current prices (a
        pending entry adds nothing until its fill moves the cash)."""
        account = await self.repo.paper_account(user.id, self._starting_equity)
        held = await self.repo.with_status("pending", "open", "closing", user_id=user.id)
        prices, _ = await self.current_prices({p.symbol for p in held})
        return self._valuation(account.cash, held, prices).equity, account.cash

    # ---- the market's clock --------------------------------------------------------------------------

    async def _as_of(self, symbol: str) -> datetime | None:
        try:
            return await self.core.services.market.as_of(symbol)
        except MarketError:
            return None

    async def market_now(self, symbol: str) -> datetime:
        """The symbol's market time: the replay's virtual now, or the core's clock for a live source."""
        moment = await self._as_of(symbol)
        return moment if moment is not None else self.core.now()

    async def _market_days(self, user_id: int, symbol: str) -> dict[str, datetime]:
        """The start of today, on each clock the day's trade count reads (replay symbols each have one)."""
        symbols = sorted({*await self.repo.traded_symbols(user_id), symbol})
        nows = await asyncio.gather(*(self.market_now(s) for s in symbols))
        return {s: day_start(now) for s, now in zip(symbols, nows, strict=True)}

    async def _fill_time(self, symbol: str, fill: Fill) -> datetime:
        """When a fill happened in market time: the replay's clock, else the broker's own fill time."""
        moment = await self._as_of(symbol)
        return moment if moment is not None else fill.filled_at or self.core.now()

    async def closed_within(self, user_id: int, span: timedelta | None) -> list[Position]:
        """Closed positions of the last `span` of market time, each on its own symbol's clock (all: None);
        every one of them, however many (the repository's default limit would cut a long history)."""
        every = max(1, await self.repo.count_closed(user_id))
        if span is None:
            return await self.repo.closed(user_id, None, every)
        symbols = await self.repo.traded_symbols(user_id)
        if not symbols:
            return []
        starts = dict(zip(symbols, [now - span for now in await asyncio.gather(
            *(self.market_now(s) for s in symbols))], strict=True))
        return [p for p in await self.repo.closed(user_id, min(starts.values()), every)
                if p.closed_at is not None and p.closed_at >= starts.get(p.symbol, p.closed_at)]

    # ---- opening -------------------------------------------------------------------------------------

    async def price_decimals(self, symbol: str) -> int:
        """The symbol's tick, from its candles (the source knows it), never from how a quote is written:
        Decimal('100') is a price of a cent-ticked symbol too."""
        market = self.core.services.market
        settings = self.core.settings.market
        timeframes = market.timeframes(symbol)
        timeframe = settings.default_timeframe if settings.default_timeframe in timeframes else timeframes[0]
        return (await market.fetch_ohlcv(symbol, timeframe, settings.bars)).price_decimals

    def _entry_cost(self, side: Side, quantity: Decimal, price: Decimal, decimals: int) -> tuple[Decimal, Decimal]:
        """(fee, cash needed) of an entry at `price`: the fill slipped against us at the tick, plus its fee."""
        paper = self.core.settings.paper
        fill = slipped_price(price, Decimal(str(paper.slippage_pct)), is_buy(side, closing=False), decimals)
        fee = fee_for(quantity * fill, Decimal(str(paper.fee_pct)))
        return fee, quantity * fill + fee

    def _checks(self, symbol: str, notional: Decimal, cost: Decimal, account: Valuation,
                state: AccountState) -> list[CheckResult]:
        risk = self.core.settings.risk
        return run_checks(notional=notional, cost=cost, account=account, trades_today=state.trades_today,
                          duplicate=state.duplicate, max_position_pct=risk.max_position_pct,
                          max_symbol_pct=risk.max_symbol_pct, max_daily_trades=risk.max_daily_trades, symbol=symbol)

    async def _prices_with(self, held: list[Position], symbol: str, price: Decimal) -> dict[str, Decimal]:
        prices, _ = await self.current_prices({p.symbol for p in held} - {symbol})
        return {**prices, symbol: price}

    async def quote(self, user: User, symbol: str, side: Side, notional: Decimal, stop_loss: Decimal | None,
                    take_profit: Decimal | None, price_decimals: int, signal_id: int | None) -> Quote:
        """The confirmation card's numbers and checks. Advisory: `open` checks again, atomically."""
        price = await self.core.services.market.last_price(symbol)
        # Alpaca's bracket orders take whole shares only; the others trade fractions.
        whole = self.default_broker == "alpaca" and "/" not in symbol
        quantity = position_quantity(notional, price, 0 if whole else QUANTITY_DECIMALS)
        fee, cost = self._entry_cost(side, quantity, price, price_decimals)
        state = await self.repo.account_state(user.id, self._starting_equity, signal_id,
                                              await self._market_days(user.id, symbol), symbol)
        account = self._on_own_account(
            self._valuation(state.cash, state.held, await self._prices_with(state.held, symbol, price)),
            await self.own.account(user.id, self.default_broker))
        checks = self._checks(symbol, notional, cost, account, state)
        return Quote(symbol=symbol, side=side, notional=notional, price=price, quantity=quantity, fee=fee,
                     stop_loss=stop_loss, take_profit=take_profit, price_decimals=price_decimals,
                     broker=self.default_broker, equity=account.equity, cash=account.cash, checks=checks,
                     signal_id=signal_id)

    async def open(self, user: User, platform: str, chat_id: str, quote: Quote) -> OpenResult:
        """Check, store as pending, send and record the fill — one open at a time per user, so the checks of
        the next open see this one's fill (its cash, its exposure, its count)."""
        async with self._open_locks.setdefault(user.id, asyncio.Lock()):
            return await self._open_serially(user, platform, chat_id, quote)

    async def _open_serially(self, user: User, platform: str, chat_id: str, quote: Quote) -> OpenResult:
        held = await self.repo.with_status("pending", "open", "closing", user_id=user.id)
        try:
            price = await self.core.services.market.last_price(quote.symbol)
        except MarketError:
            price = quote.price
        prices = await self._prices_with(held, quote.symbol, price)
        _, cost = self._entry_cost(quote.side, quote.quantity, price, quote.price_decimals)
        days = await self._market_days(user.id, quote.symbol)
        market_at = await self.market_now(quote.symbol)

        own = await self.own.account(user.id, quote.broker)

        def check(state: AccountState) -> list[CheckResult]:
            # Runs inside the storage transaction, on what it has just re-read.
            account = self._on_own_account(self._valuation(state.cash, state.held, prices), own)
            return failures(self._checks(quote.symbol, quote.notional, cost, account, state))

        coid = new_client_order_id()
        position_id, refused = await self.repo.create_pending_checked(
            user_id=user.id, signal_id=quote.signal_id, platform=platform, chat_id=chat_id, symbol=quote.symbol,
            side=quote.side, broker=quote.broker, notional=quote.notional, stop_loss=quote.stop_loss,
            take_profit=quote.take_profit, price_decimals=quote.price_decimals, client_order_id=coid,
            market_at=market_at, starting_equity=self._starting_equity, day_starts=days, check=check)
        if position_id is None:
            return OpenResult(OpenStatus.REFUSED, refused=list(refused))
        order = OrderRequest(client_order_id=coid, symbol=quote.symbol, side=quote.side, quantity=quote.quantity,
                             price=quote.price, stop_loss=quote.stop_loss, take_profit=quote.take_profit,
                             price_decimals=quote.price_decimals)
        try:
            fill = await (await self.broker_for(user.id, quote.broker)).submit(order)
        except OrderRejected as exc:
            await self.repo.mark_failed(position_id, coid, str(exc), "rejected")
            return OpenResult(OpenStatus.REJECTED, position_id, detail=str(exc))
        except BrokerError as exc:
            if exc.transient:
                # The order may exist at the broker: keep it pending; the next tick asks the broker.
                log.warning("entry of position %s uncertain: %s", position_id, exc)
                return OpenResult(OpenStatus.UNCONFIRMED, position_id, detail=str(exc))
            await self.repo.mark_failed(position_id, coid, str(exc), "error")
            return OpenResult(OpenStatus.BROKER_ERROR, position_id, detail=str(exc))
        # The presser sees this fill in the message their Confirm edits: no second copy as an alert there.
        return await self._record_fill(position_id, coid, fill, quote.broker, announce=False)

    async def _record_fill(self, position_id: int, coid: str, fill: Fill, broker: str, *,
                           announce: bool = True) -> OpenResult:
        """Store the fill; `announce` queues it to the position's chat too (for fills learnt later, which no
        reply carries)."""
        if fill.status is OrderStatus.PENDING:
            # Accepted but not filled yet (market closed, slow fill): it is live at the broker, so it stays
            # pending here and reconciliation records the fill when it comes.
            return OpenResult(OpenStatus.ACCEPTED, position_id)
        if fill.status is not OrderStatus.FILLED:
            await self.repo.mark_failed(position_id, coid, fill.detail or fill.status.value, fill.status.value)
            return OpenResult(OpenStatus.NOT_FILLED, position_id, detail=fill.status.value)
        pending = await self.repo.get(position_id)
        assert pending is not None
        opened_at = await self._fill_time(pending.symbol, fill)
        # What mark_open stores, so the result (and its alert) shows the position as the fill leaves it.
        position = pending.model_copy(update={"status": "open", "quantity": fill.quantity, "entry_price": fill.price,
                                              "entry_fee": fill.fee, "opened_at": opened_at})
        result = OpenResult(OpenStatus.OPENED, position_id, position, fill)
        await self.repo.mark_open(position_id, coid, fill, paper=broker == "paper",
                                  alerts=[(position.platform, position.chat_id, "fill", self.alerts.filled(result),
                                           f"fill:{coid}")] if announce else [],
                                  opened_at=opened_at)
        return result

    # ---- paper grids (bot.core.usecases.grids): the same checks on the same account -------------------

    @property
    def starting_equity(self) -> Decimal:
        return self._starting_equity

    async def risk_inputs(self, user_id: int, symbol: str, price: Decimal) -> tuple[dict[str, Decimal],
                                                                                    dict[str, datetime]]:
        """(prices the account is valued at, the day starts its trade count reads) for checks that run inside
        a storage transaction, as `open` prepares them."""
        held = await self.repo.with_status("pending", "open", "closing", user_id=user_id)
        return await self._prices_with(held, symbol, price), await self._market_days(user_id, symbol)

    def entry_checks(self, symbol: str, notional: Decimal, cost: Decimal, state: AccountState,
                     prices: dict[str, Decimal]) -> list[CheckResult]:
        """Every risk check of an entry of `notional` costing `cost`, on `state` valued at `prices`."""
        return self._checks(symbol, notional, cost, self._valuation(state.cash, state.held, prices), state)

    # ---- closing -------------------------------------------------------------------------------------

    async def exit_estimate(self, position: Position) -> ExitEstimate | None:
        """Closing at market now, estimated as the paper broker would fill it (None: no live price)."""
        if position.entry_price is None or position.quantity is None:
            return None
        try:
            price = await self.core.services.market.last_price(position.symbol)
        except MarketError:
            return None
        paper = self.core.settings.paper
        fill = slipped_price(price, Decimal(str(paper.slippage_pct)), is_buy(position.side, closing=True),
                             position.price_decimals)
        fees = (position.entry_fee or Decimal(0)) + fee_for(position.quantity * fill, Decimal(str(paper.fee_pct)))
        return ExitEstimate(price=price, fill=fill, fees=fees,
                            net_pnl=net_pnl(position.side, position.entry_price, fill, position.quantity, fees))

    async def close(self, position: Position, reason: str, *, announce: bool = True,
                    trigger: ExitTrigger | None = None) -> CloseResult:
        """Exit at market, or as the touched order fills when the monitor passes its `trigger` (ExitTrigger).
        A close the user pressed for (`announce=False`) is told in the reply that edits
        their message; the monitor's exits, which no reply carries, are queued as alerts."""
        coid = new_client_order_id()
        if not await self.repo.start_closing(position.id, coid, reason):
            return CloseResult(CloseStatus.NOT_OPEN, position, reason)
        return await self._submit_exit(position, coid, reason, announce=announce, trigger=trigger)

    async def _submit_exit(self, position: Position, coid: str, reason: str, *, announce: bool = True,
                           trigger: ExitTrigger | None = None) -> CloseResult:
        assert position.quantity is not None
        reference = position.last_price or position.entry_price or Decimal(0)
        # A broker holding the entry's SL/TP legs must release them before the exit can sell the shares.
        entry_coid = await self.repo.order(position.id, "entry")
        order = OrderRequest(client_order_id=coid, symbol=position.symbol, side=position.side,
                             quantity=position.quantity, price=reference, closing=True,
                             price_decimals=position.price_decimals, entry_client_order_id=entry_coid,
                             trigger=trigger)  # the monitor's exit: the level it saw touched (paper)
        try:
            fill = await (await self.broker_for(position.user_id, position.broker)).submit(order)
        except OrderRejected as exc:
            await self.repo.reopen(position.id, coid, str(exc))
            return CloseResult(CloseStatus.REJECTED, position, reason, detail=str(exc))
        except BrokerError as exc:
            log.warning("exit of position %s uncertain: %s", position.id, exc)
            return CloseResult(CloseStatus.UNCONFIRMED, position, reason, detail=str(exc))
        if fill.status is OrderStatus.PENDING:
            return CloseResult(CloseStatus.ACCEPTED, position, reason)
        if fill.status is not OrderStatus.FILLED:
            await self.repo.reopen(position.id, coid, fill.detail or fill.status.value)
            return CloseResult(CloseStatus.NOT_FILLED, position, reason, detail=fill.status.value)
        return await self._record_exit(position, coid, fill, reason, announce=announce)

    async def _record_exit(self, position: Position, coid: str, fill: Fill, reason: str, *,
                           announce: bool = True) -> CloseResult:
        assert position.entry_price is not None and position.quantity is not None
        fees = (position.entry_fee or Decimal(0)) + fill.fee
        pnl_abs = net_pnl(position.side, position.entry_price, fill.price, position.quantity, fees)
        pnl_pct = float(pnl_fraction(position.side, position.entry_price, fill.price))
        result = CloseResult(CloseStatus.CLOSED, position, reason, fill, pnl_abs, pnl_pct, fees)
        alerts = ([(position.platform, position.chat_id, "exit", self.alerts.closed(result), f"exit:{coid}")]
                  if announce else [])
        closed = await self.repo.mark_closed(position, coid, fill, pnl_abs, pnl_pct,
                                             paper=position.broker == "paper", alerts=alerts,
                                             closed_at=await self._fill_time(position.symbol, fill))
        if not closed:
            return CloseResult(CloseStatus.ALREADY_CLOSED, position, reason)
        return result

    async def sync_broker_exits(self) -> int:
        """Bracket positions the broker closed by itself (its SL/TP leg filled between our checks)."""
        closed = 0
        holders = [name for name, broker in self.brokers.items() if hasattr(broker, "exit_fill")]
        if not holders:
            return 0  # the paper broker holds no orders: our own monitor runs every exit
        for position in await self.repo.with_status("open", brokers=holders):
            entry_coid = await self.repo.order(position.id, "entry")
            try:
                exit_fill = (await self.broker_for(position.user_id, position.broker)).exit_fill
                fill = await exit_fill(entry_coid, position.symbol) if entry_coid else None
            except BrokerError as exc:
                log.info("exit check of #%s: broker unavailable (%s)", position.id, exc)
                continue
            if fill is None or fill.status is not OrderStatus.FILLED:
                continue
            # The broker says which leg closed it ("... by the take-profit leg"); prices decide otherwise.
            if "take-profit" in fill.detail or "take_profit" in fill.detail:
                reason = "take_profit"
            elif "stop" in fill.detail:
                reason = "stop_loss"
            else:
                reason = "take_profit" if position.take_profit and abs(fill.price - position.take_profit) < abs(
                    fill.price - (position.stop_loss or fill.price)) else "stop_loss"
            # Our record of that exit needs an order id of its own (the leg carries the entry's).
            exit_coid = f"{entry_coid}-leg"
            fill = fill.model_copy(update={"client_order_id": exit_coid})
            if await self.repo.start_closing(position.id, exit_coid, reason):
                await self._record_exit(position, exit_coid, fill, reason)
                closed += 1
        return closed

    # ---- reconciliation ------------------------------------------------------------------------------

    def _entry_failed_alert(self, position: Position, coid: str, fill: Fill) -> AlertSpec:
        return (position.platform, position.chat_id, "entry_failed", self.alerts.entry_failed(position, fill.status),
                f"failed:{coid}")

    async def reconcile(self, now: datetime | None = None) -> int:
        """Settle pending entries and closing exits with the broker (each tick, and at start-up)."""
        now = now or datetime.now(UTC)
        settled = 0
        for position in await self.repo.with_status("pending", "closing"):
            purpose = "entry" if position.status == "pending" else "exit"
            coid = await self.repo.order(position.id, purpose)
            if coid is None:
                continue
            try:
                broker = await self.broker_for(position.user_id, position.broker)
                fill = await broker.order_status(coid, symbol=position.symbol)
            except BrokerError as exc:
                log.info("reconcile #%s: broker unavailable (%s)", position.id, exc)
                continue
            young = now - position.created_at < PENDING_GRACE and purpose == "entry"
            if fill.status is OrderStatus.FILLED:
                if purpose == "entry":
                    await self._record_fill(position.id, coid, fill, position.broker)
                else:
                    await self._record_exit(position, coid, fill, position.exit_reason or "manual")
                settled += 1
            elif fill.status is OrderStatus.PENDING or young:
                continue
            elif purpose == "entry":
                # Nobody waits for a reply any more (the open said "pending", or the bot crashed): tell them.
                await self.repo.mark_failed(position.id, coid, f"order {fill.status.value} at the broker",
                                            fill.status.value, alerts=[self._entry_failed_alert(position, coid, fill)])
                settled += 1
            elif fill.status is OrderStatus.NOT_FOUND:
                # The exit order never reached the broker (a crash right after we stored it): send it now.
                await self._submit_exit(position, coid, position.exit_reason or "manual")
                settled += 1
            else:
                await self.repo.reopen(position.id, coid, f"exit order {fill.status.value}")
                settled += 1
        return settled
