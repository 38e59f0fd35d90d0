"""Risk checks before any order (SPEC §4, seed 002's portfolio constraints). Each refusal names the check
and the numbers, so a trader sees exactly why."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    message: str


def _money(value: Decimal) -> str:
    """The bot's money format (bot.core.formatting.money, which engine/ may not import): `−$20.39`."""
    digits = f"{abs(value):,.2f}"
    return f"\u2212${digits}" if value < 0 and Decimal(digits.replace(",", "")) != 0 else f"${digits}"


def run_checks(
    *,
    notional: Decimal,
    fee: Decimal,
    equity: Decimal,
    cash: Decimal,
    symbol_exposure: Decimal,
    trades_today: int,
    duplicate: bool,
    max_position_pct: float,
    max_symbol_pct: float,
    max_daily_trades: int,
    symbol: str,
) -> list[CheckResult]:
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
    results.append(CheckResult(
        "cash", notional + fee <= cash,
        f"needs {_money(notional + fee)} with fees, {_money(cash)} available"))
    results.append(CheckResult(
        "duplicate", not duplicate,
        "a position on this tip is already open" if duplicate else "no open position on this tip"))
    return results


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.ok]
