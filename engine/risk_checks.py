"""Risk checks before any order (SPEC §4, seed 002's portfolio constraints). Each refusal names the check
and the numbers, so a trader sees exactly why.

Everything is valued at current prices: a position that rose takes more of the equity than it cost, and
the equity is what the account is worth now. A pending entry has not moved any cash yet, so it adds nothing
to the equity; its cost is held back from the cash the next order may use, and its size counts in its
symbol's exposure, so an order in flight cannot be spent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from engine.brokers.base import Side
from engine.positions import Position

CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class Valuation:
    """A paper account at current prices."""

    cash: Decimal
    equity: Decimal  # cash plus every filled position at its current value
    reserved: Decimal  # cash that pending entries will take when they fill
    exposure: dict[str, Decimal] = field(default_factory=dict)  # per symbol: current value, pending at size

    @property
    def available(self) -> Decimal:
        return self.cash - self.reserved


def _money(value: Decimal) -> str:
    """The bot's money format (bot.core.formatting.money, which engine/ may not import): `−$20.39`."""
    digits = f"{abs(value):,.2f}"
    return f"\u2212${digits}" if value < 0 and Decimal(digits.replace(",", "")) != 0 else f"${digits}"


def entry_cost(notional: Decimal, slippage_pct: Decimal, fee_pct: Decimal) -> Decimal:
    """The most cash an entry of `notional` takes: the size at a price slipped against us, plus the fee."""
    slipped = notional * (1 + slippage_pct / _HUNDRED)
    return slipped + slipped * fee_pct / _HUNDRED


def value(position: Position, mark: Decimal) -> Decimal:
    """What a filled paper position gives back at `mark` before exit costs: a long its quantity at the mark;
    a short the cash it was debited at entry plus its gain (entry − mark) per unit."""
    assert position.entry_price is not None and position.quantity is not None
    if position.side is Side.LONG:
        return position.quantity * mark
    return position.quantity * (2 * position.entry_price - mark)


def valuation(cash: Decimal, held: Iterable[Position], prices: Mapping[str, Decimal], *,
              slippage_pct: Decimal, fee_pct: Decimal) -> Valuation:
    """Equity, cash held for pending entries and per-symbol exposure of the account's held positions
    (pending, open, closing). A symbol without a current price is valued at its last known mark."""
    equity, reserved = cash, Decimal(0)
    exposure: dict[str, Decimal] = {}
    for p in held:
        if p.entry_price is None or p.quantity is None:  # pending: no cash has moved yet
            reserved += entry_cost(p.notional, slippage_pct, fee_pct)
            exposure[p.symbol] = exposure.get(p.symbol, Decimal(0)) + p.notional
            continue
        mark = prices.get(p.symbol) or p.last_price or p.entry_price
        equity += value(p, mark)
        exposure[p.symbol] = exposure.get(p.symbol, Decimal(0)) + p.quantity * mark
    return Valuation(cash=cash, equity=equity, reserved=reserved, exposure=exposure)


def run_checks(
    *,
    notional: Decimal,
    cost: Decimal,
    account: Valuation,
    trades_today: int,
    duplicate: bool,
    max_position_pct: float,
    max_symbol_pct: float,
    max_daily_trades: int,
    symbol: str,
) -> list[CheckResult]:
    """`notional` is the size asked for; `cost` the cash its fill is expected to take (slippage and fee
    included); `account` the account valued now."""
    equity = account.equity
    symbol_exposure = account.exposure.get(symbol, Decimal(0))
    results = []
    share = notional / equity * 100 if equity > 0 else Decimal("Infinity")
    results.append(CheckResult(
        "position size", share <= Decimal(str(max_position_pct)),
        f"position {_money(notional)} is {share:.1f}% of equity {_money(equity)} (limit {max_position_pct:g}%)"))
    after = (symbol_exposure + notional) / equity * 100 if equity > 0 else Decimal("Infinity")
    results.append(CheckResult(
        "symbol exposure", after <= Decimal(str(max_symbol_pct)),
        f"{symbol} exposure would be {_money(symbol_exposure + notional)}, {after:.1f}% of equity "
        f"(limit {max_symbol_pct:g}%)"))
    results.append(CheckResult(
        "daily trades", trades_today < max_daily_trades,
        f"{trades_today} trade(s) today (limit {max_daily_trades} a day)"))
    held = f" ({_money(account.reserved)} held for pending orders)" if account.reserved > 0 else ""
    results.append(CheckResult(
        "cash", cost <= account.available,
        # Rounded up: "needs $1,000.50" must not read as affordable when the need is $1,000.496.
        f"needs {_money(cost.quantize(CENT, rounding=ROUND_CEILING))} with slippage and fees, "
        f"{_money(account.available)} available{held}"))
    results.append(CheckResult(
        "duplicate", not duplicate,
        "a position on this tip is already open" if duplicate else "no open position on this tip"))
    return results


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.ok]
