"""Random entries: what the same stops, targets and holding rule earn when the entry bar is chance.

Per side, as many trades as the strategy made on that side, on their own account (one position at a time):
bars are drawn uniformly at random without replacement from the tested bars (the last excluded, as for the
strategy), each with a stop and a target at the distances of one of the strategy's own trades of that side
drawn at random (as fractions of its entry bar's close, applied to the random bar's close and rounded to the
tick as engine.risk.stop_levels rounds: a long's both down, a short's both up). A drawn trade is kept when it
overlaps no trade kept before it (the account is flat for its whole holding; a trade may start on the bar
another ends), until the count is reached or no bar is left. It is then followed and filled exactly as the
strategy's trades are. The draws come from a numpy Generator seeded with `seed` (each side its own stream),
so the same seed gives the same baseline.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from engine.backtest.exits import Exits, TickBars, follow
from engine.backtest.fills import level_ticks
from engine.backtest.trades import Trades

RULE = ("random entry bars (seeded), each with the stop and target distances of one of the strategy's trades "
        "on that side, same holding rule, same fills and fees")


def distances(trades: Trades, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each trade's stop and target distance as a fraction of its entry bar's close (NaN: that level unset)."""
    price = close[trades.entry_bar].astype(np.float64)
    sign = np.where(trades.long, 1.0, -1.0)
    stop = np.where(trades.has_stop, sign * (price - trades.stop) / price, np.nan)
    target = np.where(trades.has_target, sign * (trades.target - price) / price, np.nan)
    return stop, target


def side_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The long side's and the short side's generators: independent, both fixed by `seed`."""
    long_seq, short_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(long_seq), np.random.default_rng(short_seq)


def random_trades(bars: TickBars, timestamps: np.ndarray, own: Trades, long: bool, start: int, end: int, ttl: int,
                  fee_pct: Decimal, slippage_pct: Decimal, rng: np.random.Generator) -> Trades:
    """len(own) random trades on one side (`own`: the strategy's trades of that side), in time order."""
    wanted = len(own)
    if wanted == 0 or end <= start:
        return Trades.empty(bars.decimals)
    stop_dist, target_dist = distances(own, bars.close)
    pool = rng.permutation(np.arange(start, end, dtype=np.int64))
    # held[b] = 1: some kept trade holds bar b (the bars after its entry up to its exit). A trade entered at
    # e and exiting at x needs bars e+1 … x free; entering on a bar another trade exits on is then allowed.
    held = bytearray(end + 2)
    chosen: list[int] = []  # indices into the concatenated draws
    drawn: list[tuple[np.ndarray, ...]] = []
    offset = base = 0
    while len(chosen) < wanted and offset < len(pool):
        batch = pool[offset:offset + max(64, 4 * (wanted - len(chosen)))]
        pick = rng.integers(len(own), size=len(batch))
        levels = _levels(bars, batch, long, stop_dist[pick], target_dist[pick])
        sides = np.full(len(batch), long)
        exits = follow(bars, batch, sides, *levels, ttl=ttl, end=end)
        drawn.append((batch, sides, *levels, exits.bar, exits.reason, exits.trigger))
        for j, (e, x) in enumerate(zip(batch.tolist(), exits.bar.tolist(), strict=True)):
            if 1 in held[e + 1:x + 1]:
                continue  # not flat for its whole holding
            held[e + 1:x + 1] = b"\x01" * (x - e)
            chosen.append(base + j)
            if len(chosen) == wanted:
                break
        offset += len(batch)
        base += len(batch)
    columns = [np.concatenate(c) for c in zip(*drawn, strict=True)]
    picked = np.array(chosen, dtype=np.int64)
    keep = picked[np.argsort(columns[0][picked], kind="stable")]
    entry, sides, stop, has_stop, target, has_target, bar, reason, trigger = (c[keep] for c in columns)
    return Trades.fill(bars, timestamps, entry, sides, stop, has_stop, target, has_target,
                       Exits(bar=bar, reason=reason, trigger=trigger), fee_pct, slippage_pct)


def _levels(bars: TickBars, entry: np.ndarray, long: bool, stop_dist: np.ndarray,
            target_dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(stop, has_stop, target, has_target) in ticks at these bars' closes, rounded as stop_levels rounds."""
    price = bars.close[entry].astype(np.float64) / 10.0**bars.decimals
    sign = 1.0 if long else -1.0
    # stop_levels rounds a BUY's stop and target down and a SELL's both up; at least one tick
    stop, has_stop = level_ticks(price * (1 - sign * stop_dist), bars.decimals, up=not long)
    target, has_target = level_ticks(price * (1 + sign * target_dist), bars.decimals, up=not long)
    return np.maximum(stop, 1), has_stop, np.maximum(target, 1), has_target
