"""A process that drains the Telegram alert outbox of a database and exits when nothing is left to send.

The crash test runs it as a subprocess against a FakeBotApi in the test process, kills it with SIGKILL
mid-drain and runs it again:

    python -m tests.support.outbox_worker DB_PATH BASE_URL [--token T] [--overall N]

It uses the production path (`telegram_outbox_running`: a limiter-free Bot, recovery of rows a dead
process left `sending`, `alerts.max_in_flight` from the settings); only the database is bare, without the
market and sentiment a full core would load, so the process starts fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.core.outbox import AlertOutbox
from bot.settings import Settings
from bot.telegram.outbox_sender import telegram_outbox_running
from storage.db import Database

DEFAULT_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstu"


async def drain(db_path: str, base_url: str, token: str, overall: float | None, max_in_flight: int) -> int:
    settings = Settings.model_validate({
        "telegram": {"token": token, "base_url": base_url},
        "alerts": {"max_in_flight": max_in_flight},
    })
    async with Database(db_path) as db:
        outbox = AlertOutbox.for_db(db)
        async with telegram_outbox_running(settings, outbox, overall_per_second=overall,
                                           poll_interval=0.2) as drainer:
            while True:
                totals = await drainer.repo.status_totals("telegram")
                if totals["pending"] == 0 and totals["sending"] == 0:
                    break
                await asyncio.sleep(0.1)
        print(f"drained: {drainer.stats}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db_path")
    parser.add_argument("base_url")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--overall", type=float, default=None, help="overall messages/s cap (default: none)")
    parser.add_argument("--max-in-flight", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(drain(args.db_path, args.base_url, args.token, args.overall, args.max_in_flight))


if __name__ == "__main__":
    sys.exit(main())
