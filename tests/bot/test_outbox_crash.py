"""kill -9 in the middle of draining: nothing queued is lost, at most max_in_flight alerts arrive twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from bot.core.outbox import AlertOutbox
from bot.core.replies import Reply
from storage.db import Database
from tests.support.bot_api_server import FakeBotApi
from tests.support.outbox_worker import DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parents[2]
ALERTS, CHATS, MAX_IN_FLIGHT = 200, 100, 4
MARKER = re.compile(r"alert-(\d+)#")


async def start_worker(db_path: Path, api: FakeBotApi, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPSTER_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.outbox_worker", str(db_path), api.base_url,
        "--token", DEFAULT_TOKEN, "--max-in-flight", str(MAX_IN_FLIGHT),
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,
    )


def delivered_markers(api: FakeBotApi) -> Counter[int]:
    found: Counter[int] = Counter()
    for record in api.sent:
        match = MARKER.search(record.text or "")
        if record.method == "sendMessage" and match:
            found[int(match.group(1))] += 1
    return found


async def test_sigkill_mid_drain_loses_nothing_and_duplicates_at_most_max_in_flight(tmp_path: Path):
    db_path, log = tmp_path / "crash.sqlite", tmp_path / "worker.log"
    async with Database(db_path) as db:
        outbox = AlertOutbox.for_db(db)
        for n in range(ALERTS):
            await outbox.enqueue("telegram", str(1000 + n % CHATS), Reply(title="Alert", text=f"alert-{n}#"),
                                 "broadcast")

    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        api.delay("sendMessage", 0.01)  # draining takes a while, so the kill lands mid-way
        worker = await start_worker(db_path, api, log)
        deadline = time.monotonic() + 15
        while len(api.sent) < 20:
            assert worker.returncode is None, log.read_text()
            assert time.monotonic() < deadline, f"worker sent too little: {len(api.sent)}\n{log.read_text()}"
            await asyncio.sleep(0.005)
        worker.send_signal(signal.SIGKILL)
        assert await worker.wait() == -signal.SIGKILL
        before_restart = len(delivered_markers(api))
        assert 20 <= before_restart < ALERTS  # really killed mid-drain

        worker = await start_worker(db_path, api, log)
        assert await asyncio.wait_for(worker.wait(), 30) == 0, log.read_text()
        delivered = delivered_markers(api)

    assert set(delivered) == set(range(ALERTS)), f"lost: {sorted(set(range(ALERTS)) - set(delivered))}"
    duplicates = sum(count - 1 for count in delivered.values())
    print(f"killed after {before_restart} deliveries; {duplicates} duplicate(s) after the restart")
    assert duplicates <= MAX_IN_FLIGHT, delivered.most_common(8)
    assert api.errors == []
    async with Database(db_path) as db:
        totals = await AlertOutbox.for_db(db).alerts.status_totals("telegram")
    assert totals["sent"] == ALERTS and totals["pending"] == totals["sending"] == 0
