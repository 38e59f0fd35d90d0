from decimal import Decimal

from engine.risk_checks import failures, run_checks

BASE = dict(notional=Decimal(500), fee=Decimal("0.50"), equity=Decimal(10000), cash=Decimal(10000),
            symbol_exposure=Decimal(0), trades_today=0, duplicate=False, max_position_pct=10,
            max_symbol_pct=25, max_daily_trades=20, symbol="BTC/USDT")


def refused(**changes) -> dict[str, str]:
    return {r.name: r.message for r in failures(run_checks(**{**BASE, **changes}))}


def test_all_pass_within_limits():
    assert refused() == {}
    # Exactly at a limit is allowed.
    assert refused(notional=Decimal(1000)) == {}


def test_each_check_refuses_with_its_numbers():
    assert refused(notional=Decimal(1500)) == {
        "position size": "position $1,500.00 is 15.0% of equity $10,000.00 (limit 10%)"}
    assert refused(symbol_exposure=Decimal(2200)) == {
        "symbol exposure": "BTC/USDT exposure would be $2,700.00, 27.0% of equity (limit 25%)"}
    assert refused(trades_today=20) == {"daily trades": "20 trade(s) today (limit 20 a day)"}
    assert refused(cash=Decimal(400)) == {"cash": "needs $500.50 with fees, $400.00 available"}
    assert refused(duplicate=True) == {"duplicate": "a position on this tip is already open"}


def test_no_equity_refuses_instead_of_dividing_by_zero():
    out = refused(equity=Decimal(0), cash=Decimal(0))
    assert {"position size", "symbol exposure", "cash"} <= set(out)
