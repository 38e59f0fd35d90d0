"""A bot process that opens, closes or reconciles one Alpaca position, for the kill -9 crash test.

    python -m tests.support.position_worker DB_PATH ALPACA_URL open|close|reconcile|sync
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bot.app import open_core
from bot.core.views.positions import close_reply, open_reply
from bot.settings import load_settings
from engine.brokers.base import Side

CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"
SYMBOL = "AAPL"


async def main(db: str, url: str, action: str) -> None:
    settings = load_settings(CONFIG, storage={"sqlite_path": db}, sentiment={"model": "offline"},
                             brokers={"default": "alpaca",
                                      "alpaca": {"key": "PKTESTKEY", "secret": "test-secret", "base_url": url}})
    async with open_core(settings) as core:
        user = await core.ensure_user_identity("console:crash")
        trading = core.trading
        if action == "open":
            price = await core.services.market.last_price(SYMBOL)
            quote = await trading.quote(user, SYMBOL, Side.LONG, Decimal(1000), (price * Decimal("0.9")).quantize(
                Decimal("0.01")), (price * Decimal("1.1")).quantize(Decimal("0.01")), 2, None)
            print(open_reply(await trading.open(user, "console", "crash", quote)).plain(), flush=True)
        elif action == "close":
            [position] = await trading.repo.with_status("open")
            print(close_reply(await trading.close(position, "manual")).plain(), flush=True)
        elif action == "sync":
            print(f"broker exits {await trading.sync_broker_exits()}", flush=True)
        else:
            # Far enough in the future that no pending order is "maybe still in flight".
            settled = await trading.reconcile(now=datetime.now(UTC) + timedelta(minutes=5))
            print(f"reconciled {settled}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
