"""`tipster --config PATH run` as an operator runs it, with the config file elsewhere than the working
directory: the metrics endpoint scraped over HTTP after a /signal through the local Bot API, config.watch
catching an invalid edit (the admin is told which key), /reload in chat naming it too and the bot still
serving, `tipster health` beside the running bot, and SIGTERM ending it with 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.e2e.test_startup import GOOD_TOKEN, ROOT
from tests.support.bot_api_server import FakeBotApi

pytestmark = pytest.mark.slow

ADMIN = 4242


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


async def _scrape(port: int, timeout: float = 60) -> str:  # noqa: ASYNC109
    """The exposition, waiting for the bot to start serving it."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    return await response.text()
            except aiohttp.ClientConnectionError:
                if loop.time() > until:
                    raise AssertionError("the metrics endpoint never answered") from None
                await asyncio.sleep(0.2)


async def _cli(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_run_with_metrics_watch_reload_and_health(tmp_path: Path) -> None:
    etc, work = tmp_path / "etc", tmp_path / "srv"
    etc.mkdir()
    work.mkdir()
    port = _free_port()
    config = etc / "config.yaml"
    data: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8")) or {}
    data["admins"] = [f"telegram:{ADMIN}"]
    data["storage"] = {"sqlite_path": "data/tipster.sqlite"}  # relative: resolved from the working directory
    data["sentiment"] = {**data.get("sentiment", {}), "model": "offline"}
    data["metrics"] = {"port": port, "host": "127.0.0.1"}
    data["config"] = {"watch": True, "watch_interval": 0.2}
    _write(config, data)
    async with FakeBotApi(token=GOOD_TOKEN) as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIPSTER_")}
        env |= {"TIPSTER_TELEGRAM__TOKEN": GOOD_TOKEN, "TIPSTER_TELEGRAM__BASE_URL": api.base_url}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--config", str(config), "run", cwd=work, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            await _scrape(port)
            api.send_text(ADMIN, ADMIN, "/signal BTC/USDT 1h")
            await api.wait_for_call("sendMessage", lambda p: str(p.get("chat_id")) == str(ADMIN)
                                    and "BTC/USDT" in str(p.get("text")), timeout=60)
            text = await _scrape(port)
            assert 'tipster_commands_total{command="signal",outcome="ok"} 1.0' in text
            assert 'tipster_outbox_depth{status="pending"}' in text
            assert "tipster_tip_latency_seconds_count 1.0" in text

            # An invalid edit: the watcher tells the admin the key, and keeps the running configuration.
            data["scoring"] = {**data.get("scoring", {}), "buy_threshold": 2}
            _write(config, data)
            wrong = "scoring.buy_threshold: Input should be less than or equal to 1"
            await api.wait_for_call("sendMessage", lambda p: wrong in str(p.get("text")), timeout=60)
            api.send_text(ADMIN, ADMIN, "/reload")
            await api.wait_for_call("sendMessage", lambda p: "not reloaded" in str(p.get("text"))
                                    and wrong in str(p.get("text")), timeout=60)
            api.send_text(ADMIN, ADMIN, "/signal ETH/USDT 1h")  # still serving
            await api.wait_for_call("sendMessage", lambda p: "ETH/USDT" in str(p.get("text")), timeout=60)

            # Fixed: the watcher applies it; health (which reads the same file) passes beside the running bot.
            data["scoring"]["buy_threshold"] = 0.45
            _write(config, data)
            await api.wait_for_call("sendMessage", lambda p: "was reloaded" in str(p.get("text"))
                                    and "scoring.buy_threshold" in str(p.get("text")), timeout=60)
            code, out = await _cli("--config", str(config), "health", cwd=work, env=env)
            assert code == 0, out
            assert "storage: ok · data/tipster.sqlite" in out and "telegram: token set" in out
            assert (work / "data" / "tipster.sqlite").is_file() and not (etc / "data").exists()
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            out_bytes, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out_bytes.decode()
        assert "Traceback" not in out_bytes.decode()
