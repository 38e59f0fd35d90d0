"""One position-monitoring tick over 10,000 open positions on 100 symbols.

Prints the time of the decision step (integer ticks in numpy over all positions, every bar since the last
look; goal < 50 ms) with one new bar per symbol (a live tick's usual load) and with an hour of 5m bars (a
catch-up), the book's load (exact levels from the stored text), the full tick with storage (load, prices,
bars, decide, write marks), and the ratio to a per-position loop in Decimal over prices only, the way the
seeds' monitors check one position at a time.

    python -m bench.positions [--positions 10000] [--symbols 100]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from bot.app import open_core
from bot.core.jobs.positions import PositionMonitor, TickResult
from bot.core.service import TipsterCore
from bot.settings import load_settings
from engine.brokers.base import Side
from engine.market.replay import ReplayMarket
from engine.models import Candles
from engine.positions import ExitBook, Position, SymbolBars, build_window, decide, pnl_fraction
from storage.db import to_db_time

# Run as a script (`python bench/positions.py`), Python puts bench/ on sys.path, not the repo root, and bench/
# and tests/ are not installed packages: put the root first, as `python -m bench.positions` has it.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.monitoring import AliasMarket  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


class BarsMarket(AliasMarket):
    """The aliased replay with its bars since a time, as the monitor reads them."""

    async def bars_since(self, symbol: str, since: datetime) -> Candles:
        candles = await self.inner.bars_since(self.aliases[symbol], since)
        return candles.model_copy(update={"symbol": symbol})


async def seed_positions(core: TipsterCore, market: AliasMarket, count: int) -> None:
    rng = random.Random(11)
    user, _ = await core.storage.users.register("console:bench", "trader")
    now = to_db_time(datetime.now(UTC))
    prices = {s: await market.last_price(s) for s in market.symbols()}
    rows = []
    for i in range(count):
        symbol = market.symbols()[i % len(prices)]
        price = prices[symbol]
        side = "long" if i % 2 else "short"
        # on the symbol's tick, as a fill is
        entry = (price * Decimal(str(round(rng.uniform(0.97, 1.03), 4)))).quantize(Decimal("0.01"))
        qty = (Decimal(500) / entry).quantize(Decimal("0.00000001"))
        far, near = Decimal("0.5"), Decimal("1.5")
        sl, tp = (entry * far, entry * near) if side == "long" else (entry * near, entry * far)
        rows.append((user.id, "console", "bench", symbol, side, "paper", "open", "500", str(qty), str(entry),
                     "0.5", str(sl.quantize(Decimal("0.01"))), str(tp.quantize(Decimal("0.01"))), 2, str(entry),
                     now, now, now))
    async with core.storage.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO positions(user_id, platform, chat_id, symbol, side, broker, status, notional, quantity,"
            " entry_price, entry_fee, stop_loss, take_profit, price_decimals, trail_extreme, created_at, opened_at,"
            " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def per_position_loop(positions: list[Position], prices: dict[str, Decimal], trailing: Decimal,
                      activation: Decimal) -> int:
    """One position at a time, in Decimal: PnL, trailing update, stop/target/trail checks."""
    exits = 0
    for p in positions:
        price = prices[p.symbol]
        assert p.entry_price is not None
        pnl_fraction(p.side, p.entry_price, price)
        extreme = p.trail_extreme or p.entry_price
        if p.side is Side.LONG:
            extreme = max(extreme, price)
            best = (extreme - p.entry_price) / p.entry_price
            trail = extreme * (1 - trailing / 100)
            hit = (p.stop_loss and price <= p.stop_loss) or (p.take_profit and price >= p.take_profit) or \
                (best * 100 >= activation and price <= trail)
        else:
            extreme = min(extreme, price)
            best = (p.entry_price - extreme) / p.entry_price
            trail = extreme * (1 + trailing / 100)
            hit = (p.stop_loss and price >= p.stop_loss) or (p.take_profit and price <= p.take_profit) or \
                (best * 100 >= activation and price >= trail)
        exits += bool(hit)
    return exits


def decide_book(book: ExitBook, prices: dict[str, Decimal], bars: dict[str, SymbolBars | None]) -> int:
    """The monitor's decision step: bars and prices spread by symbol index, then every rule as array
    operations on integer ticks, bar by bar."""
    since = np.full(len(book), -np.inf)
    window = build_window(book, bars, {s: float(p) for s, p in prices.items()}, since)
    tick = decide(book, window, 2.0, 1.0, 1.0, 5.0)
    return int((tick.exit_code != 0).sum())


async def bars_back(market: BarsMarket, seconds: float) -> dict[str, SymbolBars | None]:
    out: dict[str, SymbolBars | None] = {}
    for symbol in market.symbols():
        now = await market.as_of(symbol)
        assert now is not None
        out[symbol] = SymbolBars.from_candles(await market.bars_since(symbol, now - timedelta(seconds=seconds)))
    return out


async def main(count: int, symbols: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(CONFIG, storage={"sqlite_path": f"{tmp}/bench.sqlite"},
                                 sentiment={"model": "offline"})
        replay = ReplayMarket(start=settings.market.replay.start, speed=0)
        market = BarsMarket(replay, symbols)
        async with open_core(settings, market=market) as core:
            await replay.preload(["BTC/USDT", "ETH/USDT", "SOL/USDT"])
            await seed_positions(core, market, count)
            monitor = PositionMonitor(core, core.trading)
            positions = await core.trading.repo.with_status("open")
            prices = {s: await market.last_price(s) for s in market.symbols()}
            t = time.perf_counter()
            book = ExitBook.from_rows(await core.trading.repo.open_levels())
            load = time.perf_counter() - t
            one_bar, an_hour = await bars_back(market, 300), await bars_back(market, 3600)
            bar_counts = sorted({len(b.timestamps) for b in an_hour.values() if b is not None})
            decide_times, hour_times, loop_times = [], [], []
            for _ in range(5):
                t = time.perf_counter()
                decide_book(book, prices, one_bar)
                decide_times.append(time.perf_counter() - t)
                t = time.perf_counter()
                decide_book(book, prices, an_hour)
                hour_times.append(time.perf_counter() - t)
                t = time.perf_counter()
                per_position_loop(positions, prices, Decimal(2), Decimal(1))
                loop_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            await monitor.run()
            first = time.perf_counter() - t
            full = []
            for _ in range(3):
                t = time.perf_counter()
                result: TickResult = await monitor.run()
                full.append(time.perf_counter() - t)
    best_decide, best_loop = min(decide_times), min(loop_times)
    print(f"positions: {count} open on {symbols} symbols (paper, replay prices)")
    print(f"decision step over the open book (integer ticks, one new bar per symbol): {best_decide * 1000:.2f} ms"
          " (goal < 50 ms)")
    print(f"decision step with an hour of bars per symbol ({'/'.join(map(str, bar_counts))} bars): "
          f"{min(hour_times) * 1000:.2f} ms")
    print(f"per-position Decimal loop (prices only): {best_loop * 1000:.1f} ms  → ratio {best_loop / best_decide:.1f}×")
    print(f"loading the book (all {count} rows, exact levels from their text): {load * 1000:.0f} ms")
    print(f"first tick, reading all {count} rows from SQLite: {first * 1000:.0f} ms")
    print(f"steady-state tick (open book kept in memory, {symbols} prices, decide, write what moved): "
          f"{min(full) * 1000:.1f} ms; last tick: {result.positions} checked, {result.exits} exits")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.positions, args.symbols))
