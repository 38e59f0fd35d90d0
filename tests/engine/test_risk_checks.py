from datetime import UTC, datetime
from decimal import Decimal

from engine.brokers.base import Side
from engine.positions import Position
from engine.risk_checks import Valuation, entry_cost, failures, run_checks, valuation

ACCOUNT = Valuation(cash=Decimal(10000), equity=Decimal(10000), reserved=Decimal(0))
BASE = dict(notional=Decimal(500), cost=Decimal("500.50"), account=ACCOUNT, trades_today=0, duplicate=False,
            max_position_pct=10, max_symbol_pct=25, max_daily_trades=20, symbol="BTC/USDT")
NOW = datetime(2024, 8, 16, 9, tzinfo=UTC)


def refused(**changes) -> dict[str, str]:
    return {r.name: r.message for r in failures(run_checks(**{**BASE, **changes}))}


def account(cash: str, equity: str | None = None, reserved: str = "0", **exposure: str) -> Valuation:
    return Valuation(cash=Decimal(cash), equity=Decimal(equity or cash), reserved=Decimal(reserved),
                     exposure={k.replace("_", "/"): Decimal(v) for k, v in exposure.items()})


def position(side: Side, symbol: str = "BTC/USDT", *, entry: str | None = "100", quantity: str | None = "10",
             notional: str = "1000", last: str | None = None) -> Position:
    return Position(id=1, user_id=1, platform="console", chat_id="1", symbol=symbol, side=side, broker="paper",
                    status="open" if entry else "pending", notional=Decimal(notional),
                    entry_price=Decimal(entry) if entry else None, quantity=Decimal(quantity) if quantity else None,
                    last_price=Decimal(last) if last else None, created_at=NOW)


def test_all_pass_within_limits():
    assert refused() == {}
    # Exactly at a limit is allowed.
    assert refused(notional=Decimal(1000), cost=Decimal(1000)) == {}


def test_each_check_refuses_with_its_numbers():
    assert refused(notional=Decimal(1500)) == {
        "position size": "position $1,500.00 is 15.0% of equity $10,000.00 (limit 10%)"}
    assert refused(account=account("10000", BTC_USDT="2200")) == {
        "symbol exposure": "BTC/USDT exposure would be $2,700.00, 27.0% of equity (limit 25%)"}
    assert refused(trades_today=20) == {"daily trades": "20 trade(s) today (limit 20 a day)"}
    assert refused(account=account("400", "10000")) == {
        "cash": "needs $500.50 with slippage and fees, $400.00 available"}
    assert refused(duplicate=True) == {"duplicate": "a position on this tip is already open"}


def test_cash_check_counts_the_full_cost_and_what_pending_orders_hold():
    # $999 of size costs $1,000.496 with 0.05 % slippage and a 0.1 % fee: more than $1,000 of cash.
    cost = entry_cost(Decimal(999), Decimal("0.05"), Decimal("0.1"))
    assert cost == Decimal("999.4995") + Decimal("0.9994995")
    out = refused(notional=Decimal(999), cost=cost, account=account("1000"), max_position_pct=100,
                  max_symbol_pct=100)
    assert out == {"cash": "needs $1,000.50 with slippage and fees, $1,000.00 available"}
    out = refused(account=account("10000", reserved="9600"))
    assert out == {"cash": "needs $500.50 with slippage and fees, $400.00 available ($9,600.00 held for "
                           "pending orders)"}


def test_no_equity_refuses_instead_of_dividing_by_zero():
    out = refused(account=account("0"))
    assert {"position size", "symbol exposure", "cash"} <= set(out)


def test_valuation_at_current_prices():
    # A long of 10 at 100 now at 120 is worth 1,200; a short of 5 at 200 now at 180 gave back its 1,000
    # debit plus 5 × 20 = 1,100. Cash 7,000 → equity 7,000 + 1,200 + 1,100.
    held = [position(Side.LONG), position(Side.SHORT, "ETH/USDT", entry="200", quantity="5")]
    v = valuation(Decimal(7000), held, {"BTC/USDT": Decimal(120), "ETH/USDT": Decimal(180)},
                  slippage_pct=Decimal("0.05"), fee_pct=Decimal("0.1"))
    assert v.equity == Decimal(9300) and v.reserved == 0
    assert v.exposure == {"BTC/USDT": Decimal(1200), "ETH/USDT": Decimal(900)}


def test_valuation_falls_back_to_the_last_mark_and_holds_cash_for_pending_entries():
    held = [position(Side.LONG, last="110"),
            position(Side.LONG, entry=None, quantity=None, notional="200")]
    v = valuation(Decimal(8800), held, {}, slippage_pct=Decimal("0.05"), fee_pct=Decimal("0.1"))
    # The pending $200 adds nothing to equity (no cash moved) but counts in exposure and holds its cost.
    assert v.equity == Decimal(8800) + Decimal(1100)
    assert v.exposure == {"BTC/USDT": Decimal(1100) + Decimal(200)}
    assert v.reserved == Decimal("200.1") + Decimal("0.2001")
    assert v.available == Decimal(8800) - Decimal("200.3001")


def test_a_risen_position_refuses_what_its_entry_value_would_allow():
    # Bought $2,000 of BTC; it rose 20 %. At entry value 2,300 / 10,400 = 22.1 % would pass.
    v = valuation(Decimal(8000), [position(Side.LONG, quantity="20")], {"BTC/USDT": Decimal(120)},
                  slippage_pct=Decimal(0), fee_pct=Decimal(0))
    out = refused(notional=Decimal(300), cost=Decimal(300), account=v, max_position_pct=25)
    assert out == {"symbol exposure": "BTC/USDT exposure would be $2,700.00, 26.0% of equity (limit 25%)"}
