"""An option chain, the rule that picks one contract from it for a stock tip, and the line a card shows.

The rule is seed 002 phase 4's: for a BUY tip a call, for a SELL tip a put, that

1. expires 30-45 calendar days after the tip's bar date (`tip_date`),
2. has |delta| 0.50-0.70 (near the money, slightly in it),
3. has open interest above 100 (strictly: the seed says "> 100"),
4. has a tight spread: (ask − bid) / mid at most 5 %. The seed's example passes at 1.8 % but names no limit;
   5 % is the common retail rule of thumb for a liquid near-the-money contract, and a parameter.

Among the contracts that pass, the best has the highest score, a weighted mean of the terms that are known:

* delta fit (weight 0.5): 1 at the centre of the delta band, 0 at its edges;
* spread fit (weight 0.3): 1 − spread / max spread;
* liquidity (weight 0.2): log10(open interest) / 4, capped at 1 (10,000 contracts → 1).

Ties go to the expiry nearest the middle of the window, then the lower strike. A synthetic chain (engine/options/
synthetic.py) has no quotes and no open interest: filters 3 and 4 cannot apply to it and are skipped, the
selection says so (`skipped`), and its score is the delta fit alone. When no contract passes, `reason` is one
line naming the filter that left none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.models import Candles
from engine.options.black_scholes import Kind

Side = Literal["BUY", "SELL"]
_WEIGHTS = {"delta": 0.5, "spread": 0.3, "liquidity": 0.2}


class OptionsUnavailable(Exception):
    """The chain could not be had (refused keys, a failed or malformed answer); `str(exc)` is one line."""


class OptionContract(BaseModel):
    """One listed (or synthetic) contract. Prices are Decimal dollars per share; Greeks are floats in screen
    units: theta per calendar day, vega and rho per 1 point of volatility / rate."""

    model_config = ConfigDict(frozen=True)

    symbol: str  # OCC symbol, e.g. AAPL241018C00230000
    underlying: str
    kind: Kind
    expiry: date
    strike: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    theoretical: Decimal | None = None  # the model price (a synthetic contract's only price)
    open_interest: int | None = None
    implied_vol: float | None = None
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    rho: float | None = None
    synthetic: bool = False

    @property
    def mid(self) -> Decimal | None:
        """The middle of a two-sided quote; None without one (no bid, no ask, or a crossed quote)."""
        if self.bid is None or self.ask is None or self.bid <= 0 or self.ask < self.bid:
            return None
        return (self.bid + self.ask) / 2

    @property
    def price(self) -> Decimal | None:
        """What the contract costs as far as is known: the quote's mid, else the last trade, else the model."""
        return self.mid if self.mid is not None else self.last if self.last is not None else self.theoretical

    @property
    def spread_pct(self) -> float | None:
        mid = self.mid
        if mid is None or self.ask is None or self.bid is None:
            return None
        return float((self.ask - self.bid) / mid * 100)


class OptionChain(BaseModel):
    """The contracts of one underlying, as one source saw them at `as_of`."""

    model_config = ConfigDict(frozen=True)

    underlying: str
    underlying_price: Decimal
    as_of: datetime
    source: str  # as shown to a user: "Alpaca options (indicative feed)", "synthetic: Black-Scholes …"
    synthetic: bool = False
    contracts: list[OptionContract] = Field(default_factory=list)
    volatility: float | None = None  # the volatility a synthetic chain was priced with
    rate: float | None = None  # and its risk-free rate


class SelectionRules(BaseModel):
    """The filters of seed 002 phase 4 (see the module docstring); the options strategy's own parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_days: int = Field(default=30, ge=1, le=730)
    max_days: int = Field(default=45, ge=1, le=730)
    min_delta: float = Field(default=0.50, gt=0, lt=1)
    max_delta: float = Field(default=0.70, gt=0, lt=1)
    min_open_interest: int = Field(default=100, ge=0)
    max_spread_pct: float = Field(default=5.0, gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> SelectionRules:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days ({self.min_days}) must not exceed max_days ({self.max_days})")
        if self.min_delta > self.max_delta:
            raise ValueError(f"min_delta ({self.min_delta:g}) must not exceed max_delta ({self.max_delta:g})")
        return self


class Selection(BaseModel):
    """The contract picked for a tip, or the one-line reason there is none. `rejected` maps every contract of
    the asked kind that failed to the filter that excluded it first (expiry, delta, open_interest, spread)."""

    model_config = ConfigDict(frozen=True)

    underlying: str
    side: Side | None = None
    contract: OptionContract | None = None
    reason: str | None = None
    score: float | None = None
    days: int | None = None  # calendar days from the tip's date to expiry
    candidates: int = 0  # contracts that passed every filter
    synthetic: bool = False
    source: str = ""
    skipped: list[str] = Field(default_factory=list)  # filters that could not apply, with why
    rejected: dict[str, str] = Field(default_factory=dict)


class ChainSource(Protocol):
    """Where a chain comes from: Alpaca's options data (alpaca_options.py) or a synthetic one (synthetic.py)."""

    name: str

    async def chain(self, underlying: str, kind: Kind, *, price: Decimal, as_of: datetime, candles: Candles,
                    min_days: int, max_days: int) -> OptionChain:
        """The `kind` contracts expiring `min_days`-`max_days` after `as_of`; OptionsUnavailable if it fails."""
        ...


def kind_for(side: Side) -> Kind:
    """A bullish tip buys a call, a bearish one a put."""
    return "call" if side == "BUY" else "put"


def tip_date(as_of: datetime) -> date:
    """The calendar date days to expiry are counted from: the tip's bar time's UTC date. During the US session
    (13:30-21:00 UTC) that is New York's date too, and daily stock bars are stamped 00:00 UTC of their session's
    date (the bundled files; Alpaca stamps 04:00/05:00 UTC), where New York's date would be the day before."""
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    return as_of.astimezone(UTC).date()


def select(chain: OptionChain, side: Side, as_of: datetime, rules: SelectionRules | None = None) -> Selection:
    """The best contract of `chain` for a `side` tip given at `as_of` under `rules` (see the module docstring)."""
    rules = rules or SelectionRules()
    kind = kind_for(side)
    today = tip_date(as_of)
    base = {"underlying": chain.underlying, "side": side, "synthetic": chain.synthetic, "source": chain.source}
    skipped = ["open interest and spread (a synthetic chain has no quotes)"] if chain.synthetic else []
    pool = [c for c in chain.contracts if c.kind == kind]
    if not pool:
        return Selection(**base, skipped=skipped, reason=f"No {chain.underlying} {kind}s in the chain "
                                                          f"({chain.source}).")
    rejected: dict[str, str] = {}
    stages: list[tuple[str, str, int]] = [("", f"{len(pool)} {kind}s", len(pool))]
    checks = _checks(rules, today, chain.synthetic)
    for name, (passes, wording) in checks.items():
        kept = []
        for contract in pool:
            if passes(contract):
                kept.append(contract)
            else:
                rejected[contract.symbol] = name
        pool = kept
        stages.append((name, wording, len(pool)))
        if not pool:
            return Selection(**base, skipped=skipped, rejected=rejected, reason=_funnel(chain, kind, stages))
    scored = sorted(((_score(c, rules), c) for c in pool), key=lambda sc: _order(sc, rules, today))
    score, best = scored[0]
    return Selection(**base, contract=best, score=round(score, 4), days=(best.expiry - today).days,
                     candidates=len(pool), skipped=skipped, rejected=rejected)


Check = tuple[Callable[[OptionContract], bool], str]


def _checks(rules: SelectionRules, today: date, synthetic: bool) -> dict[str, Check]:
    """Each filter in order: a test and how the reason line words what passing it means."""
    checks: dict[str, Check] = {
        "expiry": (lambda c: rules.min_days <= (c.expiry - today).days <= rules.max_days,
                   f"expire in {rules.min_days}-{rules.max_days} days"),
        "delta": (lambda c: c.delta is not None and rules.min_delta <= abs(c.delta) <= rules.max_delta,
                  f"have delta {rules.min_delta:.2f}-{rules.max_delta:.2f}"),
    }
    if not synthetic:
        checks["open_interest"] = (lambda c: c.open_interest is not None and c.open_interest > rules.min_open_interest,
                                   f"have open interest above {rules.min_open_interest:,}")
        checks["spread"] = (lambda c: c.spread_pct is not None and c.spread_pct <= rules.max_spread_pct,
                            f"have a spread of at most {rules.max_spread_pct:g}%")
    return checks


def _funnel(chain: OptionChain, kind: str, stages: Sequence[tuple[str, str, int]]) -> str:
    """E.g. 'No AAPL call fits: of 40 calls, 12 expire in 30-45 days, none of them have delta 0.50-0.70.'"""
    parts = [f"of {stages[0][1]}"]
    for _, wording, count in stages[1:]:
        parts.append(f"{count} {wording}" if count else f"none of them {wording}")
    return f"No {chain.underlying} {kind} fits: {', '.join(parts)}."


def _score(contract: OptionContract, rules: SelectionRules) -> float:
    terms: dict[str, float] = {}
    if contract.delta is not None:
        centre = (rules.min_delta + rules.max_delta) / 2
        half = (rules.max_delta - rules.min_delta) / 2
        terms["delta"] = 1.0 if half == 0 else max(0.0, 1 - abs(abs(contract.delta) - centre) / half)
    spread = contract.spread_pct
    if spread is not None:
        terms["spread"] = max(0.0, 1 - spread / rules.max_spread_pct)
    if contract.open_interest is not None and contract.open_interest > 0:
        terms["liquidity"] = min(1.0, math.log10(contract.open_interest) / 4)
    if not terms:
        return 0.0
    weight = sum(_WEIGHTS[name] for name in terms)
    return sum(_WEIGHTS[name] * value for name, value in terms.items()) / weight


def _order(scored: tuple[float, OptionContract], rules: SelectionRules, today: date) -> tuple[float, float, Decimal]:
    score, contract = scored
    middle = (rules.min_days + rules.max_days) / 2
    return -score, abs((contract.expiry - today).days - middle), contract.strike


def strike_text(strike: Decimal) -> str:
    """230 → "230", 232.5 → "232.50": strikes are whole dollars mostly, cents when they are not."""
    return f"{strike:,.0f}" if strike == strike.to_integral_value() else f"{strike:,.2f}"


def contract_line(selection: Selection) -> str:
    """The tip card's one line: the contract with its expiry, strike, delta and price, SYNTHETIC when it is, or
    the reason there is none. E.g. "Option: AAPL 230 call, expires 2024-10-18 (38 days) · delta 0.58 ·
    $5.51 (model) · SYNTHETIC"."""
    contract = selection.contract
    if contract is None:
        label = " · SYNTHETIC" if selection.synthetic else ""
        return f"Option: {selection.reason or 'none'}{label}"
    parts = [f"Option: {contract.underlying} {strike_text(contract.strike)} {contract.kind}, expires "
             f"{contract.expiry.isoformat()} ({selection.days} days)"]
    if contract.delta is not None:
        parts.append(f"delta {contract.delta:.2f}")
    if contract.mid is not None and contract.bid is not None and contract.ask is not None:
        parts.append(f"bid ${contract.bid:.2f} / ask ${contract.ask:.2f}")
    elif contract.price is not None:
        parts.append(f"${contract.price:.2f}" + (" (model)" if contract.mid is None and contract.last is None else ""))
    if contract.open_interest is not None:
        parts.append(f"OI {contract.open_interest:,}")
    if contract.synthetic:
        parts.append("SYNTHETIC")
    return " · ".join(parts)


__all__ = ["ChainSource", "OptionChain", "OptionContract", "OptionsUnavailable", "Selection", "SelectionRules",
           "Side", "contract_line", "kind_for", "select", "strike_text", "tip_date"]
