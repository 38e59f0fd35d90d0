"""`tipster run` / `tipster demo` as an operator starts them, failing at start-up: every failure ends with one
clear `tipster:` line and a non-zero exit — no traceback, no token, no hang.

The bot talks to the local Bot API server of tests/support (which answers a wrong token with 401, as
Telegram does); "unreachable" is a closed loopback port; the database cases use real files.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from tests.support.bot_api_server import FakeBotApi

ROOT = Path(__file__).resolve().parents[2]
GOOD_TOKEN = "654321:SERVER-knows-this-token-abcdefgh"
WRONG_TOKEN = "123456:WRONG-token-the-server-rejects-xyz"

pytestmark = pytest.mark.slow


def _env(tmp_path: Path, **tipster: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPSTER_")}
    env.update({"TIPSTER_SENTIMENT__MODEL": "offline", "TIPSTER_STORAGE__SQLITE_PATH": str(tmp_path / "t.sqlite")})
    env.update({f"TIPSTER_{k.upper()}": v for k, v in tipster.items()})
    return env


async def _tipster(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:  # noqa: ASYNC109
    """Run the CLI as a process; its exit code and everything it printed (stdout + stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"tipster {' '.join(args)} hung for {timeout} s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def _ends_with_one_clear_line(code: int, output: str, *needles: str) -> str:
    assert code != 0, output
    assert "Traceback" not in output, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("tipster: "), output
    for needle in needles:
        assert needle in last, output
    return last


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_rejected_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    async with FakeBotApi(token=GOOD_TOKEN) as api:
        code, out = await _tipster("run", env=_env(tmp_path, telegram__token=WRONG_TOKEN,
                                                   telegram__base_url=api.base_url))
    last = _ends_with_one_clear_line(code, out, "token")
    assert "rejected" in last or "refused" in last
    assert WRONG_TOKEN not in out and WRONG_TOKEN.split(":")[1] not in out


async def test_an_unreachable_bot_api_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/bot"
    code, out = await _tipster("run", env=_env(tmp_path, telegram__token=WRONG_TOKEN, telegram__base_url=url))
    _ends_with_one_clear_line(code, out, "Telegram")
    assert WRONG_TOKEN not in out and WRONG_TOKEN.split(":")[1] not in out


@pytest.mark.parametrize("command", ["demo", "run"])
async def test_a_corrupt_database_file_fails_fast_with_one_line(tmp_path: Path, command: str) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(os.urandom(8192))
    code, out = await _tipster(command, "--db", str(corrupt), timeout=30,
                               env=_env(tmp_path, telegram__token=WRONG_TOKEN,
                                        telegram__base_url=f"http://127.0.0.1:{_closed_port()}/bot"))
    _ends_with_one_clear_line(code, out, str(corrupt))
    assert WRONG_TOKEN not in out


async def test_an_unwritable_database_path_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "tipster.sqlite"  # its folder is a file: nobody (root included) can create it
    code, out = await _tipster("demo", "--db", str(target), timeout=30, env=_env(tmp_path))
    _ends_with_one_clear_line(code, out, str(target))


@pytest.mark.parametrize(
    ("setting", "value", "key"),
    [
        ("market__replay__speed", "inf", "market.replay.speed"),
        ("risk__sl_atr", "inf", "risk.sl_atr"),
        ("risk__sl_atr", "nan", "risk.sl_atr"),
        ("paper__fee_pct", "1e400", "paper.fee_pct"),
        ("market__replay__start", "yesterday", "market.replay.start"),
        ("market__replay__start", "²", "market.replay.start"),
        ("monitor__signals_interval", "0", "monitor.signals_interval"),
        ("monitor__signals_interval", "1" + "0" * 30, "monitor.signals_interval"),
        ("market__nonsense", "1", "market.nonsense"),
        ("nonsense", "1", "TIPSTER_NONSENSE"),
    ],
)
async def test_a_bad_setting_stops_start_up_naming_the_key(tmp_path: Path, setting: str, value: str,
                                                           key: str) -> None:
    code, out = await _tipster("demo", timeout=30, env=_env(tmp_path, **{setting: value}))
    assert code == 2
    _ends_with_one_clear_line(code, out, key)
    assert len(out.strip().splitlines()) == 1, out
