"""Alert outbox throughput: N alerts to M chats through the local Bot API server (tests/support) with a
real PTB Bot, the production sender and drainer, on a SQLite file.

Run from the project root: `.venv/bin/python -m bench.outbox` (10,000 alerts to 1,000 chats).

Prints messages/s, the most messages any one chat got within 1 s (must be 1: Telegram allows 1/s per chat)
and the most messages within any 1 s overall. With 1/s per chat, 1,000 chats could take 1,000 messages/s;
Telegram itself allows ~30/s per bot, which the production drainer keeps (`--limit-overall`, 25/s for
alerts). At that rate 10,000 alerts take ~6.7 min, so the default run measures the drainer uncapped and
`--limit-overall` is meant with fewer alerts, e.g. `--alerts 1000 --limit-overall`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from bot.core.outbox import AlertOutbox
from bot.core.replies import Button, Reply
from bot.telegram.outbox_sender import ALERTS_PER_SECOND, TelegramAlertSender, outbox_bot
from storage.db import Database

# Run as a script (`python bench/outbox.py`), Python puts bench/ on sys.path, not the repo root, and bench/
# and tests/ are not installed packages: put the root first, as `python -m bench.outbox` has it.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.bot_api_server import FakeBotApi  # noqa: E402

TOKEN = "123456:BENCH-token-abcdefghijklmnopqrst"
FIRST_CHAT = 10_000


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def serve(pipe: Connection, latency: float) -> None:
    """The fake Bot API in its own process: Telegram's servers are not on the bot's CPU either, and sharing
    one core with the fake would mostly measure the fake. Answers one request for its records, then exits."""

    async def main() -> None:
        async with FakeBotApi(token=TOKEN) as api:
            if latency:
                api.delay("sendMessage", latency)
            pipe.send(api.base_url)
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
            chats = {r.chat_id for r in api.sent}
            pipe.send({
                "sent": len(api.sent),
                "rejected": len(api.rejected),
                "errors": api.errors,
                "per_chat_peak": max((api.max_sends_in_window(c, 1.0) for c in chats), default=0),
                "overall_peak": max_in_window([r.timestamp for r in api.sent]),
            })

    asyncio.run(main())


async def run(alerts: int, chats: int, max_in_flight: int, overall: float | None, latency: float) -> None:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(child, latency), daemon=True)
    server.start()
    base_url = parent.recv()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with Database(Path(tmp) / "bench.sqlite") as db:
                outbox = AlertOutbox.for_db(db)
                start = time.perf_counter()
                async with db.transaction() as conn:
                    for n in range(alerts):
                        reply = Reply(title="BTC/USDT · 1h", text=f"BUY → HOLD (alert {n})",
                                      buttons=[[Button(label="📜 History", data=f"h:{n}")]])
                        await outbox.alerts.enqueue("telegram", str(FIRST_CHAT + n % chats), "status_change",
                                                    reply.model_dump(mode="json"), conn=conn)
                print(f"enqueued {alerts:,} alerts to {chats:,} chats in {time.perf_counter() - start:.2f} s")

                async with outbox_bot(TOKEN, base_url, pool_size=max_in_flight + 2) as bot:
                    drainer = outbox.drainer(TelegramAlertSender(bot), max_in_flight, overall_per_second=overall)
                    start = time.perf_counter()
                    await drainer.start()
                    while drainer.stats.sent < alerts:  # noqa: ASYNC110 - the drainer has no "all done" event
                        await asyncio.sleep(0.05)
                    elapsed = time.perf_counter() - start
                    await drainer.stop()
                totals = await outbox.alerts.status_totals("telegram")
        parent.send("report")
        seen = parent.recv()
    finally:
        server.join(timeout=5)
        if server.is_alive():
            server.kill()

    cap = f"{overall:g}/s overall cap" if overall else "no overall cap"
    print(f"drained in {elapsed:.2f} s with max_in_flight={max_in_flight}, {cap}, "
          f"server latency {latency * 1e3:g} ms (server in its own process)")
    print(f"  messages/s:                        {alerts / elapsed:,.0f}")
    print(f"  max messages to one chat in 1 s:   {seen['per_chat_peak']}")
    print(f"  max messages overall in 1 s:       {seen['overall_peak']}")
    print(f"  rows: {totals}")
    print(f"  drainer: {drainer.stats}")
    assert totals["sent"] == seen["sent"] == alerts, (totals, seen)
    assert seen["rejected"] == 0 and not seen["errors"], seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=1_000)
    parser.add_argument("--max-in-flight", type=int, default=4, help="alerts.max_in_flight (default 4)")
    parser.add_argument("--limit-overall", nargs="?", type=float, const=ALERTS_PER_SECOND, default=None,
                        metavar="PER_S", help=f"cap messages/s across chats (default when given: "
                                              f"{ALERTS_PER_SECOND:g}, the production setting)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="server delay per sendMessage")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.alerts, args.chats, args.max_in_flight, args.limit_overall, args.latency_ms / 1e3))


if __name__ == "__main__":
    main()
