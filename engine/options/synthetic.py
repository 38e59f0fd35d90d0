"""A synthetic option chain for when no options data is configured (offline, the replay): Black-Scholes prices
around the underlying's price, at the volatility its own candles show.

Nothing here is a market quote, so every contract is `synthetic=True` and every view labels it SYNTHETIC:

* volatility: the realised volatility of the last `window` close-to-close log returns, annualised by how many
  bars the data actually holds per calendar year (so 1d stock bars count ~252 a year, 1h bars ~7 a session,
  with weekends and holidays skipped as the data skips them); floored at 5 % so a flat series still prices;
* expiries: every Friday `min_days`-`max_days` calendar days after the tip's date (chain.tip_date) — or the Thursday
  before when that Friday is an exchange holiday (Good Friday), as listed options then expire;
* strikes: the listed-strike grid for the price ($0.50 under $5, $1 under $25, $2.50 under $100, $5 under
  $500, else $10) within ±30 % of the price;
* no bid, ask or open interest (none exists): the chain filters skip those rules for a synthetic chain.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from engine.market import sessions
from engine.models import Candles
from engine.options.black_scholes import Kind, black_scholes, per_day_theta, per_point
from engine.options.chain import OptionChain, OptionContract, OptionsUnavailable, tip_date

MIN_VOLATILITY = 0.05
STRIKE_RANGE = 0.30
DEFAULT_RATE = 0.04  # roughly the 1-3 month US T-bill yield of 2024-2025; `rate` changes it
DEFAULT_WINDOW = 60
_CENT = Decimal("0.01")
_YEAR_SECONDS = 365.25 * 86400


def realised_volatility(candles: Candles, window: int = DEFAULT_WINDOW) -> float:
    """Annualised standard deviation of the last `window` log returns of the closes (see the module docstring)."""
    closes = np.asarray(candles.close, dtype=float)[-(window + 1):]
    stamps = np.asarray(candles.timestamps, dtype=np.int64)[-(window + 1):]
    if len(closes) < 11 or not np.all(np.isfinite(closes) & (closes > 0)):
        raise OptionsUnavailable(f"Too few usable {candles.symbol} bars ({len(closes)}) to estimate its volatility "
                                 "for a synthetic option chain; at least 11 are needed.")
    returns = np.diff(np.log(closes))
    elapsed_years = (int(stamps[-1]) - int(stamps[0])) / _YEAR_SECONDS
    if elapsed_years <= 0:
        raise OptionsUnavailable(f"The {candles.symbol} bars span no time; cannot estimate its volatility.")
    per_year = len(returns) / elapsed_years
    return max(MIN_VOLATILITY, float(np.std(returns, ddof=1)) * math.sqrt(per_year))


def expiries(today: date, min_days: int, max_days: int) -> list[date]:
    """The weekly expiries `min_days`-`max_days` days after `today`: Fridays, or the trading day before a
    Friday holiday (see the module docstring)."""
    found: list[date] = []
    day = today + timedelta(days=min_days)
    day += timedelta(days=(4 - day.weekday()) % 7)  # the first Friday on or after it
    while (day - today).days <= max_days:
        expiry = day
        while not sessions.is_trading_day(expiry):
            expiry -= timedelta(days=1)
        if (expiry - today).days >= min_days:
            found.append(expiry)
        day += timedelta(days=7)
    return found


def strike_step(price: float) -> Decimal:
    for limit, step in ((5, "0.5"), (25, "1"), (100, "2.5"), (500, "5")):
        if price < limit:
            return Decimal(step)
    return Decimal(10)


def strikes(price: Decimal) -> list[Decimal]:
    """The grid's strikes within ±30 % of `price`, lowest first."""
    step = strike_step(float(price))
    low = math.ceil(float(price) * (1 - STRIKE_RANGE) / float(step))
    high = math.floor(float(price) * (1 + STRIKE_RANGE) / float(step))
    return [step * n for n in range(max(1, low), high + 1)]


def occ_symbol(underlying: str, expiry: date, kind: Kind, strike: Decimal) -> str:
    """The OCC option symbol: root, YYMMDD, C/P, strike × 1000 in eight digits (AAPL241018C00230000)."""
    root = "".join(ch for ch in underlying if ch.isalnum())[:6]
    return f"{root}{expiry:%y%m%d}{'C' if kind == 'call' else 'P'}{int(strike * 1000):08d}"


def synthetic_chain(underlying: str, kind: Kind, *, price: Decimal, as_of: datetime, candles: Candles,
                    min_days: int, max_days: int, rate: float = DEFAULT_RATE,
                    window: int = DEFAULT_WINDOW) -> OptionChain:
    """`kind` contracts on every expiry and strike of the grid, priced by Black-Scholes (European, no
    dividends) at the candles' realised volatility and `rate`; time to expiry runs to 16:00 New York."""
    if price <= 0:
        raise OptionsUnavailable(f"{underlying} has no positive price to build an option chain around.")
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    vol = realised_volatility(candles, window)
    grid = strikes(price)
    contracts: list[OptionContract] = []
    for expiry in expiries(tip_date(as_of), min_days, max_days):
        years = (sessions.session_close(expiry) - as_of).total_seconds() / _YEAR_SECONDS
        if years <= 0:
            continue
        g = black_scholes(kind, float(price), np.array([float(k) for k in grid]), years, rate, vol)
        theta, vega, rho = per_day_theta(g.theta), per_point(g.vega), per_point(g.rho)
        for i, strike in enumerate(grid):
            contracts.append(OptionContract(
                symbol=occ_symbol(underlying, expiry, kind, strike), underlying=underlying, kind=kind,
                expiry=expiry, strike=strike, synthetic=True, implied_vol=vol,
                theoretical=Decimal(repr(float(g.price[i]))).quantize(_CENT, ROUND_HALF_EVEN),
                delta=float(g.delta[i]), gamma=float(g.gamma[i]), theta=float(theta[i]), vega=float(vega[i]),
                rho=float(rho[i])))
    source = (f"synthetic: Black-Scholes at {vol:.0%} realised volatility ({min(window, len(candles) - 1)} bars), "
              f"rate {rate:.1%}")
    return OptionChain(underlying=underlying, underlying_price=price, as_of=as_of, source=source, synthetic=True,
                       contracts=contracts, volatility=vol, rate=rate)


class SyntheticChainSource:
    """`ChainSource` of synthetic chains (no network; a few dozen contracts, priced in one vectorised call each)."""

    name = "synthetic"

    def __init__(self, rate: float = DEFAULT_RATE, window: int = DEFAULT_WINDOW) -> None:
        if not -0.05 <= rate <= 0.5:
            raise ValueError(f"rate {rate:g} is not a plausible risk-free rate (-0.05 to 0.5)")
        self.rate = rate
        self.window = window

    async def chain(self, underlying: str, kind: Kind, *, price: Decimal, as_of: datetime, candles: Candles,
                    min_days: int, max_days: int) -> OptionChain:
        return synthetic_chain(underlying, kind, price=price, as_of=as_of, candles=candles, min_days=min_days,
                               max_days=max_days, rate=self.rate, window=self.window)


__all__ = ["DEFAULT_RATE", "SyntheticChainSource", "expiries", "occ_symbol", "realised_volatility", "strike_step",
           "strikes", "synthetic_chain"]
