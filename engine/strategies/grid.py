"""`grid` (seed 004's GRID): buy and sell orders on levels around the price, each taking profit one level on.

Seed 004's grid flow — set up levels, place orders, detect crossings, rebalance, check take-profit — as a
rule read at each bar's close, with the GRID project's parameter names:

- Levels: `grid_num` order levels spaced `grid_spacing` percent of the anchor price apart, level k at
  anchor × (1 + k × spacing). `enter_strategy` long-short puts ⌈grid_num / 2⌉ buy levels below the anchor
  (k = −1, −2, …) and ⌊grid_num / 2⌋ sell levels above it (k = 1, 2, …); long puts all grid_num below;
  short all above. The anchor is the price the grid starts at (the first bar for `decide`).
- Fills: an open buy level fills when the close crosses down through it (previous close > level ≥ close);
  an open sell level when the close crosses up through it (previous close < level ≤ close).
- Take-profit: a filled buy sells one level up (level k + 1; the anchor for k = −1), a filled sell buys back
  one level down; when the close reaches it the level is open again (the grid's rebalancing).
- Stop: `stop_loss` percent from the close the level filled at; when the close reaches it the level is
  open again. A level freed on a bar does not fill again on that same bar.
- Re-centring: when nothing is filled and the close reaches one spacing beyond the outermost level (or the
  anchor, on a one-sided grid's empty side), the grid moves: that close becomes the anchor.

Decisions: a bar on which one or more buy levels fill is BUY, one on which sell levels fill is SELL
(a close moves one way, so never both); everything else is HOLD, including take-profit and stop bars,
which close earlier decisions rather than make new ones. A BUY's take-profit is one level above the lowest
level it filled and its stop `stop_loss` percent below the entry price; SELL mirrored. The score is where
the close sits in the grid: +1 at the bottom edge, 0 at the anchor, −1 at the top edge. `level_table`
gives the levels with side, price and filled state, for the chat view.

A paper grid running live (bot.core.usecases.grids) applies the same rule one closed bar at a time through
`step_grid`, which runs `_Grid.step` itself on the grid's stored anchor and filled levels, and `paper_levels` /
`fill_levels` put its lines and each fill's stop and take-profit on the tick as the strategy's own levels are.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from engine.models import Candles
from engine.risk import quantize_price
from engine.strategies import params as read
from engine.strategies.base import BUY, HOLD, SELL, Decisions
from engine.strategies.levels import entry_prices, round_levels, to_decimal

ENTER_STRATEGIES = ("long-short", "long", "short")
DEFAULTS: dict[str, Any] = {"grid_num": 20, "grid_spacing": 0.8, "enter_strategy": "long-short",
                            "stop_loss": 5.0}


def _order_levels(grid_num: int, enter: str) -> list[int]:
    """The k of every order level, lowest first."""
    if enter == "long":
        return list(range(-grid_num, 0))
    if enter == "short":
        return list(range(1, grid_num + 1))
    below = (grid_num + 1) // 2
    return list(range(-below, 0)) + list(range(1, grid_num - below + 1))


class _Grid:
    """One grid's state: its anchor, lines and, per order level, the entry it filled at (None: open)."""

    def __init__(self, ks: list[int], spacing: float, stop_loss: float) -> None:
        self.ks = ks  # lowest first
        self.g = spacing / 100.0
        self.sl = stop_loss / 100.0
        self.low_k, self.high_k = min(min(ks), 0) - 1, max(max(ks), 0) + 1  # the edges, one spacing out
        self.anchor = math.nan
        self.lines: dict[int, float] = {}
        self.sorted_lines: list[float] = []
        self.entry: dict[int, float | None] = {}
        self.filled = 0
        self.long_stop, self.short_stop = -math.inf, math.inf  # the nearest stops of the filled levels
        self.recentred = 0

    def start(self, anchor: float) -> None:
        self.anchor = anchor
        self.lines = {k: anchor * (1.0 + k * self.g) for k in range(self.low_k, self.high_k + 1)}
        self.sorted_lines = sorted(self.lines.values())
        self.entry = dict.fromkeys(self.ks)
        self.filled = 0
        self.long_stop, self.short_stop = -math.inf, math.inf

    def step(self, c0: float, c1: float, price: float) -> tuple[int, float, float]:
        """One bar: free the levels whose take-profit or stop the close reached, fill the levels it crossed,
        re-centre an empty grid the close left. Returns (side, stop, take-profit) of a new entry."""
        lines, entry, down, up = self.lines, self.entry, 1.0 - self.sl, 1.0 + self.sl
        lowest_bought = highest_sold = 0
        before = self.filled
        for k in self.ks:
            filled_at = entry[k]
            if filled_at is not None:  # a level freed here does not fill again on this bar
                if (c1 >= lines[k + 1] or c1 <= filled_at * down) if k < 0 else \
                   (c1 <= lines[k - 1] or c1 >= filled_at * up):
                    entry[k] = None
                    self.filled -= 1
                    before = -1  # something changed
            elif k < 0 and c0 > lines[k] >= c1:
                entry[k] = price
                self.filled += 1
                lowest_bought = lowest_bought or k  # ks run lowest first
            elif k > 0 and c0 < lines[k] <= c1:
                entry[k] = price
                self.filled += 1
                highest_sold = k
        if self.filled != before:
            self.long_stop = max((e * down for k, e in entry.items() if k < 0 and e is not None), default=-math.inf)
            self.short_stop = min((e * up for k, e in entry.items() if k > 0 and e is not None), default=math.inf)
        if lowest_bought:
            return BUY, price * down, lines[lowest_bought + 1]
        if highest_sold:
            return SELL, price * up, lines[highest_sold - 1]
        if self.filled == 0 and (c1 >= lines[self.high_k] or c1 <= lines[self.low_k]):
            self.start(c1)
            self.recentred += 1
        return HOLD, math.nan, math.nan

    def quiet_band(self, c0: float) -> tuple[float, float]:
        """Closes strictly inside this band change nothing: no line crossed, no stop reached."""
        i = bisect.bisect_left(self.sorted_lines, c0)
        if i < len(self.sorted_lines) and self.sorted_lines[i] == c0:
            return c0, c0  # on a line: the next bar is always stepped
        low = self.sorted_lines[i - 1] if i > 0 else -math.inf
        high = self.sorted_lines[i] if i < len(self.sorted_lines) else math.inf
        return max(low, self.long_stop), min(high, self.short_stop)

    def score(self, close: float) -> float:
        reach = (-self.low_k if close < self.anchor else self.high_k) * self.g * self.anchor
        return min(1.0, max(-1.0, (self.anchor - close) / reach))


@dataclass(frozen=True)
class _Run:
    side: np.ndarray
    stop: np.ndarray
    target: np.ndarray
    score: np.ndarray
    anchor: np.ndarray
    filled: np.ndarray
    grid: _Grid


def _run(candles: Candles, p: Mapping[str, Any], start: int) -> _Run:
    n = len(candles)
    close = np.asarray(candles.close, dtype=np.float64)
    price = entry_prices(candles)
    side = np.full(n, HOLD, dtype=np.int8)
    stop, target, score, anchor = (np.full(n, np.nan) for _ in range(4))
    filled = np.zeros(n, dtype=np.int16)
    grid = _Grid(_order_levels(p["grid_num"], p["enter_strategy"]), p["grid_spacing"], p["stop_loss"])
    if start >= n:
        return _Run(side, stop, target, score, anchor, filled, grid)
    grid.start(float(price[start]))
    anchor[start], score[start] = grid.anchor, 0.0
    low, high = grid.quiet_band(float(close[start]))
    closes, prices = close.tolist(), price.tolist()
    # The state only changes on a bar whose close leaves the quiet band: the others are filled in after.
    for t in range(start + 1, n):
        c1 = closes[t]
        if low < c1 < high:
            continue
        side[t], stop[t], target[t] = grid.step(closes[t - 1], c1, prices[t])
        anchor[t], filled[t], score[t] = grid.anchor, grid.filled, grid.score(c1)
        low, high = grid.quiet_band(c1)
    _carry_forward(anchor, filled, start)
    quiet = np.isnan(score)
    quiet[:start + 1] = False
    score[quiet] = _scores(close[quiet], anchor[quiet], grid)
    return _Run(side, stop, target, score, anchor, filled, grid)


def _carry_forward(anchor: np.ndarray, filled: np.ndarray, start: int) -> None:
    """Quiet bars keep the state of the last stepped bar."""
    stepped = np.zeros(anchor.shape[0], dtype=bool)
    stepped[start:] = np.isfinite(anchor[start:])
    index = np.where(stepped, np.arange(anchor.shape[0]), 0)
    np.maximum.accumulate(index, out=index)
    anchor[start:] = anchor[index[start:]]
    filled[start:] = filled[index[start:]]


def _scores(close: np.ndarray, anchor: np.ndarray, grid: _Grid) -> np.ndarray:
    reach = np.where(close < anchor, -grid.low_k, grid.high_k) * grid.g * anchor
    return np.clip((anchor - close) / reach, -1.0, 1.0)


class GridStrategy:
    name = "grid"
    summary = "buy and sell orders on levels around the price, each taking profit one level on (seed 004)"
    defaults = DEFAULTS

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        read.unknown_keys(self.name, params, DEFAULTS)
        out = dict(DEFAULTS)
        if "grid_num" in params:
            out["grid_num"] = read.integer("grid_num", params["grid_num"], 1, 40)
        if "grid_spacing" in params:
            out["grid_spacing"] = read.number("grid_spacing", params["grid_spacing"], 0.01, 25.0)
        if "enter_strategy" in params:
            out["enter_strategy"] = read.choice("enter_strategy", params["enter_strategy"], ENTER_STRATEGIES)
        if "stop_loss" in params:
            out["stop_loss"] = read.number("stop_loss", params["stop_loss"], 0.1, 50.0)
        below = {"long": out["grid_num"], "short": 0}.get(out["enter_strategy"], (out["grid_num"] + 1) // 2)
        if (below + 1) * out["grid_spacing"] >= 100:
            raise ValueError(f"{below} levels {out['grid_spacing']:g}% apart below the price reach zero; "
                             "use fewer levels or a smaller grid_spacing")
        return out

    def decide(self, candles: Candles, sentiment: np.ndarray, params: Mapping[str, Any]) -> Decisions:
        p = self.check_params(params)
        run = _run(candles, p, 0)
        stop, target = round_levels(run.side, run.stop, run.target, candles.price_decimals)
        return Decisions(side=run.side, score=run.score, stop_loss=stop, take_profit=target,
                         first=min(1, len(candles)), extra={"anchor": run.anchor, "filled": run.filled})


@dataclass(frozen=True)
class GridLevel:
    side: str  # "buy" or "sell"
    price: Decimal
    filled: bool
    take_profit: Decimal  # where a fill here takes its profit: one level on
    entry: Decimal | None = None  # the price it filled at


@dataclass(frozen=True)
class GridTable:
    """A grid's levels, highest price first (sells above, buys below, as an order book reads)."""

    symbol: str
    timeframe: str
    anchor: Decimal
    spacing: float  # percent
    stop_loss: float  # percent
    started: datetime  # the bar the grid started on
    as_of: datetime  # the newest bar it has seen
    recentred: int  # how often it moved to follow the price
    levels: list[GridLevel]
    anchor_exact: float = math.nan  # the anchor before rounding to the tick: the lines are computed from it

    @property
    def filled(self) -> int:
        return sum(level.filled for level in self.levels)


def _start_index(candles: Candles, start: int | datetime | None) -> int:
    n = len(candles)
    if start is None:
        return n - 1
    if isinstance(start, datetime):
        return int(np.searchsorted(candles.timestamps, int(start.timestamp()), side="left"))
    return start if start >= 0 else n + start


def level_table(candles: Candles, params: Mapping[str, Any], start: int | datetime | None = None) -> GridTable:
    """The grid's levels after the candles from `start` (a bar index, or the first bar at or after a time;
    None: a grid starting now, on the newest bar, around the price quoted now, nothing filled yet)."""
    p = STRATEGY.check_params(params)
    if not len(candles):
        raise ValueError("a grid needs at least one bar")
    begin = _start_index(candles, start)
    if not 0 <= begin < len(candles):
        raise ValueError("the grid's start is after the newest bar")
    grid = _run(candles, p, begin).grid
    d = candles.price_decimals

    def tick(value: float) -> Decimal:
        return _tick(value, d)

    rows = []
    for k in sorted(grid.ks, reverse=True):
        entry = grid.entry[k]
        rows.append(GridLevel(side="buy" if k < 0 else "sell", price=tick(grid.lines[k]), filled=entry is not None,
                              take_profit=tick(grid.lines[k + 1] if k < 0 else grid.lines[k - 1]),
                              entry=None if entry is None else tick(entry)))
    return GridTable(symbol=candles.symbol, timeframe=candles.timeframe, anchor=tick(grid.anchor),
                     spacing=p["grid_spacing"], stop_loss=p["stop_loss"],
                     started=datetime.fromtimestamp(int(candles.timestamps[begin]), tz=UTC),
                     as_of=candles.last_time, recentred=grid.recentred, levels=rows, anchor_exact=grid.anchor)


def _tick(value: float, decimals: int) -> Decimal:
    """A line's price as the chat shows it and a paper grid's order rests at."""
    return quantize_price(Decimal(repr(value)), decimals)


@dataclass(frozen=True)
class PaperLevel:
    """One order level of a grid around `anchor`: k (−1 the first buy below, 1 the first sell above), its side,
    its price and where a fill there takes its profit, on the tick."""

    k: int
    side: str  # "buy" or "sell"
    price: Decimal
    take_profit: Decimal


def _grid(params: Mapping[str, Any]) -> _Grid:
    p = STRATEGY.check_params(params)
    return _Grid(_order_levels(p["grid_num"], p["enter_strategy"]), p["grid_spacing"], p["stop_loss"])


def paper_levels(anchor: float, params: Mapping[str, Any], decimals: int) -> list[PaperLevel]:
    """The order levels of a grid started at `anchor`, highest price first (as `level_table` lists them)."""
    grid = _grid(params)
    grid.start(anchor)
    return [PaperLevel(k, "buy" if k < 0 else "sell", _tick(grid.lines[k], decimals),
                       _tick(grid.lines[k + 1] if k < 0 else grid.lines[k - 1], decimals))
            for k in sorted(grid.ks, reverse=True)]


@dataclass(frozen=True)
class GridFill:
    k: int
    side: str  # "buy" or "sell"
    price: float  # what it filled at: the bar's close
    stop: float  # stop_loss percent from that price (unrounded)
    take_profit: float  # one level on (unrounded)


@dataclass(frozen=True)
class GridStep:
    fills: list[GridFill]  # lowest level first
    freed: list[int]  # filled levels whose take-profit or stop this close reached
    anchor: float  # after the bar: a new one when the grid re-centred
    recentred: bool


def step_grid(params: Mapping[str, Any], anchor: float, held: Mapping[int, float], c0: float, c1: float,
              price: float) -> GridStep:
    """One closed bar of a running grid by the strategy's own rule (`_Grid.step`): the grid around `anchor`
    with the levels in `held` filled (k → the price each filled at), the previous close `c0`, this bar's close
    `c1`, and `price` the price a fill on this bar is at (the close)."""
    grid = _grid(params)
    grid.start(anchor)
    for k, entry in held.items():
        if k in grid.entry:
            grid.entry[k] = entry
            grid.filled += 1
    before = dict(grid.entry)
    grid.step(c0, c1, price)
    freed = [k for k in grid.ks if before[k] is not None and grid.entry[k] is None]
    if grid.anchor != anchor:  # only an empty grid moves (every held level freed on this bar): nothing fills
        return GridStep([], freed, grid.anchor, True)
    down, up = 1.0 - grid.sl, 1.0 + grid.sl
    fills = [GridFill(k, "buy" if k < 0 else "sell", price, price * (down if k < 0 else up),
                      grid.lines[k + 1] if k < 0 else grid.lines[k - 1])
             for k in grid.ks if before[k] is None and grid.entry[k] is not None]
    return GridStep(fills, freed, grid.anchor, False)


def fill_levels(fill: GridFill, decimals: int) -> tuple[Decimal, Decimal]:
    """(stop, take-profit) of a fill on the tick, rounded as the strategy's decisions are (`round_levels`)."""
    side = np.array([BUY if fill.side == "buy" else SELL], dtype=np.int8)
    stop, target = round_levels(side, np.array([fill.stop]), np.array([fill.take_profit]), decimals)
    out = to_decimal(float(stop[0]), decimals), to_decimal(float(target[0]), decimals)
    assert out[0] is not None and out[1] is not None
    return out[0], out[1]


STRATEGY = GridStrategy()
