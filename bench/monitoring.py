"""One signal-monitoring cycle over 10,000 live tips on 100 symbols (replay data, offline sentiment model).

Every cycle re-scores every tip (candles and indicators once per (symbol, timeframe), sentiment once per
symbol, each tip's own thresholds and weights as arrays), stores the tips whose recommendation changed with
their history events and owner alerts, and bumps the compact counter of every other tip in one batched write.
Prints each timed cycle (goal: < 0.25 s) and the ratio to re-evaluating each tip on its own, as seed 000's
monitor does (fetch, indicators, sentiment and fusion per tip). The per-tip reference is timed on a sample and
scaled up, so the bench finishes in about a minute.

`seed_signals` and `cycle_figures` work on any core, whatever MarketData it was opened with: to time the same
cycle against another source (e.g. a live ccxt source behind a local exchange server), open a core on it,
seed its symbols and pass `cycle_figures` a coroutine that moves that source's market on by a bar.

    python -m bench.monitoring [--signals 10000] [--symbols 100] [--sample 500] [--no-live]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from bot.app import open_core
from bot.core.jobs.monitor import CycleResult, SignalMonitor
from bot.core.service import TipsterCore
from bot.settings import Settings, load_settings
from engine.market.base import MarketData
from engine.market.replay import ReplayMarket
from engine.models import Candles, SignalParams
from engine.signals import generate_signal
from storage.db import to_db_time, utcnow

# Run as a script (`python bench/monitoring.py`), Python puts bench/ on sys.path, not the repo root, and bench/
# and tests/ are not installed packages: put the root first, as `python -m bench.monitoring` has it.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASES = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
DATA_DIR = CONFIG.parent / "engine" / "market" / "data"


class AliasMarket:
    """100 symbols served from the bundled crypto series (SYM00/USDT … → BTC, ETH, SOL in turn)."""

    name = "replay (aliased for the bench)"
    demo = True

    def __init__(self, inner: ReplayMarket, count: int) -> None:
        self.inner = inner
        self.aliases = {f"SYM{i:02d}/USDT": BASES[i % len(BASES)] for i in range(count)}

    def symbols(self) -> list[str]:
        return list(self.aliases)

    def timeframes(self, symbol: str) -> list[str]:
        return self.inner.timeframes(self.aliases[symbol])

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        candles = await self.inner.fetch_ohlcv(self.aliases[symbol], timeframe, bars)
        return candles.model_copy(update={"symbol": symbol})

    async def last_price(self, symbol: str) -> Decimal:
        return await self.inner.last_price(self.aliases[symbol])

    async def as_of(self, symbol: str) -> datetime | None:
        return await self.inner.as_of(self.aliases[symbol])

    def status(self) -> dict[str, str]:
        return self.inner.status()


async def seed_signals(core: TipsterCore, market: MarketData, count: int) -> None:
    """10,000 tips in one transaction, each with its own thresholds and weights."""
    rng = random.Random(7)
    user, _ = await core.storage.users.register("console:bench", "trader")
    templates = {}
    for symbol in market.symbols():
        templates[symbol] = await generate_signal(symbol, "1h", SignalParams(), market, core.services.sentiment)
    now = to_db_time(utcnow())
    rows = []
    for i in range(count):
        symbol = market.symbols()[i % len(templates)]
        tw = round(rng.uniform(0.3, 0.9), 2)
        params = SignalParams(buy_threshold=round(rng.uniform(0.05, 0.5), 2),
                              sell_threshold=round(rng.uniform(-0.5, -0.05), 2),
                              technical_weight=tw, sentiment_weight=round(1 - tw, 2))
        s = templates[symbol].model_copy(update={"params": params, "user_id": user.id})
        rows.append((user.id, "console", "bench", s.symbol, s.timeframe, s.recommendation.value, s.confidence,
                     s.technical_score, s.sentiment_score, s.fused_score, str(s.price), str(s.atr),
                     None, None, to_db_time(s.bar_time), 1, s.model_dump_json(exclude={"id"}), now, now))
    async with core.storage.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO signals(user_id, platform, chat_id, symbol, timeframe, recommendation, confidence,"
            " technical_score, sentiment_score, fused_score, price, atr, stop_loss, take_profit, bar_time, demo,"
            " data_json, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


async def per_signal_reference(core: TipsterCore, market: MarketData, sample: int) -> float:
    """Seed 000's way: every tip fetched, computed, scored and written on its own. Seconds per tip."""
    signals = (await SignalMonitor(core).repo.active())[:sample]
    started = time.perf_counter()
    for old in signals:
        fresh = await generate_signal(old.symbol, old.timeframe, old.params, market, core.services.sentiment)
        if fresh.recommendation != old.recommendation:
            await core.storage.signals.set_status(old.id, "active", "status_changed", "bench")
        else:
            await core.storage.db.execute(
                "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                " VALUES (?, 'monitoring_cycle', 'bench', ?, ?)",
                (old.id, json.dumps({"fused": fresh.fused_score}), to_db_time(utcnow())))
    return (time.perf_counter() - started) / max(1, len(signals))


@dataclass
class CycleFigures:
    first: CycleResult  # the first cycle also copies each new tip's fields into monitor_tips, once per tip
    timed: list[CycleResult]

    @property
    def best(self) -> CycleResult:
        return min(self.timed, key=lambda r: r.duration_ms)


async def cycle_figures(core: TipsterCore, advance: Callable[[], Awaitable[None]], cycles: int = 3) -> CycleFigures:
    """Time `cycles` monitoring cycles over the tips already stored in `core`, moving the market forward with
    `advance` before each one so every cycle scores new bars (and some tips change)."""
    monitor = SignalMonitor(core)
    first = await monitor.run_cycle()
    timed = []
    for _ in range(cycles):
        await advance()
        result = await monitor.run_cycle()
        assert result.errors == 0, result.failed_groups
        # Every active tip was re-scored (checked outside the timed cycle).
        assert result.monitored == await core.storage.db.scalar("SELECT COUNT(*) FROM signals WHERE status = 'active'")
        timed.append(result)
    return CycleFigures(first, timed)


def bench_settings(tmp: str) -> Settings:
    return load_settings(CONFIG, storage={"sqlite_path": f"{tmp}/bench.sqlite"}, sentiment={"model": "offline"},
                         monitor={"signal_ttl_bars": 10_000})


async def replay_figures(signals: int, symbols: int, sample: int) -> tuple[CycleFigures, float]:
    """The cycle on the bundled replay (aliased to `symbols` symbols), and seconds per tip of the per-tip way."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(tmp)
        replay = ReplayMarket(start=settings.market.replay.start, speed=0)
        market = AliasMarket(replay, symbols)
        async with open_core(settings, market=market) as core:
            await replay.preload(BASES)
            await seed_signals(core, market, signals)

            async def an_hour_later() -> None:
                replay.advance(3600)

            figures = await cycle_figures(core, an_hour_later)
            per_tip = await per_signal_reference(core, market, sample)
    return figures, per_tip


async def live_figures(signals: int, symbols: int) -> CycleFigures:
    """The same cycle with the live ccxt source (the production CcxtMarket, uncached) behind a local server
    speaking Binance's REST API: `symbols` spot markets, each serving a bundled 1h series re-timed so that its
    last bar is forming now; each step moves the source's clock and the served series on by an hour."""
    import pandas as pd

    from engine.market.cache import CachedMarket
    from engine.market.ccxt_market import CcxtMarket
    from tests.support.fake_exchange import FakeBinance, Kline

    data = DATA_DIR
    series = {base: pd.read_csv(data / f"{base.replace('/', '_')}-1h.csv.gz") for base in BASES}
    names = [f"S{i:02d}/USDT" for i in range(symbols)]
    clock = [time.time()]
    step = [0]
    exchange = FakeBinance()
    await exchange.start()

    def serve() -> None:
        bucket = int(clock[0]) // 3600 * 3600
        for i, name in enumerate(names):
            frame = series[BASES[i % len(BASES)]]
            end = len(frame) - 50 + step[0]
            rows = frame.iloc[end - 260:end]
            bars = [Kline(bucket - (len(rows) - 1 - j) * 3600, r.open, r.high, r.low, r.close, r.volume)
                    for j, r in enumerate(rows.itertuples())]
            exchange.set_bars(name.replace("/", ""), 3600, bars)

    for name in names:
        exchange.add_market(name.replace("/", ""), name.split("/")[0], "USDT")
    serve()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(CONFIG, storage={"sqlite_path": f"{tmp}/bench.sqlite"},
                                     market={"source": "live", "exchange_api_url": exchange.base_url},
                                     sentiment={"model": "offline", "rss_feeds": {}, "subreddits": {}},
                                     monitor={"signal_ttl_bars": 10_000})
            market = CachedMarket(CcxtMarket("binance", api_url=exchange.base_url, clock=lambda: clock[0]), ttl=0)
            async with open_core(settings, market=market) as core:
                await seed_signals(core, _Listed(market, names), signals)

                async def an_hour_later() -> None:
                    clock[0] += 3600
                    step[0] += 1
                    serve()

                return await cycle_figures(core, an_hour_later)
    finally:
        await exchange.stop()


class _Listed:
    """A market whose `symbols()` are the bench's (a live exchange lists every spot market it has)."""

    def __init__(self, inner: MarketData, names: list[str]) -> None:
        self.inner, self.names = inner, names

    def symbols(self) -> list[str]:
        return self.names

    def __getattr__(self, item: str) -> object:
        return getattr(self.inner, item)


async def main(signals: int, symbols: int, sample: int, live: bool) -> None:
    figures, per_tip = await replay_figures(signals, symbols, sample)
    best = figures.best
    reference = per_tip * signals
    print(f"signals: {signals} on {symbols} symbols (1h replay), offline sentiment model")
    print(f"first cycle (copies each new tip's fields once): {figures.first.duration_ms / 1000:.3f} s, "
          f"{figures.first.changed} changed")
    for n, r in enumerate(figures.timed, 1):
        print(f"cycle {n} an hour later: {r.duration_ms / 1000:.3f} s · {r.monitored} re-scored, {r.changed} changed")
    print(f"grouped, vectorised cycle: {best.duration_ms / 1000:.3f} s (best of {len(figures.timed)}; goal < 0.25 s)")
    print(f"per-tip re-evaluation as seed 000: {per_tip * 1000:.2f} ms per tip × {signals} = {reference:.1f} s "
          f"(timed on {sample} tips)")
    print(f"ratio per-tip / grouped: {reference / (best.duration_ms / 1000):.1f}×")
    if live:
        figures = await live_figures(signals, symbols)
        print(f"same cycle, live ccxt source behind the local Binance server ({symbols} spot markets, one "
              "klines request per group, uncached):")
        for n, r in enumerate(figures.timed, 1):
            print(f"  cycle {n}: {r.duration_ms / 1000:.3f} s · {r.monitored} re-scored, {r.changed} changed")
        print(f"  best of {len(figures.timed)}: {figures.best.duration_ms / 1000:.3f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--no-live", dest="live", action="store_false", help="skip the live-source cycle")
    args = parser.parse_args()
    asyncio.run(main(args.signals, args.symbols, args.sample, args.live))
