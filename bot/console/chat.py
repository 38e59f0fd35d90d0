"""The console chat: the same core as Telegram, in a terminal. Buttons become numbered choices.

A number typed presses that button, except while the bot waits for a typed answer (a custom size, a number
of days): then the number is the answer. `[N]` always presses button N.

It reads commands line by line (interactive or piped: `printf '/signal BTC/USDT 1h\\n' | tipster demo`)
and exits cleanly at end of input.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TextIO

from bot.console.outbox_printer import ConsoleAlertSender
from bot.core.args import ascii_int
from bot.core.context import ChatContext
from bot.core.flows import TYPED_ANSWERS
from bot.core.outbox import OutboxDrainer
from bot.core.replies import Image, Reply
from bot.core.service import TipsterCore
from bot.settings import Settings

BANNER = ("Tipster console chat. Type /help for commands, /signal BTC/USDT 1h for a tip, Ctrl-D to quit. "
          "Buttons show as [1] Refresh …: type the number to press it; when I ask for a number (a size, a count "
          "of days), the number you type is the answer, and [N] still presses button N.")
PRESS = re.compile(r"\[(\d{1,3})\]")
CONSOLE_CONTEXT = ChatContext(platform="console", user_id="local", chat_id="local", chat_type="private",
                              username="you", display_name="console user")


def charts_dir(settings: Settings) -> Path:
    """Where the console saves the images it is sent (charts): `charts/` beside the database, so a demo run with
    `--db` in a temporary folder keeps its charts there too."""
    db = settings.storage.sqlite_path
    base = Path(db).parent if db and db != ":memory:" else Path("data")
    return (base / "charts").resolve()


def save_image(folder: Path, image: Image) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / image.filename  # Image.filename has no path separators
    path.write_bytes(image.png)
    return path


async def read_in_daemon_thread(read: Callable[[], str]) -> str:
    """`read()` in a daemon thread: a read blocked on the terminal must not keep the process alive after
    Ctrl-C or SIGTERM (asyncio.run waits for its executor's threads; nothing waits for a daemon)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def settle(result: str | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result or "")

    def work() -> None:
        try:
            result, error = read(), None
        except BaseException as exc:  # handed to the awaiting coroutine
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="console-stdin", daemon=True).start()
    return await done


class ConsoleChat:
    def __init__(self, core: TipsterCore, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                 ctx: ChatContext = CONSOLE_CONTEXT, images: Path | None = None) -> None:
        self.core = core
        self.images = images or charts_dir(core.settings)
        self.stdin = stdin
        self.stdout = stdout
        self.ctx = ctx
        # Per console chat: number typed → button data of the last buttons shown to that chat. Alerts for
        # another console user (see /as) keep their buttons until you switch to that user.
        self._choices_by_chat: dict[str, dict[str, str]] = {}
        self.interactive = stdin.isatty()
        self._stop_presses: set[str] = set()  # button data of running commands' [Cancel] (progress lines)

    def write(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    @property
    def _choices(self) -> dict[str, str]:
        return self._choices_by_chat.setdefault(self.ctx.chat_id, {})

    def show(self, replies: list[Reply], chat_id: str | None = None) -> None:
        chat = chat_id or self.ctx.chat_id
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
                choices: dict[str, str] = {}
                self._choices_by_chat[chat] = choices
                labels = []
                for row in reply.buttons:
                    for button in row:
                        number = str(len(choices) + 1)
                        choices[number] = button.data
                        labels.append(f"[{number}] {button.label}")
                self.write("  ".join(labels) + "   (type a number to press)")

    async def with_saved_images(self, replies: list[Reply]) -> list[Reply]:
        """A terminal shows no pictures: each reply's image is saved (off the event loop) and its path printed."""
        shown: list[Reply] = []
        for reply in replies:
            if reply.image is None:
                shown.append(reply)
                continue
            path = await asyncio.to_thread(save_image, self.images, reply.image)
            line = f"🖼 Chart saved: {path}"
            shown.append(reply.model_copy(update={"image": None,
                                                  "text": f"{reply.text}\n{line}" if reply.text else line}))
        return shown

    async def _read_line(self) -> str | None:
        if self.interactive:
            self.stdout.write("> ")
            self.stdout.flush()
        line = await read_in_daemon_thread(self.stdin.readline)
        return None if line == "" else line.rstrip("\n")

    def switch_user(self, name: str) -> list[Reply]:
        """`/as NAME`: act as another console user, to try multi-user flows (approval, admin) in one terminal."""
        if not name or len(name) > 32 or not all(ch.isalnum() or ch in "_-" for ch in name):
            return [Reply(text="Usage: /as NAME (letters, digits, - and _), e.g. /as alice; /as local to return.")]
        self.ctx = ChatContext(platform="console", user_id=name, chat_id=name, chat_type="private",
                               username=name, display_name=name)
        return [Reply(text=f"You are now console:{name}.")]

    async def wait(self, raw: str) -> list[Reply]:
        """`/wait SECONDS`: let time pass in a scripted demo (the replay clock, jobs and alerts run on)."""
        seconds = ascii_int(raw, 1, 600)
        if seconds is None:
            return [Reply(text="Usage: /wait SECONDS (1-600), e.g. /wait 10")]
        await asyncio.sleep(seconds)
        return [Reply(text=f"({raw} s passed)")]

    async def handle(self, line: str) -> list[Reply]:
        text = line.strip()
        if text == "/as" or text.startswith("/as "):
            return self.switch_user(text[3:].strip())
        if text == "/wait" or text.startswith("/wait "):
            return await self.wait(text[5:].strip())
        pressed = PRESS.fullmatch(text)
        if pressed or (text.isascii() and text.isdigit() and not await self._awaiting_answer()):
            number = pressed.group(1) if pressed else text
            if number in self._choices:
                return await self.core.handle_button(self.ctx, self._choices[number])
            return [Reply(text=f"There is no button {number} on screen.")]
        return await self.core.handle_text(self.ctx, text, progress=ConsoleProgress(self))

    async def _awaiting_answer(self) -> bool:
        """Whether this chat's open flow asks a question answered by typing (then "1500" is a size, not a press)."""
        user = await self.core.storage.users.by_identity(self.ctx.identity)
        if user is None:
            return False
        flow = await self.core.storage.flows.get(user.id, self.ctx.chat_key)
        return flow is not None and flow.kind in TYPED_ANSWERS

    @contextlib.asynccontextmanager
    async def printing_alerts(self) -> AsyncIterator[OutboxDrainer]:
        """Print console alerts from the outbox while the block runs (a terminal needs no pacing)."""
        drainer = self.core.services.outbox.drainer(
            ConsoleAlertSender(self), self.core.settings.alerts.max_in_flight, per_chat_interval=0.0,
            group_per_minute=0)
        async with drainer:
            yield drainer

    async def run(self) -> None:
        await self.core.ensure_user(self.ctx)  # the console user is registered at start
        self.write(BANNER)
        async with self.printing_alerts():
            await self._loop()
            await self._settle_alerts()
        self.write("Bye.")

    async def _settle_alerts(self, wait_at_most: float = 3.0) -> None:
        """At end of piped input, give alerts queued by the last commands a moment to print."""
        alerts = self.core.services.outbox.alerts
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_at_most
        while loop.time() < deadline:
            totals = await alerts.status_totals("console")
            if not totals.get("pending") and not totals.get("sending"):
                return
            await asyncio.sleep(0.05)

    async def _loop(self) -> None:
        """Lines are answered one after another, in order; while one runs (a long /backtest), the next lines
        are read ahead so that `/cancel`, or pressing the running command's [Cancel], acts at once. Any other
        line waits its turn, so a piped transcript does not depend on timing."""
        held: list[str | None] = []
        reading: asyncio.Future[str | None] | None = None
        while True:
            if held:
                line = held.pop(0)
            else:
                reading = reading or asyncio.ensure_future(self._read_line())
                line = await reading
                reading = None
            if line is None:
                break
            if not line.strip():
                continue
            self._echo(line)
            if line.strip() in ("/quit", "/exit"):
                break
            answering = asyncio.ensure_future(self._answer(line))
            while not answering.done() and None not in held:  # read ahead up to the end of input
                reading = reading or asyncio.ensure_future(self._read_line())
                await asyncio.wait({answering, reading}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    continue
                extra, reading = reading.result(), None
                if extra is not None and self._stops_running(extra):
                    self._echo(extra)
                    await self._answer(extra, settle=False)
                else:
                    held.append(extra)  # answered after the running line, in order (None: end of input)
            await answering

    def _echo(self, line: str) -> None:
        if not self.interactive:
            self.write(f"> {line}")

    async def _answer(self, line: str, settle: bool = True) -> None:
        self.show(await self.with_saved_images(await self.handle(line)))
        if settle and not self.interactive:
            # Piped input: let alerts caused by this line print before the next line is read, so the
            # transcript (and which buttons the numbers press) does not depend on timing.
            await self._settle_alerts()

    def show_progress(self, reply: Reply) -> None:
        """A running command's progress line; its buttons (its [Cancel]) are the presses that act at once."""
        for row in reply.buttons:
            self._stop_presses.update(button.data for button in row)
        self.show([reply])

    def _stops_running(self, line: str) -> bool:
        """`/cancel`, or a press of a running command's [Cancel] (the only button its progress line shows)."""
        text = line.strip()
        if text.lower() == "/cancel":
            return True
        pressed = PRESS.fullmatch(text)
        number = pressed.group(1) if pressed else text
        return self._choices.get(number) in self._stop_presses


class ConsoleProgress:
    """A long command's progress in a terminal: a line per update (a terminal cannot edit what it printed),
    with the [Cancel] button as a numbered choice."""

    def __init__(self, chat: ConsoleChat) -> None:
        self.chat = chat

    async def show(self, reply: Reply) -> None:
        self.chat.show_progress(reply)
