"""Options: Black-Scholes against Hull's published examples, the chain selection rule on a hand-made chain,
the synthetic chain on the bundled AAPL candles, and the Alpaca client against a local server speaking Alpaca's
options endpoints (tests/support/fake_alpaca_options.py). References are published figures, hand arithmetic or
a plain scalar formula written here — never the code under test."""

from __future__ import annotations

import gzip
import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.fetching import FetchPolicy
from engine.models import Candles
from engine.options.alpaca_options import AlpacaOptions
from engine.options.black_scholes import black_scholes, norm_cdf, per_day_theta, per_point
from engine.options.chain import (
    OptionChain,
    OptionContract,
    OptionsUnavailable,
    Selection,
    SelectionRules,
    contract_line,
    select,
)
from engine.options.synthetic import SyntheticChainSource, expiries, realised_volatility, strikes, synthetic_chain
from engine.strategies import fused, registry
from engine.strategies.base import BUY, HOLD, SELL
from engine.strategies.options import STRATEGY as OPTIONS
from tests.support.fake_alpaca_options import FakeAlpacaOptions, FakeContract

DATA = Path(__file__).resolve().parents[2] / "engine" / "market" / "data"
FAST = FetchPolicy(attempts=2, timeout=1.0, initial=0.01, maximum=0.02, max_retry_after=1.0, jitter=0.0, budget=3.0)


def scalar_bs(kind: str, s: float, k: float, t: float, r: float, v: float) -> tuple[float, float]:
    """Price and delta by the textbook formula, one option at a time (the test's own reference)."""
    def n(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    d1 = (math.log(s / k) + (r + v * v / 2) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    if kind == "call":
        return s * n(d1) - k * math.exp(-r * t) * n(d2), n(d1)
    return k * math.exp(-r * t) * n(-d2) - s * n(-d1), n(d1) - 1


# ---- Black-Scholes ----------------------------------------------------------------------------------------


def test_hull_example_15_6_call_and_put() -> None:
    """Hull, Options, Futures, and Other Derivatives, Example 15.6: S0 = 42, K = 40, r = 10%, σ = 20%, T = 0.5:
    d1 = 0.7693, d2 = 0.6278, c = 4.76, p = 0.81."""
    call = black_scholes("call", 42, 40, 0.5, 0.10, 0.20)
    put = black_scholes("put", 42, 40, 0.5, 0.10, 0.20)
    assert round(float(call.d1), 4) == 0.7693
    assert round(float(call.d2), 4) == 0.6278
    assert round(float(call.price), 2) == 4.76
    assert round(float(put.price), 2) == 0.81


def test_hull_chapter_19_greeks_of_a_call() -> None:
    """Hull ch. 19 (The Greek Letters), the bank's 100,000 calls: S0 = 49, K = 50, r = 5%, σ = 20%, T = 20 weeks
    (0.3846): price 2.40, delta 0.522, gamma 0.066, theta −4.31 a year (−0.0118 a calendar day), vega 12.1
    (0.121 per 1% of volatility), rho 8.91."""
    g = black_scholes("call", 49, 50, 20 / 52, 0.05, 0.20)
    assert round(float(g.price), 2) == 2.40
    assert round(float(g.delta), 3) == 0.522
    assert round(float(g.gamma), 3) == 0.066
    assert round(float(g.theta), 2) == -4.31
    assert round(float(per_day_theta(g.theta)), 4) == -0.0118
    assert round(float(g.vega), 1) == 12.1
    assert round(float(per_point(g.vega)), 3) == 0.121
    assert round(float(g.rho), 2) == 8.91


def test_hull_example_17_1_index_call_with_a_dividend_yield() -> None:
    """Hull Example 17.1: a European call on an index at 930, K = 900, r = 8%, q = 3%, σ = 20%, two months:
    51.83."""
    assert round(float(black_scholes("call", 930, 900, 2 / 12, 0.08, 0.20, dividend=0.03).price), 2) == 51.83


def test_normal_cdf_against_table_values() -> None:
    # Standard normal table: N(0) = 0.5, N(1) = 0.8413, N(-1.96) = 0.0250, N(2.5) = 0.9938
    assert np.round(norm_cdf([0.0, 1.0, -1.96, 2.5]), 4).tolist() == [0.5, 0.8413, 0.025, 0.9938]


def test_vectorised_over_strikes_equals_one_at_a_time() -> None:
    strikes_ = np.array([80.0, 95.0, 100.0, 105.0, 130.0])
    for kind in ("call", "put"):
        g = black_scholes(kind, 100.0, strikes_, 0.25, 0.03, 0.35)
        for i, k in enumerate(strikes_):
            price, delta = scalar_bs(kind, 100.0, float(k), 0.25, 0.03, 0.35)
            assert g.price[i] == pytest.approx(price, abs=1e-12)
            assert g.delta[i] == pytest.approx(delta, abs=1e-12)


def test_put_call_parity_and_greeks_sanity() -> None:
    """c − p = S·e^(−qT) − K·e^(−rT); call delta in (0, 1), put delta = call delta − 1 (no dividend); gamma and
    vega equal and positive; call rho > 0 > put rho; delta and gamma agree with finite differences."""
    strikes_ = np.linspace(60, 140, 17)
    s, t, r, v = 100.0, 40 / 365, 0.045, 0.28
    call, put = black_scholes("call", s, strikes_, t, r, v), black_scholes("put", s, strikes_, t, r, v)
    np.testing.assert_allclose(call.price - put.price, s - strikes_ * math.exp(-r * t), atol=1e-10)
    assert np.all((call.delta > 0) & (call.delta < 1))
    np.testing.assert_allclose(put.delta, call.delta - 1, atol=1e-14)
    np.testing.assert_allclose(call.gamma, put.gamma)
    np.testing.assert_allclose(call.vega, put.vega)
    assert np.all(call.gamma > 0) and np.all(call.vega > 0)
    assert np.all(call.rho > 0) and np.all(put.rho < 0)
    assert np.all(np.diff(call.price) < 0) and np.all(np.diff(put.price) > 0)  # dearer calls at lower strikes
    h = 0.01
    up, down = black_scholes("call", s + h, strikes_, t, r, v), black_scholes("call", s - h, strikes_, t, r, v)
    np.testing.assert_allclose(call.delta, (up.price - down.price) / (2 * h), atol=1e-6)
    np.testing.assert_allclose(call.gamma, (up.price - 2 * call.price + down.price) / h**2, atol=1e-4)
    later = black_scholes("call", s, strikes_, t - 1e-5, r, v)
    np.testing.assert_allclose(call.theta, (later.price - call.price) / 1e-5, atol=1e-2)


def test_bad_inputs_are_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="positive volatility"):
        black_scholes("call", 100, 100, 0.1, 0.01, 0.0)
    with pytest.raises(ValueError, match="positive time to expiry"):
        black_scholes("put", 100, [90, 100], [0.1, -0.1], 0.01, 0.2)
    with pytest.raises(ValueError, match="'call' or 'put'"):
        black_scholes("straddle", 100, 100, 0.1, 0.01, 0.2)  # type: ignore[arg-type]


# ---- selection on a hand-made chain -----------------------------------------------------------------------

AS_OF = datetime(2024, 9, 3, 14, 30, tzinfo=UTC)  # a Tuesday; 30-45 days → 2024-10-03 .. 2024-10-18


def c(name: str, *, kind: str = "call", expiry: date = date(2024, 10, 11), strike: str = "230", delta: float = 0.60,
      oi: int | None = 5000, bid: str | None = "5.45", ask: str | None = "5.55") -> OptionContract:
    return OptionContract(symbol=name, underlying="AAPL", kind=kind, expiry=expiry, strike=Decimal(strike),  # type: ignore[arg-type]
                          bid=None if bid is None else Decimal(bid), ask=None if ask is None else Decimal(ask),
                          open_interest=oi, delta=delta)


HAND_MADE = [
    c("WIN"),
    c("RUNNER", strike="225", delta=0.66, oi=3000, bid="4.95", ask="5.05"),  # spread 2%
    # every bound at its edge: 45 days, Δ 0.50, OI 101, spread 0.50 / 10.00 = 5%
    c("EDGE_DAYS", expiry=date(2024, 10, 18), delta=0.50, oi=101, bid="9.75", ask="10.25"),
    c("NEAR", expiry=date(2024, 9, 20)),  # 17 days
    c("FAR", expiry=date(2024, 11, 15)),  # 73 days
    c("JUST_SHORT", expiry=date(2024, 10, 2)),  # 29 days
    c("LOW_DELTA", delta=0.40),
    c("HIGH_DELTA", delta=0.80),
    c("THIN", oi=100),  # the rule is strictly above 100
    c("NO_OI", oi=None),
    c("WIDE", bid="5.00", ask="5.60"),  # 0.60 / 5.30 = 11.3%
    c("NO_BID", bid=None),
    c("PUT", kind="put", delta=-0.60),  # the right shape, the wrong kind for a BUY
]


def chain(contracts: list[OptionContract], synthetic: bool = False) -> OptionChain:
    return OptionChain(underlying="AAPL", underlying_price=Decimal("231.20"), as_of=AS_OF, source="hand-made",
                       synthetic=synthetic, contracts=contracts)


def test_each_filter_excludes_the_contract_it_should() -> None:
    picked = select(chain(HAND_MADE), "BUY", AS_OF)
    assert picked.contract is not None and picked.contract.symbol == "WIN"
    assert picked.rejected == {"NEAR": "expiry", "FAR": "expiry", "JUST_SHORT": "expiry", "LOW_DELTA": "delta",
                               "HIGH_DELTA": "delta", "THIN": "open_interest", "NO_OI": "open_interest",
                               "WIDE": "spread", "NO_BID": "spread"}
    assert picked.candidates == 3 and picked.days == 38 and picked.reason is None and picked.skipped == []
    # Score by hand: delta fit 1 (0.60 is the band's centre); spread 0.10 / 5.50 = 1.818% → 1 − 1.818/5 = 0.6364;
    # liquidity log10(5000) / 4 = 0.9247 → 0.5·1 + 0.3·0.6364 + 0.2·0.9247 = 0.8759
    assert picked.score == pytest.approx(0.8759, abs=1e-4)


def test_the_score_orders_the_passing_contracts() -> None:
    without_win = [x for x in HAND_MADE if x.symbol != "WIN"]
    # RUNNER: delta fit 1 − 0.06/0.10 = 0.4; spread 2% → 0.6; log10(3000)/4 = 0.8693 → 0.2 + 0.18 + 0.1739 = 0.5539
    # EDGE_DAYS: delta fit 0; spread 5% → 0; log10(101)/4 = 0.5011 → 0 + 0 + 0.2·0.5011 = 0.1002
    picked = select(chain(without_win), "BUY", AS_OF)
    assert picked.contract is not None and picked.contract.symbol == "RUNNER"
    assert picked.score == pytest.approx(0.5539, abs=1e-4)
    only_edge = select(chain([x for x in without_win if x.symbol != "RUNNER"]), "BUY", AS_OF)
    assert only_edge.contract is not None and only_edge.contract.symbol == "EDGE_DAYS"
    assert only_edge.days == 45 and only_edge.score == pytest.approx(0.1002, abs=1e-4)


def test_a_sell_tip_gets_a_put_by_absolute_delta() -> None:
    puts = [c("P60", kind="put", delta=-0.60), c("P30", kind="put", delta=-0.30), c("C60", delta=0.60)]
    picked = select(chain(puts), "SELL", AS_OF)
    assert picked.contract is not None and picked.contract.symbol == "P60"
    assert picked.rejected == {"P30": "delta"}


def test_none_fitting_is_one_line_naming_the_filter() -> None:
    cases = [
        (["NEAR", "FAR"], "No AAPL call fits: of 2 calls, none of them expire in 30-45 days."),
        (["NEAR", "LOW_DELTA", "HIGH_DELTA"],
         "No AAPL call fits: of 3 calls, 2 expire in 30-45 days, none of them have delta 0.50-0.70."),
        (["THIN", "NO_OI", "NEAR"], "No AAPL call fits: of 3 calls, 2 expire in 30-45 days, 2 have delta "
                                    "0.50-0.70, none of them have open interest above 100."),
        (["WIDE", "NO_BID"], "No AAPL call fits: of 2 calls, 2 expire in 30-45 days, 2 have delta 0.50-0.70, "
                             "2 have open interest above 100, none of them have a spread of at most 5%."),
    ]
    by_name = {x.symbol: x for x in HAND_MADE}
    for names, reason in cases:
        picked = select(chain([by_name[n] for n in names]), "BUY", AS_OF)
        assert picked.contract is None and picked.reason == reason
        assert "\n" not in reason
    assert select(chain([by_name["PUT"]]), "BUY", AS_OF).reason == "No AAPL calls in the chain (hand-made)."


def test_rules_are_parameters() -> None:
    loose = SelectionRules(min_days=10, max_days=80, min_delta=0.3, max_delta=0.9, min_open_interest=0,
                           max_spread_pct=15)
    picked = select(chain(HAND_MADE), "BUY", AS_OF, loose)
    assert picked.rejected == {"NO_OI": "open_interest", "NO_BID": "spread"}
    # WIN, NEAR, FAR and JUST_SHORT score the same; the tie goes to the expiry nearest the window's middle (45
    # days): WIN at 38 days before JUST_SHORT (29), NEAR (17) and FAR (73).
    assert picked.contract is not None and picked.contract.symbol == "WIN"
    with pytest.raises(ValueError, match="min_days"):
        SelectionRules(min_days=50, max_days=40)
    with pytest.raises(ValueError, match="min_delta"):
        SelectionRules(min_delta=0.8, max_delta=0.6)


def test_a_synthetic_chain_skips_the_quote_filters_and_says_so() -> None:
    synthetic = [c("S1", oi=None, bid=None, ask=None, delta=0.58), c("S2", oi=None, bid=None, ask=None, delta=0.75)]
    picked = select(chain(synthetic, synthetic=True), "BUY", AS_OF)
    assert picked.contract is not None and picked.contract.symbol == "S1"
    assert picked.synthetic and picked.skipped == ["open interest and spread (a synthetic chain has no quotes)"]
    assert picked.rejected == {"S2": "delta"}
    assert picked.score == pytest.approx(0.8)  # delta fit alone: 1 − 0.02/0.10


def test_contract_line_for_a_real_and_a_missing_contract() -> None:
    picked = select(chain(HAND_MADE), "BUY", AS_OF)
    assert contract_line(picked) == ("Option: AAPL 230 call, expires 2024-10-11 (38 days) · delta 0.60 · "
                                     "bid $5.45 / ask $5.55 · OI 5,000")
    none = Selection(underlying="AAPL", side="BUY", reason="No AAPL call fits: of 2 calls, none of them expire.")
    assert contract_line(none) == "Option: No AAPL call fits: of 2 calls, none of them expire."


# ---- the synthetic chain ----------------------------------------------------------------------------------


def bundled(name: str, last: str | None = None, symbol: str | None = None) -> Candles:
    """The bundled daily candles read straight from the CSV (not through the replay), up to `last`."""
    rows = [line.split(",") for line in gzip.open(DATA / f"{name}-1d.csv.gz", "rt").read().splitlines()[1:]]
    if last is not None:
        rows = [r for r in rows if r[0][:10] <= last]
    stamps = np.array([int(datetime.fromisoformat(r[0].replace("Z", "+00:00")).timestamp()) for r in rows])
    cols = np.array([[float(x) for x in r[1:6]] for r in rows])
    return Candles(symbol=symbol or name, timeframe="1d", timestamps=stamps, open=cols[:, 0], high=cols[:, 1],
                   low=cols[:, 2], close=cols[:, 3], volume=cols[:, 4], source="bundled", demo=True)


def test_expiries_are_fridays_in_range_and_thursday_before_good_friday() -> None:
    # 2024-02-20 + 30 = 2024-03-21, + 45 = 2024-04-05; Fridays 03-22, 03-29 (Good Friday: NYSE closed, so the
    # Thursday 03-28) and 04-05.
    assert expiries(date(2024, 2, 20), 30, 45) == [date(2024, 3, 22), date(2024, 3, 28), date(2024, 4, 5)]
    # 2024-03-01 + 30 = 03-31, + 45 = 04-15: Fridays 04-05 and 04-12
    assert expiries(date(2024, 3, 1), 30, 45) == [date(2024, 4, 5), date(2024, 4, 12)]
    assert expiries(date(2024, 3, 1), 31, 33) == []  # 04-01 .. 04-03: no Friday


def test_strike_grid() -> None:
    assert strikes(Decimal("178.46"))[:3] == [Decimal(125), Decimal(130), Decimal(135)]  # $5 from 124.92 up
    assert strikes(Decimal("178.46"))[-1] == Decimal(230)  # ≤ 232.00
    assert strikes(Decimal("20"))[0] == Decimal(14) and strikes(Decimal("20"))[-1] == Decimal(26)  # $1 steps
    assert strikes(Decimal("50"))[:2] == [Decimal("35.0"), Decimal("37.5")]  # $2.50 steps


def test_realised_volatility_by_a_plain_loop() -> None:
    candles = bundled("AAPL")
    closes, stamps = candles.close[-61:], candles.timestamps[-61:]
    rets = [math.log(closes[i] / closes[i - 1]) for i in range(1, 61)]
    mean = sum(rets) / 60
    sd = math.sqrt(sum((x - mean) ** 2 for x in rets) / 59)
    per_year = 60 / ((stamps[-1] - stamps[0]) / (365.25 * 86400))
    assert 230 < per_year < 275  # trading days a year, as the data itself has them
    assert realised_volatility(candles) == pytest.approx(sd * math.sqrt(per_year), rel=1e-12)
    with pytest.raises(OptionsUnavailable, match="Too few usable AAPL bars"):
        realised_volatility(bundled("AAPL", "2004-08-30"))


async def test_synthetic_chain_on_the_bundled_aapl_candles() -> None:
    candles = bundled("AAPL", "2017-06-30")
    as_of = datetime.fromtimestamp(int(candles.timestamps[-1]), tz=UTC)  # 2017-06-30, a Friday
    price = Decimal(repr(float(candles.close[-1]))).quantize(Decimal("0.01"))
    source = SyntheticChainSource(rate=0.01)
    calls = await source.chain("AAPL", "call", price=price, as_of=as_of, candles=candles, min_days=30, max_days=45)
    assert calls.synthetic and all(x.synthetic and x.kind == "call" for x in calls.contracts)
    # 2017-06-30 + 30 = 07-30, + 45 = 08-14: Fridays 08-04 and 08-11
    assert sorted({x.expiry for x in calls.contracts}) == [date(2017, 8, 4), date(2017, 8, 11)]
    assert all(x.expiry.weekday() == 4 for x in calls.contracts)
    assert all(x.bid is None and x.ask is None and x.open_interest is None for x in calls.contracts)
    vol = realised_volatility(candles)
    assert calls.volatility == vol and f"{vol:.0%} realised volatility" in calls.source
    one = next(x for x in calls.contracts if x.expiry == date(2017, 8, 4) and x.strike == 145)
    years = (datetime(2017, 8, 4, 20, 0, tzinfo=UTC) - as_of).total_seconds() / (365.25 * 86400)  # 16:00 EDT
    price_ref, delta_ref = scalar_bs("call", float(price), 145.0, years, 0.01, vol)
    assert one.theoretical == Decimal(f"{price_ref:.2f}") and one.delta == pytest.approx(delta_ref, abs=1e-12)
    assert one.symbol == "AAPL170804C00145000"

    picked = select(calls, "BUY", as_of)
    assert picked.contract is not None and picked.synthetic
    assert 0.50 <= picked.contract.delta <= 0.70  # type: ignore[operator]
    line = contract_line(picked)
    assert picked.contract.expiry.isoformat() in line and line.endswith("· SYNTHETIC")
    assert f"AAPL {picked.contract.strike:.0f} call" in line and f"delta {picked.contract.delta:.2f}" in line

    puts = synthetic_chain("AAPL", "put", price=price, as_of=as_of, candles=candles, min_days=30, max_days=45)
    put = select(puts, "SELL", as_of).contract
    assert put is not None and put.kind == "put" and -0.70 <= put.delta <= -0.50  # type: ignore[operator]


# ---- Alpaca options data ----------------------------------------------------------------------------------


@pytest.fixture
async def alpaca() -> AsyncIterator[FakeAlpacaOptions]:
    async with FakeAlpacaOptions() as fake:
        yield fake


def client(fake: FakeAlpacaOptions, key: str = "opt-key") -> AlpacaOptions:
    return AlpacaOptions(key, "opt-secret", data_url=fake.base_url, trading_url=fake.base_url, policy=FAST)


def tiny_candles() -> Candles:
    return bundled("AAPL", "2004-12-31")  # unused by Alpaca; the protocol passes candles to every source


GREEKS = {"delta": 0.6012, "gamma": 0.031, "theta": -0.0823, "vega": 0.1502, "rho": 0.0611}


def alpaca_chain() -> list[FakeContract]:
    e1, e2 = date(2024, 10, 11), date(2024, 10, 18)
    return [
        FakeContract("AAPL", "call", e1, Decimal(230), bid=5.45, ask=5.55, last=5.50, open_interest=5420,
                     greeks=GREEKS, iv=0.281),
        FakeContract("AAPL", "call", e1, Decimal("232.5"), bid=4.40, ask=4.50, open_interest=900,
                     greeks={**GREEKS, "delta": 0.52}, iv=0.279),
        FakeContract("AAPL", "call", e2, Decimal(240), bid=2.10, ask=2.20, open_interest=40, iv=0.27),  # no greeks
        FakeContract("AAPL", "call", date(2024, 9, 20), Decimal(230), bid=3.0, ask=3.1, open_interest=8000,
                     greeks=GREEKS),  # 17 days: outside the window, the server must not send it
        FakeContract("AAPL", "put", e1, Decimal(230), bid=4.0, ask=4.1, open_interest=3000,
                     greeks={**GREEKS, "delta": -0.40}),
        FakeContract("MSFT", "call", e1, Decimal(420), bid=9.0, ask=9.2, open_interest=100, greeks=GREEKS),
    ]


async def test_alpaca_chain_with_quotes_greeks_and_open_interest(alpaca: FakeAlpacaOptions) -> None:
    alpaca.contracts = alpaca_chain()
    alpaca.page_size = 1  # every page holds one contract: pagination on both endpoints
    source = client(alpaca)
    try:
        got = await source.chain("aapl", "call", price=Decimal("231.20"), as_of=AS_OF, candles=tiny_candles(),
                                 min_days=30, max_days=45)
    finally:
        await source.close()
    assert not got.synthetic and got.source == "Alpaca options (indicative feed)"
    assert [x.symbol for x in got.contracts] == ["AAPL241011C00230000", "AAPL241011C00232500",
                                                 "AAPL241018C00240000"]
    first = got.contracts[0]
    assert (first.bid, first.ask, first.last, first.open_interest) == (Decimal("5.45"), Decimal("5.55"),
                                                                       Decimal("5.5"), 5420)
    assert (first.delta, first.theta, first.implied_vol, first.synthetic) == (0.6012, -0.0823, 0.281, False)
    assert got.contracts[1].strike == Decimal("232.5") and got.contracts[1].expiry == date(2024, 10, 11)
    # No greeks in the snapshot: delta from its implied volatility by Black-Scholes (reference: the scalar formula)
    years = (datetime(2024, 10, 18, 20, 0, tzinfo=UTC) - AS_OF).total_seconds() / (365.25 * 86400)
    assert got.contracts[2].delta == pytest.approx(scalar_bs("call", 231.20, 240.0, years, 0.04, 0.27)[1], abs=1e-9)

    snaps = [q for path, q in alpaca.requests if path == "/v1beta1/options/snapshots/AAPL"]
    contracts = [q for path, q in alpaca.requests if path == "/v2/options/contracts"]
    assert len(snaps) == 3 and len(contracts) == 3  # three contracts in the window, one per page
    assert snaps[0] == {"feed": "indicative", "limit": "1000", "type": "call", "expiration_date_gte": "2024-10-03",
                        "expiration_date_lte": "2024-10-18"}
    assert contracts[0]["underlying_symbols"] == "AAPL" and contracts[0]["limit"] == "10000"
    assert all(h["APCA-API-KEY-ID"] == "opt-key" and h["APCA-API-SECRET-KEY"] == "opt-secret"
               for h in alpaca.seen_headers)

    # 230 C: Δ 0.6012, OI 5,420, spread 0.10/5.50 = 1.8%; 232.5 C: Δ 0.52, OI 900, spread 2.2% (passes, but its
    # delta fit is 0.2 against 0.988); 240 C: Δ from IV ≈ 0.35 (fails the delta band).
    picked = select(got, "BUY", AS_OF)
    assert picked.contract is not None and picked.contract.symbol == "AAPL241011C00230000"
    assert picked.rejected == {"AAPL241018C00240000": "delta"} and picked.candidates == 2
    assert contract_line(picked) == ("Option: AAPL 230 call, expires 2024-10-11 (38 days) · delta 0.60 · "
                                     "bid $5.45 / ask $5.55 · OI 5,420")


async def test_alpaca_refused_key_is_one_line(alpaca: FakeAlpacaOptions) -> None:
    alpaca.contracts = alpaca_chain()
    source = client(alpaca, key="wrong-key")
    try:
        with pytest.raises(OptionsUnavailable) as caught:
            await source.chain("AAPL", "call", price=Decimal(231), as_of=AS_OF, candles=tiny_candles(),
                               min_days=30, max_days=45)
    finally:
        await source.close()
    message = str(caught.value)
    assert message == ("Alpaca refused the API key for options data (HTTP 401); check brokers.alpaca.key/secret.")
    assert "wrong-key" not in message and "opt-secret" not in message


@pytest.mark.parametrize(("body", "reason"), [
    ("<html>502 Bad Gateway</html>", "the body is not JSON"),
    ({"snapshots": ["AAPL241011C00230000"]}, "snapshots is a JSON list"),
    ({"snapshots": {"NOT-AN-OCC": {}}}, "'NOT-AN-OCC' is not an OCC option symbol"),
    ({"snapshots": {"AAPL241011C00230000": {"latestQuote": {"bp": "5.45", "ap": 5.55}}}},
     "AAPL241011C00230000 bid is not a number"),
])
async def test_alpaca_malformed_body_is_one_line(alpaca: FakeAlpacaOptions, body: object, reason: str) -> None:
    alpaca.contracts = alpaca_chain()
    alpaca.fail_next("/v1beta1/options/snapshots", 200, body)  # type: ignore[arg-type]
    source = client(alpaca)
    try:
        with pytest.raises(OptionsUnavailable) as caught:
            await source.chain("AAPL", "call", price=Decimal(231), as_of=AS_OF, candles=tiny_candles(),
                               min_days=30, max_days=45)
    finally:
        await source.close()
    assert str(caught.value) == f"Alpaca sent a malformed option chain for AAPL ({reason}); try again later."


async def test_alpaca_malformed_open_interest_and_server_errors(alpaca: FakeAlpacaOptions) -> None:
    alpaca.contracts = alpaca_chain()
    source = client(alpaca)
    try:
        alpaca.fail_next("/v2/options/contracts", 200, {"option_contracts": [{"symbol": "AAPL241011C00230000",
                                                                              "open_interest": "lots"}]})
        with pytest.raises(OptionsUnavailable, match=r"malformed option chain for AAPL \(AAPL241011C00230000 open "
                                                     r"interest 'lots' is not a count\)"):
            await source.chain("AAPL", "call", price=Decimal(231), as_of=AS_OF, candles=tiny_candles(),
                               min_days=30, max_days=45)
        alpaca.fail_next("/v1beta1/options/snapshots", 500, {"message": "internal"}, times=2)
        with pytest.raises(OptionsUnavailable) as caught:
            await source.chain("AAPL", "call", price=Decimal(231), as_of=AS_OF, candles=tiny_candles(),
                               min_days=30, max_days=45)
        assert str(caught.value) == ("Alpaca options data unavailable: server error (HTTP 500) after 2 tries; "
                                     "try again later.")
        alpaca.fail_next("/v1beta1/options/snapshots", 500, {"message": "internal"}, times=1)  # one retry heals it
        got = await source.chain("AAPL", "call", price=Decimal(231), as_of=AS_OF, candles=tiny_candles(),
                                 min_days=30, max_days=45)
        assert len(got.contracts) == 3
    finally:
        await source.close()


async def test_alpaca_unknown_underlying_is_an_empty_chain_and_a_reason(alpaca: FakeAlpacaOptions) -> None:
    alpaca.contracts = alpaca_chain()
    source = client(alpaca)
    try:
        got = await source.chain("ZZZZ", "call", price=Decimal(10), as_of=AS_OF, candles=tiny_candles(),
                                 min_days=30, max_days=45)
        with pytest.raises(OptionsUnavailable, match="not a US stock or ETF symbol"):
            await source.chain("BTC/USDT", "call", price=Decimal(10), as_of=AS_OF, candles=tiny_candles(),
                               min_days=30, max_days=45)
    finally:
        await source.close()
    assert got.contracts == []
    assert select(got, "BUY", AS_OF).reason == "No ZZZZ calls in the chain (Alpaca options (indicative feed))."


# ---- the options strategy ---------------------------------------------------------------------------------


def test_options_params_take_fused_keys_and_its_own() -> None:
    checked = OPTIONS.check_params({"buy": "-0.9", "sell": "-0.95", "min_days": "20", "max_spread_pct": 8})
    assert (checked["buy"], checked["sell"], checked["tw"], checked["sw"]) == (-0.9, -0.95, 0.6, 0.4)
    assert (checked["min_days"], checked["max_days"], checked["min_delta"], checked["max_delta"]) == (20, 45, 0.5, 0.7)
    assert (checked["min_open_interest"], checked["max_spread_pct"], checked["rate"]) == (100, 8.0, 0.04)
    assert OPTIONS.rules(checked) == SelectionRules(min_days=20, max_spread_pct=8)
    refusals = [({"buy_threshold": 0.3}, "options has no parameter 'buy_threshold' (its parameters: buy, sell, tw"),
                ({"rsi_length": 10}, "options has no parameter 'rsi_length'"),
                ({"min_days": 50}, "min_days (50) must not exceed max_days (45)"),
                ({"min_delta": 0.8}, "min_delta (0.8) must not exceed max_delta (0.7)"),
                ({"min_days": 2.5}, "min_days must be a whole number"),
                ({"buy": 0.1, "sell": 0.2}, "buy (0.1) must be greater than sell (0.2)")]
    for params, message in refusals:
        with pytest.raises(ValueError) as caught:
            OPTIONS.check_params(params)
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert registry.get("options") is OPTIONS and OPTIONS.extends == "fused"


def test_options_decisions_are_the_fused_strategy_s() -> None:
    candles = bundled("AAPL", "2017-06-30")
    sentiment = np.zeros(len(candles))
    mine = OPTIONS.decide(candles, sentiment, {"buy": -0.9, "sell": -0.95, "max_days": 60})
    theirs = fused.STRATEGY.decide(candles, sentiment, {"buy": -0.9, "sell": -0.95})
    np.testing.assert_array_equal(mine.side, theirs.side)
    np.testing.assert_array_equal(mine.score, theirs.score)
    np.testing.assert_array_equal(mine.stop_loss, theirs.stop_loss)
    assert mine.first == theirs.first
    assert mine.side[-1] == BUY  # fused ≥ −0.9 on the last bar: the issue's `/signal AAPL 1d strategy=options …`


async def test_signal_aapl_strategy_options_shows_a_synthetic_contract_line() -> None:
    """Engine side of `/signal AAPL 1d strategy=options buy=-0.9 sell=-0.95` on the bundled (DEMO) data."""
    candles = bundled("AAPL")
    params = {"buy": -0.9, "sell": -0.95}
    side = OPTIONS.decide(candles, np.zeros(len(candles)), params).side[-1]
    bar_time = datetime.fromtimestamp(int(candles.timestamps[-1]), tz=UTC)  # 2018-01-19
    picked = await OPTIONS.select_contract(side, Decimal("178.46"), bar_time, candles, None, params)
    assert side == BUY and picked.contract is not None and picked.contract.kind == "call" and picked.synthetic
    # 2018-01-19 + 30 = 02-18, + 45 = 03-05: Fridays 02-23 and 03-02
    assert picked.contract.expiry in (date(2018, 2, 23), date(2018, 3, 2))
    line = contract_line(picked)
    assert line.startswith(f"Option: AAPL {picked.contract.strike:.0f} call, expires {picked.contract.expiry}")
    assert f"delta {picked.contract.delta:.2f}" in line and line.endswith("SYNTHETIC")
    assert 0.5 <= picked.contract.delta <= 0.7  # type: ignore[operator]


async def test_select_contract_refusals_are_one_line() -> None:
    btc = bundled("BTC_USDT", symbol="BTC/USDT")
    when = datetime(2024, 9, 5, tzinfo=UTC)
    crypto = await OPTIONS.select_contract("BUY", 56000, when, btc)
    assert crypto.contract is None and crypto.reason == (
        "BTC/USDT is crypto: listed options exist for US stocks and ETFs only, so no contract is suggested.")
    aapl = bundled("AAPL")
    hold = await OPTIONS.select_contract(HOLD, Decimal("178.46"), AS_OF, aapl)
    assert hold.reason == "No option on a HOLD tip: a call follows a BUY, a put a SELL."
    put = await OPTIONS.select_contract(SELL, Decimal("178.46"), datetime(2018, 1, 19, tzinfo=UTC), aapl)
    assert put.contract is not None and put.contract.kind == "put" and put.side == "SELL"
    with pytest.raises(ValueError, match="side must be BUY, SELL or HOLD"):
        await OPTIONS.select_contract("LONG", Decimal(1), AS_OF, aapl)


async def test_select_contract_from_alpaca_and_its_failures(alpaca: FakeAlpacaOptions) -> None:
    alpaca.contracts = alpaca_chain()
    aapl = bundled("AAPL")
    good, bad = client(alpaca), client(alpaca, key="nope")
    try:
        picked = await OPTIONS.select_contract("BUY", Decimal("231.20"), AS_OF, aapl, good)
        refused = await OPTIONS.select_contract("BUY", Decimal("231.20"), AS_OF, aapl, bad)
        strict = await OPTIONS.select_contract("BUY", Decimal("231.20"), AS_OF, aapl, good,
                                               {"min_open_interest": 6000})
    finally:
        await good.close()
        await bad.close()
    assert picked.contract is not None and picked.contract.symbol == "AAPL241011C00230000" and not picked.synthetic
    assert refused.contract is None and refused.reason == (
        "Alpaca refused the API key for options data (HTTP 401); check brokers.alpaca.key/secret.")
    assert strict.reason == ("No AAPL call fits: of 3 calls, 3 expire in 30-45 days, 2 have delta 0.50-0.70, "
                             "none of them have open interest above 6,000.")
