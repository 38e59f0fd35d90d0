"""The alert outbox on a real SQLite file, drained into a recording sender (a stand-in for a platform)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.core.outbox import (
    AlertOutbox,
    ChatUnreachable,
    OutboxDrainer,
    PermanentSendError,
    RetryLater,
    TransientSendError,
)
from bot.core.replies import Button, Reply
from storage.db import Database

PLATFORM = "test"


class RecordingSender:
    """A platform double: records what it delivered and when, measures concurrency, and raises scripted
    errors per chat (one per send, in order) before delivering."""

    platform = PLATFORM

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.delivered: list[tuple[str, str, float]] = []  # (chat, text, monotonic time)
        self.script: dict[str, list[Exception]] = defaultdict(list)
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, chat_id: str, reply: Reply) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if self.script[chat_id]:
                raise self.script[chat_id].pop(0)
            self.delivered.append((chat_id, reply.text, time.monotonic()))
        finally:
            self.in_flight -= 1

    def times(self, chat: str) -> list[float]:
        return [t for c, _, t in self.delivered if c == chat]

    def texts(self, chat: str) -> list[str]:
        return [text for c, text, _ in self.delivered if c == chat]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "outbox.sqlite") as database:
        yield database


@pytest.fixture
def outbox(db: Database) -> AlertOutbox:
    return AlertOutbox.for_db(db)


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


def settled(outbox: AlertOutbox) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        totals = await outbox.alerts.status_totals(PLATFORM)
        return totals["pending"] == 0 and totals["sending"] == 0

    return check


def drainer(outbox: AlertOutbox, sender: RecordingSender, **options: object) -> OutboxDrainer:
    options = {"per_chat_interval": 0.05, "poll_interval": 0.2, "backoff_base": 0.05, **options}
    return outbox.drainer(sender, options.pop("max_in_flight", 4), **options)  # type: ignore[arg-type]


async def test_an_alert_is_stored_before_anything_is_sent(tmp_path: Path, db: Database, outbox: AlertOutbox):
    reply = Reply(title="BTC/USDT: BUY → HOLD", text="Status changed", buttons=[[Button(label="Open", data="x")]])
    alert_id = await outbox.enqueue(PLATFORM, "7", reply, "status_change")

    # Another connection (as a restarted process would) sees the row, pending, with the whole reply.
    async with Database(tmp_path / "outbox.sqlite") as other:
        from storage.alerts import AlertRepository

        stored = await AlertRepository(other).get(alert_id)
    assert stored is not None and stored.status == "pending" and stored.kind == "status_change"
    assert Reply.model_validate(stored.payload) == reply

    sender = RecordingSender()
    async with drainer(outbox, sender):
        await until(settled(outbox))
    assert sender.texts("7") == ["Status changed"]
    sent = await outbox.alerts.get(alert_id)
    assert sent is not None and sent.status == "sent" and sent.sent_at is not None and sent.attempts == 1


async def test_enqueue_joins_the_callers_transaction_and_dedupes(db: Database, outbox: AlertOutbox):
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await outbox.enqueue(PLATFORM, "1", Reply(text="a"), "status_change", conn=conn)
            raise RuntimeError("the status change failed")
    assert (await outbox.alerts.status_totals(PLATFORM))["pending"] == 0  # rolled back with it

    async with db.transaction() as conn:
        first = await outbox.enqueue(PLATFORM, "1", Reply(text="a"), "scan", dedupe_key="scan:1:BTC:t0", conn=conn)
    again = await outbox.enqueue(PLATFORM, "1", Reply(text="a"), "scan", dedupe_key="scan:1:BTC:t0")
    assert first == again
    assert await outbox.alerts.counts(PLATFORM) == {
        "scan": {"pending": 1, "sending": 0, "sent": 0, "failed": 0, "dropped": 0}}


async def test_per_chat_pacing_keeps_one_send_per_interval_and_chats_interleave(outbox: AlertOutbox):
    for i in range(4):
        for chat in ("1", "2", "3"):
            await outbox.enqueue(PLATFORM, chat, Reply(text=f"{chat}-{i}"), "scan")
    sender = RecordingSender()
    async with drainer(outbox, sender, per_chat_interval=0.2):
        await until(settled(outbox))
    for chat in ("1", "2", "3"):
        assert sender.texts(chat) == [f"{chat}-{i}" for i in range(4)]  # in order
        times = sender.times(chat)
        assert all(b - a >= 0.2 for a, b in itertools.pairwise(times)), times
    # Other chats are not paced by chat 1: their first alerts go out before chat 1's second.
    assert max(sender.times("2")[0], sender.times("3")[0]) < sender.times("1")[1]


async def test_groups_get_at_most_n_per_window(outbox: AlertOutbox):
    for i in range(6):
        await outbox.enqueue(PLATFORM, "-100", Reply(text=f"g{i}"), "scan")
    sender = RecordingSender()
    async with drainer(outbox, sender, per_chat_interval=0.01, group_per_minute=3, group_window=0.5):
        await until(settled(outbox))
    times = sender.times("-100")
    assert len(times) == 6
    assert all(times[i + 3] - times[i] >= 0.5 for i in range(3)), times


async def test_a_flood_wait_holds_back_only_its_own_chat(outbox: AlertOutbox):
    sender = RecordingSender()
    sender.script["A"] = [RetryLater(1.0)]
    for i in range(2):
        await outbox.enqueue(PLATFORM, "A", Reply(text=f"A{i}"), "scan")
    for i in range(3):
        await outbox.enqueue(PLATFORM, "B", Reply(text=f"B{i}"), "scan")
    start = time.monotonic()
    async with drainer(outbox, sender, per_chat_interval=0.1) as d:
        await until(settled(outbox))
    assert sender.texts("A") == ["A0", "A1"] and sender.texts("B") == ["B0", "B1", "B2"]
    assert sender.times("B")[-1] - start < 0.8  # B did not wait for A's flood wait
    assert sender.times("A")[0] - start >= 1.0  # A did
    assert d.stats.flood_waits == 1
    first_a = (await outbox.alerts.for_chat(PLATFORM, "A"))[0]
    assert first_a.attempts == 1  # a flood wait does not use up an attempt


async def test_transient_errors_back_off_then_succeed_or_fail_after_max_attempts(outbox: AlertOutbox):
    sender = RecordingSender()
    sender.script["1"] = [TransientSendError("timed out"), TransientSendError("502")]
    sender.script["2"] = [TransientSendError("down")] * 3
    ok = await outbox.enqueue(PLATFORM, "1", Reply(text="eventually"), "scan")
    bad = await outbox.enqueue(PLATFORM, "2", Reply(text="never"), "scan")
    start = time.monotonic()
    async with drainer(outbox, sender, max_attempts=3, backoff_base=0.1) as d:
        await until(settled(outbox))
    assert sender.texts("1") == ["eventually"]
    assert sender.times("1")[0] - start >= 0.05 + 0.1  # at least half of each backoff step waited
    delivered = await outbox.alerts.get(ok)
    failed = await outbox.alerts.get(bad)
    assert delivered is not None and delivered.status == "sent" and delivered.attempts == 3
    assert failed is not None and failed.status == "failed" and "gave up after 3 attempts" in (failed.last_error or "")
    assert d.stats.retried == 4 and d.stats.failed == 1


async def test_an_unreachable_chat_is_blocked_and_its_queue_dropped_until_start(outbox: AlertOutbox):
    sender = RecordingSender()
    sender.script["B"] = [ChatUnreachable("Forbidden: bot was blocked by the user")]
    for i in range(3):
        for chat in ("B", "C"):
            await outbox.enqueue(PLATFORM, chat, Reply(text=f"{chat}{i}"), "status_change")
    hook_calls: list[tuple[str, str, str]] = []

    async def unsubscribe(platform: str, chat: str, reason: str) -> None:
        hook_calls.append((platform, chat, reason))

    async with drainer(outbox, sender, on_unreachable=unsubscribe):
        await until(settled(outbox))
        assert sender.texts("C") == ["C0", "C1", "C2"]
        assert sender.texts("B") == []
        assert await outbox.chats.is_blocked(PLATFORM, "B")
        assert [a.status for a in await outbox.alerts.for_chat(PLATFORM, "B")] == ["dropped"] * 3
        assert hook_calls == [(PLATFORM, "B", "Forbidden: bot was blocked by the user")]

        # While blocked, new alerts are stored already dropped; after /start they flow again.
        late = await outbox.enqueue(PLATFORM, "B", Reply(text="while blocked"), "scan")
        assert (await outbox.alerts.get(late)).status == "dropped"  # type: ignore[union-attr]
        assert await outbox.unblock_chat(PLATFORM, "B") is True
        assert await outbox.unblock_chat(PLATFORM, "B") is False
        await outbox.enqueue(PLATFORM, "B", Reply(text="after start"), "scan")
        await until(settled(outbox))
    assert sender.texts("B") == ["after start"]


async def test_a_permanent_error_fails_that_alert_only(outbox: AlertOutbox):
    sender = RecordingSender()
    sender.script["1"] = [PermanentSendError("Bad Request: can't parse entities")]
    await outbox.enqueue(PLATFORM, "1", Reply(text="bad"), "scan")
    await outbox.enqueue(PLATFORM, "1", Reply(text="good"), "scan")
    async with drainer(outbox, sender):
        await until(settled(outbox))
    assert sender.texts("1") == ["good"]
    statuses = [a.status for a in await outbox.alerts.for_chat(PLATFORM, "1")]
    assert statuses == ["failed", "sent"]


async def test_max_in_flight_is_never_exceeded(outbox: AlertOutbox):
    for chat in range(30):
        await outbox.enqueue(PLATFORM, str(chat), Reply(text="x"), "broadcast")
    sender = RecordingSender(latency=0.02)
    async with drainer(outbox, sender, max_in_flight=3) as d:
        await until(settled(outbox))
    assert len(sender.delivered) == 30
    assert sender.max_in_flight == 3 and d.stats.max_in_flight_seen == 3


async def test_stop_waits_for_sends_in_flight(outbox: AlertOutbox):
    for chat in range(3):
        await outbox.enqueue(PLATFORM, str(chat), Reply(text="x"), "broadcast")
    sender = RecordingSender(latency=0.3)
    d = drainer(outbox, sender)
    await d.start()
    await until(lambda: asyncio.sleep(0, result=sender.in_flight == 3))
    await d.stop()
    assert len(sender.delivered) == 3
    assert (await outbox.alerts.status_totals(PLATFORM))["sent"] == 3


async def test_rows_left_sending_by_a_crash_are_sent_after_restart(tmp_path: Path):
    path = tmp_path / "crash.sqlite"
    async with Database(path) as db:
        outbox = AlertOutbox.for_db(db)
        for chat in range(5):
            await outbox.enqueue(PLATFORM, str(chat), Reply(text=f"m{chat}"), "scan")
        claimed = await outbox.alerts.claim(PLATFORM, 2)  # the "process" dies holding these two
        assert [a.status for a in claimed] == ["sending", "sending"]
    async with Database(path) as db:
        outbox = AlertOutbox.for_db(db)
        assert (await outbox.alerts.status_totals(PLATFORM))["sending"] == 2
        sender = RecordingSender()
        async with drainer(outbox, sender):
            await until(settled(outbox))
        assert sorted(c for c, _, _ in sender.delivered) == ["0", "1", "2", "3", "4"]
        recovered = [await outbox.alerts.get(a.id) for a in claimed]
        assert all(a is not None and a.status == "sent" and a.attempts == 2 for a in recovered)


async def test_pacing_resumes_after_a_restart(outbox: AlertOutbox):
    await outbox.enqueue(PLATFORM, "1", Reply(text="first"), "scan")
    sender = RecordingSender()
    async with drainer(outbox, sender, per_chat_interval=0.5):
        await until(settled(outbox))
    await outbox.enqueue(PLATFORM, "1", Reply(text="second"), "scan")
    async with drainer(outbox, sender, per_chat_interval=0.5):  # a new drainer, as after a restart
        await until(settled(outbox))
    first, second = sender.times("1")
    assert second - first >= 0.45  # sent_at is stored with microseconds; allow clock-mapping slack


async def test_the_console_prints_alerts_as_they_arrive(core):
    import io

    from bot.console.chat import ConsoleChat
    out = io.StringIO()
    chat = ConsoleChat(core, stdin=io.StringIO(""), stdout=out)
    outbox = core.services.outbox
    async with chat.printing_alerts():
        await outbox.enqueue("console", "local", Reply(title="ETH/USDT · 1h", text="BUY → HOLD",
                                                       buttons=[[Button(label="📜 History", data="h")]]),
                             "status_change")
        await until(lambda: asyncio.sleep(0, result="BUY → HOLD" in out.getvalue()), within=5)
    assert "🔔 ALERT: ETH/USDT · 1h\nBUY → HOLD\n[1] 📜 History" in out.getvalue()
    assert chat._choices == {"1": "h"}  # its button can be pressed by number, like any reply's
