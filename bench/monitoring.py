"""One signal-monitoring cycle over 10,000 live tips on 100 symbols (replay data, offline sentiment model).

Prints the cycle time (goal: < 2 s on 2 cores) and the ratio to re-evaluating each tip on its own, as seed
000's monitor does (fetch, indicators, sentiment and fusion per tip). The per-tip reference is timed on a
sample and scaled up, so the bench finishes in about a minute.

    python -m bench.monitoring [--signals 10000] [--symbols 100] [--sample 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bot.app import open_core
from bot.core.jobs.monitor import SignalMonitor
from bot.core.service import TipsterCore
from engine.config import load_settings
from engine.market.base import MarketData
from engine.market.replay import ReplayMarket
from engine.models import Candles, SignalParams
from engine.signals import generate_signal
from storage.db import to_db_time, utcnow

BASES = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


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

    def status(self) -> dict[str, str]:
        return self.inner.status()


async def seed_signals(core: TipsterCore, market: AliasMarket, count: int) -> None:
    """10,000 tips in one transaction, each with its own thresholds and weights."""
    rng = random.Random(7)
    user, _ = await core.services.users.register("console:bench", "trader")
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
    async with core.services.db.transaction() as conn:
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
            await core.services.signals.set_status(old.id, "active", "status_changed", "bench")
        else:
            await core.services.db.execute(
                "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
                " VALUES (?, 'monitoring_cycle', 'bench', ?, ?)",
                (old.id, json.dumps({"fused": fresh.fused_score}), to_db_time(utcnow())))
    return (time.perf_counter() - started) / max(1, len(signals))


async def main(signals: int, symbols: int, sample: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(CONFIG,
                                 storage={"sqlite_path": f"{tmp}/bench.sqlite"}, sentiment={"model": "offline"},
                                 monitor={"signal_ttl_bars": 10_000})
        replay = ReplayMarket(start=settings.market.replay.start, speed=0)
        market = AliasMarket(replay, symbols)
        async with open_core(settings, market=market) as core:
            await replay.preload(BASES)
            await seed_signals(core, market, signals)
            monitor = SignalMonitor(core)
            await monitor.run_cycle()  # warm-up: caches, first-time imports
            times = []
            for _ in range(3):
                replay.advance(3600)
                result = await monitor.run_cycle()
                times.append(result.duration_ms / 1000)
                assert result.errors == 0, result.failed_groups
            cycle = min(times)
            per_tip = await per_signal_reference(core, market, sample)
    reference = per_tip * signals
    print(f"signals: {signals} on {symbols} symbols (1h replay), offline sentiment model")
    print(f"grouped, vectorised cycle: {cycle:.3f} s (best of 3; goal < 2 s); last cycle changed {result.changed}")
    print(f"per-tip re-evaluation as seed 000: {per_tip * 1000:.2f} ms per tip × {signals} = {reference:.1f} s "
          f"(timed on {sample} tips)")
    print(f"ratio per-tip / grouped: {reference / cycle:.1f}×")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.signals, args.symbols, args.sample))
