"""Positions: the model, PnL, and the exit rules the position monitor applies (SPEC §4; seeds 000, 002, 004).

The monitor checks thousands of positions every few seconds, so the rules run on numpy arrays — of integer
ticks (prices × 10^decimals of each position's own tick), never floats: a price exactly at a stop, a target,
the trailing activation or the trail level decides the same way every time, and the level an exit fills at
is a tick the market can trade.

What the market did since the last look comes as bars (engine.market's `bars_since`): each bar's high and
low, so a target touched between two looks is not missed, in the order they happened. A take-profit is a
resting limit: it fills at the target, or at the bar's open when the bar opened beyond it. A stop (fixed or
trailing) is a market order when touched: from the stop, or from the open when the bar gapped through it
(the paper broker takes slippage off that). When one bar reaches both a stop and the target, the stop is
assumed to have come first: the worse outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import numpy as np
from pydantic import BaseModel

from engine.brokers.base import Side

EXIT_NONE, EXIT_STOP, EXIT_TARGET, EXIT_TRAIL = 0, 1, 2, 3
EXIT_REASONS = {EXIT_STOP: "stop_loss", EXIT_TARGET: "take_profit", EXIT_TRAIL: "trailing_stop"}


class Position(BaseModel):
    id: int
    user_id: int
    signal_id: int | None = None
    platform: str
    chat_id: str
    symbol: str
    side: Side
    broker: str
    status: str
    notional: Decimal
    quantity: Decimal | None = None
    entry_price: Decimal | None = None
    entry_fee: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    price_decimals: int = 2
    trail_extreme: Decimal | None = None
    trail_active: bool = False
    last_price: Decimal | None = None
    last_alert_pnl: float = 0.0
    near_target_sent: bool = False
    exit_price: Decimal | None = None
    exit_fee: Decimal | None = None
    exit_reason: str | None = None
    pnl_abs: Decimal | None = None
    pnl_pct: float | None = None
    error: str | None = None
    created_at: datetime
    opened_at: datetime | None = None
    closed_at: datetime | None = None


def gross_pnl(side: Side, entry: Decimal, exit_: Decimal, quantity: Decimal) -> Decimal:
    """Price difference times quantity, in the direction of the position."""
    diff = exit_ - entry if side is Side.LONG else entry - exit_
    return diff * quantity


def pnl_fraction(side: Side, entry: Decimal, price: Decimal) -> Decimal:
    """SPEC §4: long (price − entry)/entry, short (entry − price)/entry."""
    return (price - entry) / entry if side is Side.LONG else (entry - price) / entry


def net_pnl(side: Side, entry: Decimal, exit_: Decimal, quantity: Decimal, fees: Decimal) -> Decimal:
    """Absolute PnL net of entry and exit fees, to the cent's hundredth (quote currency)."""
    return (gross_pnl(side, entry, exit_, quantity) - fees).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


# ---- integer ticks ---------------------------------------------------------------------------------------

_INT_SAFE = 2**62  # products of ticks and rule factors stay below this, or the exact slow path is taken
_FLOAT_EXACT = 2**52  # integers below this survive a trip through a float exactly


def to_ticks(value: str | Decimal | None, decimals: int, rounding: str = ROUND_HALF_EVEN) -> int | None:
    """A stored price as an integer count of 10^-decimals, rounded only if it lies off that grid."""
    if value is None:
        return None
    return int(Decimal(value).scaleb(decimals).to_integral_value(rounding))


def from_ticks(ticks: int, decimals: int) -> Decimal:
    return Decimal(int(ticks)).scaleb(-decimals)


def float_ticks(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Float prices from a data feed (written with at most the tick's decimals) as int64 ticks; NaN → 0."""
    scaled = np.rint(np.nan_to_num(values, nan=0.0) * scale)
    return scaled.astype(np.int64)


def percent(value: float) -> Fraction:
    """A percentage setting as the exact rational it was written as (2.0 → 2, 0.35 → 7/20)."""
    return Fraction(str(value))


def _epoch(moment: str | datetime | float | None) -> float:
    if moment is None:
        return np.nan
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def _epochs(moments: list[Any]) -> np.ndarray:
    """Epoch seconds of stored times (ISO text as storage writes it, parsed by numpy in one call)."""
    if all(isinstance(m, str) and m.endswith("Z") for m in moments):
        stamps = np.array([m[:-1] for m in moments], dtype="datetime64[us]")
        return stamps.astype(np.int64) / 1e6
    return np.array([_epoch(m) for m in moments], dtype=np.float64)


def _text_ticks(values: list[str | Decimal | None], decimals: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Stored prices as int64 ticks, exactly: a value written with no more decimals than its tick is read
    through a float (exact: fewer than 16 digits); one with more is rounded in Decimal, up where `up` says
    (else down). None → 0 (the caller keeps a mask)."""
    text = ["0" if v is None else str(v) for v in values]
    out = float_ticks(np.array(text, dtype=np.float64), 10.0 ** decimals.astype(np.float64))
    for i, t in enumerate(text):
        point = t.find(".")
        off_grid = point >= 0 and len(t.rstrip("0")) - point - 1 > decimals[i]
        if off_grid or "e" in t or "E" in t or abs(out[i]) >= _FLOAT_EXACT:
            out[i] = to_ticks(t, int(decimals[i]), ROUND_CEILING if up[i] else ROUND_FLOOR)
    return out


@dataclass
class ExitBook:
    """Every open position as columns: levels in integer ticks of the position's own precision, the rest
    (PnL, near-target alerts) in floats, which only inform. `start` is the market time (epoch seconds) from
    which bars count for the position: when it opened."""

    ids: np.ndarray
    symbols: list[str]
    is_long: np.ndarray
    decimals: np.ndarray
    start: np.ndarray
    entry: np.ndarray  # float, for PnL
    target: np.ndarray  # float (NaN: none), for near-target alerts
    entry_t: np.ndarray
    stop_t: np.ndarray
    has_stop: np.ndarray
    target_t: np.ndarray
    has_target: np.ndarray
    extreme_t: np.ndarray
    trail_active: np.ndarray
    last_alert_pnl: np.ndarray
    near_sent: np.ndarray
    scale: np.ndarray = field(init=False)
    names: list[str] = field(init=False)  # the symbols held, sorted
    where: np.ndarray = field(init=False)  # each position's index into `names`

    def __post_init__(self) -> None:
        self.scale = 10.0 ** self.decimals.astype(np.float64)
        self.names = sorted(set(self.symbols))
        index = {name: i for i, name in enumerate(self.names)}
        self.where = np.fromiter((index[s] for s in self.symbols), np.int64, len(self.symbols))

    def per_position(self, per_symbol: dict[str, float], missing: float = np.nan) -> np.ndarray:
        """A value per symbol spread to the positions on it."""
        values = np.array([per_symbol.get(name, missing) for name in self.names] + [missing], dtype=np.float64)
        return values[self.where]

    def earliest(self, per_position: np.ndarray) -> dict[str, float]:
        """The smallest of a per-position value on each symbol."""
        out = np.full(len(self.names), np.inf)
        np.minimum.at(out, self.where, per_position)
        return dict(zip(self.names, out.tolist(), strict=True))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> ExitBook:
        """Rows of (id, symbol, is_long, price_decimals, start, entry_price, stop_loss, take_profit,
        trail_extreme, trail_active, last_alert_pnl, near_target_sent), prices as stored text; start as ISO
        text, a datetime or epoch seconds (None: unknown).

        A stop or target off the tick grid is moved onto it the way it triggers: a long's stop down and its
        target up (a low at or under 100.005 is a low at or under 100.00), a short's the other way."""
        n = len(rows)
        if n == 0:
            f, i64, no = np.empty(0), np.empty(0, np.int64), np.empty(0, bool)
            return cls(ids=i64, symbols=[], is_long=no, decimals=i64, start=f, entry=f, target=f, entry_t=i64,
                       stop_t=i64, has_stop=no, target_t=i64, has_target=no, extreme_t=i64, trail_active=no,
                       last_alert_pnl=f, near_sent=no)
        ids, symbols, long_, d, begin, e, sl, tp, ext, act, alert, sent = (list(c) for c in zip(*rows, strict=True))
        is_long = np.array(long_, dtype=bool)
        decimals = np.array(d, dtype=np.int64)
        has_stop = np.array([v is not None for v in sl], dtype=bool)
        has_target = np.array([v is not None for v in tp], dtype=bool)
        extreme = [x if x is not None else entry for x, entry in zip(ext, e, strict=True)]
        return cls(ids=np.array(ids, dtype=np.int64), symbols=symbols, is_long=is_long, decimals=decimals,
                   start=_epochs(begin), entry=np.array(e, dtype=np.float64),
                   target=np.array([np.nan if v is None else v for v in tp], dtype=np.float64),
                   entry_t=_text_ticks(e, decimals, np.zeros(n, bool)),
                   stop_t=_text_ticks(sl, decimals, ~is_long), has_stop=has_stop,
                   target_t=_text_ticks(tp, decimals, is_long), has_target=has_target,
                   extreme_t=_text_ticks(extreme, decimals, np.zeros(n, bool)),
                   trail_active=np.array(act, dtype=bool), last_alert_pnl=np.array(alert, dtype=np.float64),
                   near_sent=np.array(sent, dtype=bool))

    @classmethod
    def empty(cls) -> ExitBook:
        return cls.from_rows([])

    def extreme_price(self, i: int) -> Decimal:
        return from_ticks(int(self.extreme_t[i]), int(self.decimals[i]))


@dataclass(frozen=True, slots=True)
class Window:
    """What the market did since the last look, per position (rows line up with the book).

    Closed bars (n × k, oldest first; `valid` marks the ones after the position's start), the bar still
    forming (its range so far; it may grow, so it never moves the trailing state), and the price now.
    `points` marks positions whose source has no bars at all: their prices are the only observations and
    move the trailing state as bars would."""

    open_t: np.ndarray
    high_t: np.ndarray
    low_t: np.ndarray
    valid: np.ndarray
    forming_open_t: np.ndarray
    forming_high_t: np.ndarray
    forming_low_t: np.ndarray
    forming_valid: np.ndarray
    price: np.ndarray  # float, NaN: none
    price_t: np.ndarray
    priced: np.ndarray
    points: np.ndarray

    @classmethod
    def prices_only(cls, book: ExitBook, price: np.ndarray, points: bool = True) -> Window:
        n = len(book)
        none = np.zeros((n, 0), np.int64)
        zeros, no = np.zeros(n, np.int64), np.zeros(n, bool)
        priced = ~np.isnan(price)
        return cls(none, none, none, np.zeros((n, 0), bool), zeros, zeros, zeros, no, price,
                   float_ticks(price, book.scale), priced, priced & points)


@dataclass(frozen=True, slots=True)
class TickDecisions:
    pnl: np.ndarray  # fraction, at the price now
    extreme_t: np.ndarray  # best price since entry, in ticks
    trail_active: np.ndarray  # bool
    exit_code: np.ndarray  # EXIT_* per position
    fill_t: np.ndarray  # ticks: the level touched, or the open the market gapped to
    near_target: np.ndarray  # bool: within near_target_pct of the take-profit, not yet alerted
    pnl_move: np.ndarray  # bool: PnL moved more than pnl_move_pct since the last alert
    observed: np.ndarray  # bool: a price or a bar was seen for it


def _exact_ints(arrays: list[np.ndarray], factor: int) -> list[np.ndarray]:
    """int64 while |tick| × factor cannot overflow, else Python ints (exact, slower; odd settings only)."""
    biggest = max((int(np.abs(a).max()) for a in arrays if a.size), default=0)
    if biggest * factor < _INT_SAFE:
        return arrays
    return [a.astype(object) for a in arrays]


def decide(
    book: ExitBook,
    window: Window,
    trailing_pct: float,
    activation_pct: float,
    near_target_pct: float,
    pnl_move_pct: float,
) -> TickDecisions:
    """One monitoring tick for every open position at once.

    Bars are taken in order; for each, the levels in force before it (the trail from the extreme before
    it) are checked against its low and high, and only then does its high (low, for shorts) move the
    extreme and perhaps activate the trail. The forming bar and the price now are checked last.

    Shorts are decided as longs on negated prices (a short's stop above is a stop below at −price, its
    best low a best high), so every rule is one comparison for all positions."""
    trail, act = percent(trailing_pct), percent(activation_pct)
    t_den, a_num, a_den = 100 * trail.denominator, act.numerator, 100 * act.denominator
    n, is_long = len(book), book.is_long
    sign = np.where(is_long, 1, -1).astype(np.int64)
    # the trail multiplies the extreme by (1 − t) for longs and (1 + t) for shorts (in negated space the
    # floor of −e·(1+t) is minus the ceiling of e·(1+t): rounded away from the price either way)
    keep = np.where(is_long, t_den - trail.numerator, t_den + trail.numerator).astype(np.int64)
    entry, extreme0 = _exact_ints([book.entry_t, book.extreme_t], int(keep.max(initial=1)) + a_num + a_den)
    big = _INT_SAFE  # a level that is never reached: no stop, no target
    stop = np.where(book.has_stop, book.stop_t * sign, -big)
    target = np.where(book.has_target, book.target_t * sign, big)
    # activation: (best − entry) / |entry| ≥ a  ⇔  best ≥ entry + ⌈|entry|·a⌉ (in ticks, exactly)
    magnitude = np.abs(entry)
    activation = entry * sign + (-((-magnitude * a_num) // a_den))
    extreme = extreme0 * sign
    active = book.trail_active.copy()
    code = np.zeros(n, np.int64)
    fill = np.zeros(n, np.int64)

    def norm(values: np.ndarray, other: np.ndarray) -> np.ndarray:
        """A long's high (or low) as is; a short's from the other end, negated."""
        return np.where(is_long if values.ndim == 1 else is_long[:, None], values, -other)

    def check(open_t: np.ndarray | None, high: np.ndarray, low: np.ndarray, seen: np.ndarray) -> None:
        nonlocal code, fill
        live = seen & (code == 0)
        if not live.any():
            return
        trail_level = (extreme * keep) // t_den
        use_trail = active & (trail_level > stop)  # the nearer level is the one reached first
        protect = np.where(use_trail, trail_level, stop)
        hit_protect = live & (low <= protect)
        hit_target = live & ~hit_protect & (high >= target)
        if open_t is None:  # a price, not a bar: it fills at the level it crossed
            protect_fill, target_fill = protect, target
        else:  # gapped through: the open; a target opened beyond fills at that better open
            protect_fill, target_fill = np.minimum(open_t, protect), np.maximum(open_t, target)
        code = np.where(hit_protect, np.where(use_trail, EXIT_TRAIL, EXIT_STOP), np.where(hit_target, EXIT_TARGET,
                                                                                          code))
        fill = np.where(hit_protect, protect_fill, np.where(hit_target, target_fill, fill))

    def advance(high: np.ndarray, seen: np.ndarray) -> None:
        nonlocal extreme, active
        moving = seen & (code == 0)
        extreme = np.where(moving & (high > extreme), high, extreme)
        active = active | (moving & (extreme >= activation))

    if window.valid.shape[1]:
        opens = norm(window.open_t, window.open_t)
        highs = norm(window.high_t, window.low_t)
        lows = norm(window.low_t, window.high_t)
        for j in np.flatnonzero(window.valid.any(axis=0)):
            seen = window.valid[:, j]
            check(opens[:, j], highs[:, j], lows[:, j], seen)
            advance(highs[:, j], seen)
    if window.forming_valid.any():
        check(norm(window.forming_open_t, window.forming_open_t), norm(window.forming_high_t, window.forming_low_t),
              norm(window.forming_low_t, window.forming_high_t), window.forming_valid)
    price_t = window.price_t * sign
    check(None, price_t, price_t, window.priced)
    advance(price_t, window.points)

    price = window.price
    with np.errstate(invalid="ignore", divide="ignore"):
        pnl = np.where(is_long, (price - book.entry) / book.entry, (book.entry - price) / book.entry)
        near = (window.priced & ~book.near_sent & book.has_target & (code == 0)
                & (np.abs(book.target - price) / price * 100 <= near_target_pct))
        moved = window.priced & (np.abs(pnl - book.last_alert_pnl) * 100 > pnl_move_pct)
    observed = window.priced | window.valid.any(axis=1) | window.forming_valid
    return TickDecisions(pnl=pnl, extreme_t=np.asarray(extreme * sign, dtype=np.int64), trail_active=active,
                         exit_code=np.asarray(code, dtype=np.int64), fill_t=np.asarray(fill * sign, dtype=np.int64),
                         near_target=near, pnl_move=moved & (code == EXIT_NONE), observed=observed)


@dataclass(frozen=True, slots=True)
class SymbolBars:
    """One symbol's bars since the monitor last read it: the closed ones, and the one still forming."""

    timestamps: np.ndarray  # int64 open times of the closed bars
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    forming: tuple[int, float, float, float] | None = None  # open time, open, high and low so far

    @classmethod
    def from_candles(cls, candles: Any) -> SymbolBars:
        """From engine.models.Candles as `bars_since` returns them (the last one forming when it says so)."""
        closed = len(candles) - 1 if candles.forming and len(candles) else len(candles)
        forming = None
        if closed < len(candles):
            forming = (int(candles.timestamps[-1]), float(candles.open[-1]), float(candles.high[-1]),
                       float(candles.low[-1]))
        return cls(np.asarray(candles.timestamps[:closed], np.int64), np.asarray(candles.open[:closed], float),
                   np.asarray(candles.high[:closed], float), np.asarray(candles.low[:closed], float), forming)


def build_window(book: ExitBook, bars: dict[str, SymbolBars | None], prices: dict[str, float],
                 since: np.ndarray) -> Window:
    """Spread each symbol's bars and price to its positions. `since` (epoch seconds per position): bars that
    opened before it are not the position's (before it opened, or already seen). A symbol mapped to None has
    no bar source: its prices move the trailing state; a symbol absent from `bars` had none this time."""
    names, where = book.names, book.where
    index = {name: i for i, name in enumerate(names)}
    price = book.per_position(prices)
    k = max((len(b.timestamps) for b in bars.values() if b is not None), default=0)
    stamps = np.full((len(names) + 1, k), np.iinfo(np.int64).min, np.int64)
    opens, highs, lows = (np.zeros((len(names) + 1, k)) for _ in range(3))
    forming = np.zeros((len(names) + 1, 4))
    has_forming = np.zeros(len(names) + 1, bool)
    source_less = np.zeros(len(names) + 1, bool)
    for name, b in bars.items():
        row = index.get(name)
        if row is None:
            continue
        if b is None:
            source_less[row] = True
            continue
        m = len(b.timestamps)
        stamps[row, :m], opens[row, :m], highs[row, :m], lows[row, :m] = b.timestamps, b.open, b.high, b.low
        if b.forming is not None:
            forming[row], has_forming[row] = b.forming, True
    scale = book.scale[:, None]
    valid = stamps[where] >= since[:, None]
    priced = ~np.isnan(price)
    price_t = float_ticks(price, book.scale)
    if has_forming.any():
        f = forming[where]
        forming_valid = has_forming[where] & (f[:, 0] >= since)
        f_open, f_high, f_low = (_ticks(f[:, c], book.scale) for c in (1, 2, 3))
    else:  # most looks: no symbol has a bar forming (the replay never has one)
        forming_valid = np.zeros(len(book), bool)
        f_open = f_high = f_low = price_t
    return Window(open_t=_ticks(opens[where], scale), high_t=_ticks(highs[where], scale),
                  low_t=_ticks(lows[where], scale), valid=valid, forming_open_t=f_open, forming_high_t=f_high,
                  forming_low_t=f_low, forming_valid=forming_valid, price=price, price_t=price_t, priced=priced,
                  points=priced & source_less[where])


def _ticks(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float_ticks for arrays that hold no NaN (padding is 0.0)."""
    return np.rint(values * scale).astype(np.int64)
