"""The console chat: the same core as Telegram, in a terminal. Buttons become numbered choices.

It reads commands line by line (interactive or piped: `printf '/signal BTC/USDT 1h\\n' | tipster demo`)
and exits cleanly at end of input.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TextIO

from bot.console.outbox_printer import ConsoleAlertSender
from bot.core.context import ChatContext
from bot.core.outbox import OutboxDrainer, outbox_of
from bot.core.replies import Reply
from bot.core.service import TipsterCore

CONSOLE_CONTEXT = ChatContext(platform="console", user_id="local", chat_id="local", chat_type="private",
                              username="you", display_name="console user")


class ConsoleChat:
    def __init__(self, core: TipsterCore, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                 ctx: ChatContext = CONSOLE_CONTEXT) -> None:
        self.core = core
        self.stdin = stdin
        self.stdout = stdout
        self.ctx = ctx
        self._choices: dict[str, str] = {}  # number typed → button data of the last shown buttons
        self.interactive = stdin.isatty()

    def write(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def show(self, replies: list[Reply]) -> None:
        for reply in replies:
            if reply.notice and not (reply.text or reply.title):
                self.write(f"({reply.notice})")
                continue
            self.write("")
            if reply.title:
                self.write(reply.title)
            if reply.text:
                self.write(reply.text)
            if reply.buttons:
                self._choices = {}
                labels = []
                for row in reply.buttons:
                    for button in row:
                        number = str(len(self._choices) + 1)
                        self._choices[number] = button.data
                        labels.append(f"[{number}] {button.label}")
                self.write("  ".join(labels) + "   (type a number to press)")

    async def _read_line(self) -> str | None:
        if self.interactive:
            self.stdout.write("> ")
            self.stdout.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, self.stdin.readline)
        return None if line == "" else line.rstrip("\n")

    async def handle(self, line: str) -> list[Reply]:
        text = line.strip()
        if text in self._choices:
            return await self.core.handle_button(self.ctx, self._choices[text])
        if text.isdigit() and not text.startswith("/"):
            return [Reply(text=f"There is no button {text} on screen.")]
        return await self.core.handle_text(self.ctx, text)

    @contextlib.asynccontextmanager
    async def printing_alerts(self) -> AsyncIterator[OutboxDrainer]:
        """Print console alerts from the outbox while the block runs (a terminal needs no pacing)."""
        drainer = outbox_of(self.core.services).drainer(
            ConsoleAlertSender(self), self.core.settings.alerts.max_in_flight, per_chat_interval=0.0,
            group_per_minute=0)
        async with drainer:
            yield drainer

    async def run(self) -> None:
        await self.core.ensure_user(self.ctx)  # the console user is registered at start
        self.write("Tipster console chat. Type /help for commands, /signal BTC/USDT 1h for a tip, "
                   "Ctrl-D to quit.")
        async with self.printing_alerts():
            await self._loop()
        self.write("Bye.")

    async def _loop(self) -> None:
        while True:
            line = await self._read_line()
            if line is None:
                break
            if not line.strip():
                continue
            if not self.interactive:
                self.write(f"> {line}")
            if line.strip() in ("/quit", "/exit"):
                break
            self.show(await self.handle(line))
