"""The bounded parts of a graceful shutdown, in process: the scheduler's stop lets a running step finish or
cuts it after its grace (rolling its transaction back), and the outbox drainer's stop finishes sends in
flight or puts the cut ones back to `pending`, never leaving a row `sending`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.core.outbox import AlertOutbox
from bot.core.replies import Reply
from bot.core.scheduler import JobScheduler
from bot.core.service import TipsterCore
from storage.db import Database


class SlowSender:
    """A platform double whose sends take `seconds` (or until released)."""

    platform = "test"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = asyncio.Event()
        self.delivered: list[str] = []

    async def send(self, chat_id: str, reply: Reply) -> None:
        self.started.set()
        await asyncio.sleep(self.seconds)
        self.delivered.append(reply.text)


async def _drain_one(tmp_path: Path, seconds: float, grace: float) -> tuple[SlowSender, dict[str, int], int, float]:
    async with Database(str(tmp_path / "o.sqlite")) as db:
        outbox = AlertOutbox.for_db(db)
        alert = await outbox.enqueue("test", "7", Reply(text="hello"), "announcement")
        sender = SlowSender(seconds)
        drainer = outbox.drainer(sender, 2, per_chat_interval=0.0, group_per_minute=0)
        await drainer.start()
        await asyncio.wait_for(sender.started.wait(), 5)
        began = time.monotonic()
        await drainer.stop(grace=grace)
        took = time.monotonic() - began
        row = await outbox.alerts.get(alert)
        assert row is not None
        return sender, await outbox.alerts.status_totals("test"), row.attempts, took


async def test_stop_waits_for_the_send_in_flight_and_marks_it_sent(tmp_path: Path) -> None:
    sender, totals, _, took = await _drain_one(tmp_path, seconds=0.3, grace=5)
    assert sender.delivered == ["hello"]
    assert totals["sent"] == 1 and totals["sending"] == 0
    assert 0.2 < took < 2


async def test_a_send_past_the_grace_is_cut_and_queued_again_without_using_an_attempt(tmp_path: Path) -> None:
    sender, totals, attempts, took = await _drain_one(tmp_path, seconds=60, grace=0.2)
    assert sender.delivered == []
    assert totals["pending"] == 1 and totals["sending"] == 0
    assert attempts == 0  # the claim counted one; a cut at shutdown is not the alert's fault
    assert took < 2


async def test_scheduler_stop_lets_a_short_step_finish(core: TipsterCore) -> None:
    finished: list[str] = []

    async def step() -> None:
        await asyncio.sleep(0.2)
        finished.append("step")

    scheduler = JobScheduler(core)
    scheduler.add("slowjob", step, lambda: 0.05)
    await scheduler.start()
    deadline = time.monotonic() + 5
    while scheduler.jobs["slowjob"].task is None:  # the first run is under way
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await scheduler.stop(grace=5)
    assert finished == ["step"]  # APScheduler's own shutdown would have cancelled it
    await asyncio.sleep(0.05)  # AsyncIOScheduler shuts down on the loop's next turn
    assert scheduler.stopping and not scheduler.scheduler.running


async def test_scheduler_stop_cuts_a_stuck_step_after_its_grace_and_its_transaction_rolls_back(
        core: TipsterCore) -> None:
    db = core.storage.db
    inside = asyncio.Event()

    async def stuck() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO kv(key, value) VALUES ('half-done', '1')")
            inside.set()
            await asyncio.sleep(3600)

    scheduler = JobScheduler(core)
    scheduler.add("stuck", stuck, lambda: 0.05)
    await scheduler.start()
    await asyncio.wait_for(inside.wait(), 5)
    began = time.monotonic()
    await scheduler.stop(grace=0.3)
    assert time.monotonic() - began < 2
    assert await core.storage.kv.get("half-done") is None  # rolled back, not committed half-way
    assert scheduler.jobs["stuck"].task is None
    await core.storage.kv.set("after", "x")  # the database is usable: no transaction was left open
    assert await core.storage.kv.get("after") == "x"
