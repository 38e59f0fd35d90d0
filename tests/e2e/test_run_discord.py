"""`tipster run` with only a Discord token, as an operator starts it: the process connects to the local
Discord of tests/support (discord.api_base), registers the slash commands, answers a user, and stops cleanly
on SIGTERM; a refused token or an unreachable API is one `tipster:` line without the token."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.e2e.test_startup import ROOT, _closed_port, _ends_with_one_clear_line, _env, _tipster
from tests.support.fake_discord import FakeDiscord

pytestmark = pytest.mark.slow

GUILD, CHANNEL, ALERTS = 900_000_000_000_000_001, 900_000_000_000_000_010, 900_000_000_000_000_011
OWNER, TRADER = 111, 222


@pytest.fixture(autouse=True)
def _discord_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)


async def test_discord_only_run_answers_and_stops_cleanly(tmp_path: Path) -> None:
    async with FakeDiscord() as server:
        owner, trader = server.add_user(OWNER, "owner"), server.add_user(TRADER, "trader")
        server.add_guild(GUILD, "Traders", owner=owner, channels={CHANNEL: "tips", ALERTS: "alerts"},
                         members=[owner, trader])
        env = _env(tmp_path, discord__token=server.token, discord__api_base=server.api_base,
                   admins=f'["discord:{OWNER}"]', discord__channels__alerts=str(ALERTS))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), "run", cwd=ROOT, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            await server.wait_until(lambda: server.commands(), timeout=60, what="the slash commands synced")
            assert {"signal", "broadcast", "positions"} <= set(server.commands())
            await server.wait_until(lambda: server.live_sessions, timeout=30, what="a gateway session")
            ix = await server.send_slash(TRADER, "signal", {"symbol": "BTC/USDT", "timeframe": "1h"},
                                         guild_id=GUILD, channel_id=CHANNEL)
            done = await server.wait_response(ix, followups=1, timeout=30)
            assert done.response_type == 5
            assert "BTC/USDT · 1h · DEMO" in done.followups[0]["embeds"][0]["title"]
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        assert "Traceback" not in out.decode()
        assert server.token not in out.decode()


async def test_a_refused_discord_token_is_one_line_without_it(tmp_path: Path) -> None:
    wrong = "MTIzNDU2Nzg5MDEyMzQ1Njc4.wrong.token-the-server-refuses"
    async with FakeDiscord() as server:
        code, out = await _tipster("run", env=_env(tmp_path, discord__token=wrong,
                                                   discord__api_base=server.api_base))
    last = _ends_with_one_clear_line(code, out, "rejected the bot token")
    assert wrong not in out and "Discord" in last


async def test_an_unreachable_discord_api_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/v10"
    code, out = await _tipster("run", env=_env(tmp_path, discord__token="MTIz.some.token-value-here",
                                               discord__api_base=url))
    _ends_with_one_clear_line(code, out, "cannot reach Discord")
    assert "MTIz.some.token-value-here" not in out
