"""Graceful shutdown of `tipster run` and `tipster demo`, as an operator (or a container runtime) stops them.

The real process runs against the local Bot API server of tests/support with an alert waiting in the outbox
and the server holding every sendMessage for a while, so the SIGTERM lands while a send is in flight:

* one SIGTERM: exit 0 within 10 s, the slow send completed and marked `sent`, no row left `sending`, the
  database whole (integrity check, WAL folded in);
* a send slower than the shutdown's grace: still exit 0 within 10 s, the row back to `pending` for the next
  start — nothing is left claimed;
* a second SIGTERM during a slow shutdown: the process exits at once;
* a restart on the same database runs the jobs again (a monitor cycle is recorded) and sends what was queued;
* Discord (the local Discord of tests/support): a queued alert is posted, then SIGTERM exits 0 within 10 s
  with nothing left `sending`;
* the console demo: SIGINT (Ctrl-C) with the terminal still open exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from bot.core.replies import Reply
from storage.alerts import AlertRepository
from storage.db import Database
from tests.e2e.test_startup import GOOD_TOKEN, ROOT, _env
from tests.support.bot_api_server import FakeBotApi
from tests.support.fake_discord import FakeDiscord

pytestmark = pytest.mark.slow

CHAT = 5001
DEADLINE = 10.0  # what the issue allows from SIGTERM to exit


async def _queue_alert(db_path: Path, text: str, platform: str = "telegram", chat: int = CHAT) -> int:
    """An alert waiting in the outbox before the bot starts (as a previous run or another job left it)."""
    db = await Database(str(db_path)).open()
    try:
        return await AlertRepository(db).enqueue(platform, str(chat), "announcement",
                                                 Reply(text=text).model_dump(mode="json"))
    finally:
        await db.close()


def _rows(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


def _status(db_path: Path, alert_id: int) -> str:
    return str(_rows(db_path, "SELECT status FROM alerts WHERE id = ?", (alert_id,))[0][0])


def _monitor_runs(db_path: Path) -> int:
    return int(_rows(db_path, "SELECT COUNT(*) FROM job_runs WHERE job = 'monitor'")[0][0])


async def _start(tmp_path: Path, api: FakeBotApi) -> asyncio.subprocess.Process:
    env = _env(tmp_path, telegram__token=GOOD_TOKEN, telegram__base_url=api.base_url,
               monitor__signals_interval="1")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), "run", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def _send_in_flight(api: FakeBotApi, text: str) -> None:
    await api.wait_for_call("sendMessage", lambda p: str(p.get("chat_id")) == str(CHAT) and text in str(p.get("text")),
                            timeout=60)


async def _exits(proc: asyncio.subprocess.Process, within: float) -> tuple[int, str, float]:
    began = time.monotonic()
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within + 20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"tipster did not exit within {within + 20} s of the signal") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), time.monotonic() - began


def _db_is_clean(db_path: Path) -> None:
    assert _rows(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(db_path, "SELECT COUNT(*) FROM alerts WHERE status = 'sending'") == [(0,)]
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL was not checkpointed at close"


async def test_sigterm_finishes_the_send_in_flight_and_exits_0_then_a_restart_resumes(tmp_path: Path) -> None:
    db_path = tmp_path / "t.sqlite"
    first = await _queue_alert(db_path, "first alert")
    async with FakeBotApi(token=GOOD_TOKEN) as api:
        api.delay("sendMessage", 2.0)  # well inside the outbox's stop grace
        proc = await _start(tmp_path, api)
        await _send_in_flight(api, "first alert")
        assert _status(db_path, first) == "sending"
        proc.send_signal(signal.SIGTERM)
        code, out, took = await _exits(proc, DEADLINE)
        assert code == 0, out
        assert took < DEADLINE, f"{took:.1f} s\n{out}"
        assert "Traceback" not in out, out
        assert [m.text for m in api.messages_to(CHAT)] == ["first alert"]  # the delayed send went out
        assert _status(db_path, first) == "sent"
        _db_is_clean(db_path)
        runs = _monitor_runs(db_path)

        # Restart on the same database: the jobs run again and what was queued meanwhile is sent.
        api.delay("sendMessage", None)
        second = await _queue_alert(db_path, "second alert")
        proc = await _start(tmp_path, api)
        try:
            await api.wait_for_messages(CHAT, 2, timeout=60)
            for _ in range(150):  # up to 30 s: the monitor runs every second once the jobs are up
                if _monitor_runs(db_path) > runs:
                    break
                await asyncio.sleep(0.2)
            assert _monitor_runs(db_path) > runs, "no monitor cycle after the restart"
        finally:
            proc.send_signal(signal.SIGTERM)
            code, out, took = await _exits(proc, DEADLINE)
        assert code == 0, out
        assert [m.text for m in api.messages_to(CHAT)] == ["first alert", "second alert"]
        assert _status(db_path, second) == "sent"
        _db_is_clean(db_path)


async def test_a_send_slower_than_the_grace_is_queued_again_not_left_claimed(tmp_path: Path) -> None:
    db_path = tmp_path / "t.sqlite"
    alert = await _queue_alert(db_path, "slow alert")
    async with FakeBotApi(token=GOOD_TOKEN) as api:
        api.delay("sendMessage", 30.0)  # longer than the whole shutdown may take
        proc = await _start(tmp_path, api)
        await _send_in_flight(api, "slow alert")
        proc.send_signal(signal.SIGTERM)
        code, out, took = await _exits(proc, DEADLINE)
        assert code == 0, out
        assert took < DEADLINE, f"{took:.1f} s\n{out}"
        assert _status(db_path, alert) == "pending"
        assert _rows(db_path, "SELECT attempts FROM alerts WHERE id = ?", (alert,)) == [(0,)]  # not used up
        _db_is_clean(db_path)


async def test_a_second_sigterm_during_a_slow_shutdown_exits_at_once(tmp_path: Path) -> None:
    db_path = tmp_path / "t.sqlite"
    alert = await _queue_alert(db_path, "slow alert")
    async with FakeBotApi(token=GOOD_TOKEN) as api:
        api.delay("sendMessage", 30.0)
        proc = await _start(tmp_path, api)
        await _send_in_flight(api, "slow alert")
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)  # the shutdown is now waiting for the slow send (its grace is seconds)
        assert proc.returncode is None
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code, out, _ = await _exits(proc, 2.0)
        assert time.monotonic() - began < 2.0, out
        assert code != 0, out
        assert "second SIGTERM" in out, out
        # A kill may leave its row `sending`; the database is whole and the next start re-queues it.
        assert _rows(db_path, "PRAGMA integrity_check") == [("ok",)]
        api.delay("sendMessage", None)
        proc = await _start(tmp_path, api)
        try:
            await api.wait_for(lambda r: r.chat_id == CHAT and r.text == "slow alert", timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            code, out, _ = await _exits(proc, DEADLINE)
        assert code == 0, out
        assert _status(db_path, alert) == "sent"


async def test_discord_run_sends_then_stops_within_10_s_leaving_nothing_claimed(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch
                                                                                  ) -> None:
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    monkeypatch.setattr(Route, "BASE", Route.BASE)  # FakeDiscord's client side points these at itself
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    guild, channel, owner_id = 900_000_000_000_000_001, 900_000_000_000_000_011, 111
    db_path = tmp_path / "t.sqlite"
    alert = await _queue_alert(db_path, "to the channel", platform="discord", chat=channel)
    async with FakeDiscord() as server:
        owner = server.add_user(owner_id, "owner")
        server.add_guild(guild, "Traders", owner=owner, channels={channel: "alerts"}, members=[owner])
        env = _env(tmp_path, discord__token=server.token, discord__api_base=server.api_base)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), "run", cwd=ROOT, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            await server.wait_messages(channel, 1, timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            code, out, took = await _exits(proc, DEADLINE)
    assert code == 0, out
    assert took < DEADLINE, f"{took:.1f} s\n{out}"
    assert _status(db_path, alert) == "sent"
    _db_is_clean(db_path)


async def test_the_console_demo_exits_0_on_ctrl_c_with_the_terminal_open(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), "demo", "--db",
        str(tmp_path / "t.sqlite"), "--log", str(tmp_path / "log"), cwd=ROOT, env=_env(tmp_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"/help\n")
    await proc.stdin.drain()
    seen = b""
    while b"/signal" not in seen:  # the help was answered: the chat is up and reading the next line
        chunk = await asyncio.wait_for(proc.stdout.read(4096), 60)
        assert chunk, seen.decode()
        seen += chunk
    proc.send_signal(signal.SIGINT)  # stdin stays open: a read is blocked on it
    began = time.monotonic()
    try:
        rest = await asyncio.wait_for(proc.stdout.read(), DEADLINE + 20)
        await asyncio.wait_for(proc.wait(), 5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    out = (seen + rest).decode()
    assert proc.returncode == 0, out
    assert time.monotonic() - began < DEADLINE, out
    assert "Traceback" not in out, out
    _db_is_clean(tmp_path / "t.sqlite")
