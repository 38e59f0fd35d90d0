"""Black-Scholes-Merton prices and Greeks of European calls and puts, vectorised over strikes (or any input).

Conventions are Hull's (Options, Futures, and Other Derivatives, ch. 15 and 19) so the published examples check
them directly: `years` is time to expiry in years, `rate` the continuously compounded risk-free rate, `vol` the
annual volatility, `dividend` a continuous dividend yield. Theta is per year, vega per unit of volatility (1.00 =
100 points) and rho per unit of rate; `per_day_theta`, `per_point` turn them into the units option screens and
Alpaca show (theta per calendar day, vega and rho per 1 point = 0.01).

US equity options are American; for a call on a stock without dividends early exercise is never optimal, so the
European price is exact, and for puts it is a close lower bound for the 30-45 day, near-the-money contracts the
options strategy looks at. The synthetic chain is labelled SYNTHETIC for that reason among others.

The normal CDF uses math.erf (exact to double precision; scipy is not a dependency), applied element-wise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

Kind = Literal["call", "put"]

_erf = np.frompyfunc(math.erf, 1, 1)
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def norm_cdf(x: ArrayLike) -> np.ndarray:
    """Standard normal cumulative distribution, element-wise."""
    values = np.asarray(x, dtype=float)
    return 0.5 * (1.0 + np.asarray(_erf(values / _SQRT2), dtype=float))  # a 0-d input gives a bare float


def norm_pdf(x: ArrayLike) -> np.ndarray:
    values = np.asarray(x, dtype=float)
    return np.exp(-0.5 * values * values) / _SQRT2PI


@dataclass(frozen=True)
class Greeks:
    """Price and sensitivities, arrays broadcast from the inputs (Hull's units: see the module docstring)."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray  # per year
    vega: np.ndarray  # per 1.00 of volatility
    rho: np.ndarray  # per 1.00 of rate
    d1: np.ndarray
    d2: np.ndarray


def d1_d2(spot: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike, vol: ArrayLike,
          dividend: ArrayLike = 0.0) -> tuple[np.ndarray, np.ndarray]:
    s, k, t, r, v, q = _checked(spot, strike, years, rate, vol, dividend)
    root = v * np.sqrt(t)
    d1 = (np.log(s / k) + (r - q + 0.5 * v * v) * t) / root
    return d1, d1 - root


def black_scholes(kind: Kind, spot: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike,
                  vol: ArrayLike, dividend: ArrayLike = 0.0) -> Greeks:
    """Price, delta, gamma, theta, vega and rho of a European `kind` option (Hull eq. 15.20-15.21, ch. 19)."""
    if kind not in ("call", "put"):
        raise ValueError(f"option kind must be 'call' or 'put', not {kind!r}")
    s, k, t, r, v, q = _checked(spot, strike, years, rate, vol, dividend)
    d1, d2 = d1_d2(s, k, t, r, v, q)
    grow, discount, sqrt_t = np.exp(-q * t), np.exp(-r * t), np.sqrt(t)
    pdf1 = norm_pdf(d1)
    # Gamma and vega are the same for a call and a put of the same strike and expiry.
    gamma = grow * pdf1 / (s * v * sqrt_t)
    vega = s * grow * pdf1 * sqrt_t
    decay = -s * grow * pdf1 * v / (2.0 * sqrt_t)
    if kind == "call":
        n1, n2 = norm_cdf(d1), norm_cdf(d2)
        price = s * grow * n1 - k * discount * n2
        delta = grow * n1
        theta = decay + q * s * grow * n1 - r * k * discount * n2
        rho = k * t * discount * n2
    else:
        m1, m2 = norm_cdf(-d1), norm_cdf(-d2)
        price = k * discount * m2 - s * grow * m1
        delta = grow * (norm_cdf(d1) - 1.0)
        theta = decay - q * s * grow * m1 + r * k * discount * m2
        rho = -k * t * discount * m2
    return Greeks(price=price, delta=delta, gamma=gamma, theta=theta, vega=vega, rho=rho, d1=d1, d2=d2)


def per_day_theta(theta_per_year: ArrayLike) -> np.ndarray:
    """Theta per calendar day, as option screens quote it (Hull Example 19.2: −4.31 / 365 = −0.0118)."""
    return np.asarray(theta_per_year, dtype=float) / 365.0


def per_point(per_unit: ArrayLike) -> np.ndarray:
    """Vega or rho per one percentage point of volatility or rate (Hull: vega 12.1 → 0.121 per 1%)."""
    return np.asarray(per_unit, dtype=float) / 100.0


def _checked(spot: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike, vol: ArrayLike,
             dividend: ArrayLike) -> tuple[np.ndarray, ...]:
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (spot, strike, years, rate, vol, dividend)))
    s, k, t, r, v, q = arrays
    for name, values in (("spot", s), ("strike", k), ("time to expiry", t), ("volatility", v)):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"Black-Scholes needs a positive {name}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise ValueError("Black-Scholes needs a finite rate and dividend yield")
    return s, k, t, r, v, q


__all__ = ["Greeks", "Kind", "black_scholes", "d1_d2", "norm_cdf", "norm_pdf", "per_day_theta", "per_point"]
