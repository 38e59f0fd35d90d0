"""Long-running commands (a /backtest over years of bars and headlines): a message that shows how far they
are, edited at most once a second, and a way to cancel them (/cancel, or the [Cancel] button on that message).

`Runs` knows each user's running command (one at a time per user: a second is refused rather than queued, so
one user cannot stack minutes of CPU work). A `Run` is cancelled through a `threading.Event`, so the work it
hands to threads can check it between steps too. `Progress` throttles what the command reports and draws it
through the `ProgressSink` the chat adapter gave with the request: the first report posts a message, later ones
edit it; short runs (under a second) never post one.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.errors import Refused
from bot.core.replies import Button, Reply

PROGRESS_EVERY = 1.0  # seconds: no message before the first, and at most one edit per this


class Cancelled(Exception):
    """The user cancelled the run; raised at its next check."""


class ProgressSink(Protocol):
    """Where an adapter draws one command's progress: the first `show` posts a message, the next ones edit it."""

    async def show(self, reply: Reply) -> None: ...


@dataclass
class Run:
    id: str
    user_id: int
    what: str  # e.g. "backtest of BTC/USDT 1h"
    started: float = field(default_factory=time.monotonic)
    cancelled: threading.Event = field(default_factory=threading.Event)
    shutdown: bool = False  # cancelled because the bot is stopping, not by the user

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled(self.what)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Runs:
    """The running long commands, by user."""

    def __init__(self) -> None:
        self._by_user: dict[int, Run] = {}

    @contextmanager
    def start(self, user_id: int, what: str) -> Iterator[Run]:
        running = self._by_user.get(user_id)
        if running is not None:
            raise Refused(f"Your {running.what} is still running: wait for it, or /cancel it.", reason="busy")
        run = Run(id=secrets.token_hex(4), user_id=user_id, what=what)
        self._by_user[user_id] = run
        try:
            yield run
        finally:
            if self._by_user.get(user_id) is run:
                del self._by_user[user_id]

    def of(self, user_id: int) -> Run | None:
        return self._by_user.get(user_id)

    def by_id(self, run_id: str) -> Run | None:
        return next((run for run in self._by_user.values() if run.id == run_id), None)

    def cancel_all(self) -> int:
        """The bot is stopping: every run ends at its next check, so a shutdown does not wait on minutes of
        scoring. Returns how many were running."""
        runs = list(self._by_user.values())
        for run in runs:
            run.shutdown = True
            run.cancelled.set()
        return len(runs)

    def cancel(self, user_id: int, run_id: str | None = None) -> Run | None:
        """Cancel the user's run (only the one named, when run_id is given); the run, or None if none matched."""
        run = self._by_user.get(user_id)
        if run is None or (run_id is not None and run.id != run_id):
            return None
        run.cancelled.set()
        return run


class Progress:
    """Reports from one run, drawn through a sink at most once every PROGRESS_EVERY seconds."""

    def __init__(self, sink: ProgressSink | None, run: Run, cancel_button: Button,
                 clock: Callable[[], float] = time.monotonic, every: float = PROGRESS_EVERY) -> None:
        self.sink = sink
        self.run = run
        self.cancel_button = cancel_button
        self.clock = clock
        self.every = every
        self._start = clock()
        self._last: float | None = None  # when the message was last drawn
        self.shown = 0  # how many times it was drawn (posted once, then edited)

    async def report(self, text: str) -> None:
        now = self.clock()
        due = now - self._start >= self.every if self._last is None else now - self._last >= self.every
        if self.sink is None or not due:
            return
        self._last = now
        self.shown += 1
        await self.sink.show(Reply(text=f"⏳ {text}", buttons=[[self.cancel_button]]))

    async def finish(self, text: str) -> None:
        """The message's last state, without the [Cancel] button: drawn only if the message was posted."""
        if self.sink is not None and self.shown:
            self.shown += 1
            await self.sink.show(Reply(text=text))
