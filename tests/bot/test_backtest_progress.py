"""A long /backtest shows how far it is (one message, edited at most once a second) and stops on /cancel or
its [Cancel] button, only for the user who started it; a user runs one at a time."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import pytest

from bot.core.progress import Progress, Run
from bot.core.replies import Button, Reply
from bot.core.service import TipsterCore
from tests.conftest import user_ctx

ME = user_ctx(1)
OTHER = user_ctx(2)


class SlowModel:
    """The core's own model, slowed per call, counting calls: a stand-in for FinBERT's minutes of scoring."""

    def __init__(self, inner: object, delay: float) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[attr-defined]
        self.delay = delay
        self.calls = 0

    def score(self, texts: list[str]) -> list[float]:
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.score(texts)  # type: ignore[attr-defined]


class RecordingSink:
    """What an adapter's progress message would show, with when."""

    def __init__(self) -> None:
        self.shown: list[tuple[float, Reply]] = []
        self.first = asyncio.Event()

    async def show(self, reply: Reply) -> None:
        self.shown.append((time.monotonic(), reply))
        self.first.set()


def slow(core: TipsterCore, delay: float) -> SlowModel:
    model = SlowModel(core.services.sentiment.model, delay)
    core.services.sentiment.model = model  # type: ignore[attr-defined]
    return model


async def test_progress_is_one_message_edited_at_most_once_a_second_then_the_report(core: TipsterCore):
    slow(core, 0.05)  # 1,783 headlines in 56 batches: about 3 s of scoring
    sink = RecordingSink()
    started = time.monotonic()
    [report] = await core.handle_text(ME, "/backtest BTC/USDT 1h", progress=sink)
    assert "Hit rate:" in report.text and report.image is not None
    *updates, (_, last) = sink.shown
    assert len(updates) >= 2, [r.text for _, r in sink.shown]
    assert updates[0][0] - started >= 1.0  # a run shorter than a second would post nothing
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(updates)]
    assert min(gaps) >= 0.99, gaps
    for _, reply in updates:
        assert reply.text.startswith("⏳ Backtest of BTC/USDT 1h: ")
        [[button]] = reply.buttons
        assert "Cancel" in button.label
    assert any("scoring headlines" in r.text and "/1,783" in r.text for _, r in updates)
    assert last.buttons == [] and "done after" in last.text


async def test_a_fast_backtest_posts_no_progress_message(core: TipsterCore):
    sink = RecordingSink()
    [report] = await core.handle_text(ME, "/backtest BTC/USDT 1h strategy=hyperrsi", progress=sink)
    assert "Hit rate:" in report.text
    assert sink.shown == []  # no sentiment to score: well under a second


async def _started(core: TipsterCore, ctx=ME, delay: float = 0.05) -> tuple[asyncio.Task, RecordingSink, SlowModel]:
    model = slow(core, delay)
    sink = RecordingSink()
    task = asyncio.create_task(core.handle_text(ctx, "/backtest BTC/USDT 1h", progress=sink))
    await asyncio.wait_for(sink.first.wait(), 60)
    return task, sink, model


def cancel_data(sink: RecordingSink) -> str:
    [[button]] = sink.shown[0][1].buttons
    return button.data


async def test_slash_cancel_stops_the_run_at_its_next_batch(core: TipsterCore):
    task, sink, model = await _started(core)
    [stopping] = await core.handle_text(ME, "/cancel")
    assert stopping.text == "Stopping your backtest of BTC/USDT…"
    [answer] = await asyncio.wait_for(task, 60)
    assert answer.text == "Backtest of BTC/USDT cancelled."
    assert model.calls < 56  # it did not score every batch
    assert "cancelled after" in sink.shown[-1][1].text and sink.shown[-1][1].buttons == []
    [after] = await core.handle_text(ME, "/cancel")
    assert after.text == "Nothing to cancel."


async def test_the_cancel_button_works_for_its_owner_only(core: TipsterCore):
    group = user_ctx(1, chat_type="group")
    task, sink, _ = await _started(core, group)
    data = cancel_data(sink)
    other_in_group = OTHER.model_copy(update={"chat_id": group.chat_id, "chat_type": "group"})
    [refused] = await core.handle_button(other_in_group, data)
    assert refused.notice == "Only the one who started this backtest can cancel it."
    assert not task.done()
    [forged] = await core.handle_button(group, data[:-2] + ("00" if not data.endswith("00") else "11"))
    assert "Hit rate" not in (forged.text + (forged.notice or ""))
    assert not task.done()
    [ok] = await core.handle_button(group, data)
    assert ok.notice == "Stopping your backtest of BTC/USDT…"
    [answer] = await asyncio.wait_for(task, 60)
    assert answer.text == "Backtest of BTC/USDT cancelled."
    [late] = await core.handle_button(group, data)
    assert late.notice == "That has already finished."


async def test_one_backtest_at_a_time_per_user_and_others_are_not_held_up(core: TipsterCore):
    task, _, _ = await _started(core)
    [busy] = await core.handle_text(ME, "/backtest ETH/USDT 1h")
    assert busy.text == "Your backtest of BTC/USDT is still running: wait for it, or /cancel it."
    other = asyncio.create_task(core.handle_text(OTHER, "/backtest BTC/USDT 1h strategy=hyperrsi"))
    [theirs] = await asyncio.wait_for(other, 60)
    assert "Hit rate:" in theirs.text
    await core.handle_text(ME, "/cancel")
    await asyncio.wait_for(task, 60)
    # Finished (cancelled): the next one runs.
    [again] = await core.handle_text(ME, "/backtest BTC/USDT 1h strategy=hyperrsi")
    assert "Hit rate:" in again.text


async def test_a_failed_run_takes_its_cancel_button_away(core: TipsterCore):
    model = slow(core, 0.05)

    def broken(texts: list[str]) -> list[float]:
        if model.calls >= 25:
            raise RuntimeError("model crashed")
        model.calls += 1
        time.sleep(model.delay)
        return model.inner.score(texts)  # type: ignore[attr-defined]

    model.score = broken  # type: ignore[method-assign]
    sink = RecordingSink()
    [answer] = await core.handle_text(ME, "/backtest BTC/USDT 1h", progress=sink)
    assert "went wrong" in answer.text.lower() or "error" in answer.text.lower()
    assert sink.shown and "stopped after" in sink.shown[-1][1].text and sink.shown[-1][1].buttons == []
    assert core.runs.of(1) is None and all(run is None for run in [core.runs.by_id("x")])


# ---- the throttle alone, on a scripted clock ----------------------------------------------------------

class Clock:
    def __init__(self, times: list[float]) -> None:
        self.times: Iterator[float] = iter(times)

    def __call__(self) -> float:
        return next(self.times)


async def test_progress_throttle_on_a_scripted_clock():
    sink = RecordingSink()
    # Construction reads 0.0; then one read per report.
    clock = Clock([0.0, 0.2, 0.5, 1.1, 1.5, 2.0, 2.2, 3.3, 3.4])
    progress = Progress(sink, Run(id="r", user_id=1, what="backtest"), Button(label="Cancel", data="x"),
                        clock=clock)
    for step in ["a", "b", "c", "d", "e", "f", "g", "h"]:
        await progress.report(step)
    # Shown: c at 1.1 (a second in), f at 2.2 (1.1 later; e at 2.0 was only 0.9 after), g at 3.3.
    assert [r.text for _, r in sink.shown] == ["⏳ c", "⏳ f", "⏳ g"]
    await progress.finish("done")
    assert sink.shown[-1][1] == Reply(text="done")


async def test_finish_draws_nothing_when_nothing_was_posted():
    sink = RecordingSink()
    progress = Progress(sink, Run(id="r", user_id=1, what="backtest"), Button(label="Cancel", data="x"),
                        clock=Clock([0.0, 0.3]))
    await progress.report("quick")
    await progress.finish("done")
    assert sink.shown == []


@pytest.mark.parametrize("data", ["", "rc", "garbage"])
async def test_forged_cancel_data_is_refused_in_one_line(core: TipsterCore, data: str):
    replies = await core.handle_button(ME, data)
    assert len(replies) == 1 and (replies[0].text or replies[0].notice)


# ---- the console: /cancel typed while the backtest runs -------------------------------------------------

class FedStdin:
    """A terminal's input that the test types into as it watches the output (readline blocks until fed)."""

    def __init__(self) -> None:
        import queue

        self.lines: queue.Queue[str] = queue.Queue()

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        return self.lines.get()

    def type(self, line: str) -> None:
        self.lines.put(line + "\n" if line else "")


async def _until(condition, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("stop", ["/cancel", "1"])
async def test_console_cancels_a_running_backtest_and_keeps_later_lines_in_order(core: TipsterCore, stop: str):
    import io

    from bot.console.chat import ConsoleChat

    slow(core, 0.05)
    stdin, out = FedStdin(), io.StringIO()
    chat = ConsoleChat(core, stdin=stdin, stdout=out)  # type: ignore[arg-type]
    running = asyncio.create_task(chat.run())
    stdin.type("/backtest BTC/USDT 1h")
    await _until(lambda: "⏳ Backtest of BTC/USDT 1h" in out.getvalue())
    assert "[1] ⏹ Cancel" in out.getvalue()
    stdin.type("/help backtest")  # typed during the run: answered after it, not before
    stdin.type(stop)  # /cancel, or pressing the [Cancel] button by its number, acts at once
    stdin.type("")
    await asyncio.wait_for(running, 60)
    text = out.getvalue()
    assert "Backtest of BTC/USDT cancelled." in text
    assert text.index("Backtest of BTC/USDT cancelled.") < text.index("> /help backtest") < text.index(
        "/backtest SYMBOL [TIMEFRAME]")
    assert "Hit rate:" not in text


async def test_a_shutdown_stops_running_backtests_with_their_reason(core: TipsterCore):
    task, sink, model = await _started(core)
    assert core.runs.cancel_all() == 1
    [answer] = await asyncio.wait_for(task, 60)
    assert answer.text == "Backtest of BTC/USDT stopped: the bot is restarting. Run it again in a minute."
    assert model.calls < 56 and sink.shown[-1][1].buttons == []
    assert core.runs.cancel_all() == 0
