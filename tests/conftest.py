"""Shared fixtures: a core on a temporary SQLite file with the bundled replay market and offline model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app import open_core
from bot.core.context import ChatContext
from bot.core.service import TipsterCore
from bot.settings import Settings, load_settings
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's TIPSTER_* environment or ./config.yaml by accident."""
    import os

    for key in list(os.environ):
        if key.startswith("TIPSTER_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port for this pytest process; tests use their own key prefix."""
    if not RedisServer.available():
        pytest.skip("redis-server is not installed (`make redis` installs it)")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(ROOT / "config.yaml", storage={"sqlite_path": str(tmp_path / "tipster.sqlite")},
                         sentiment={"model": "offline"})


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[TipsterCore]:
    async with open_core(settings) as c:
        yield c


@pytest.fixture
async def still_core(settings: Settings) -> AsyncIterator[TipsterCore]:
    """A still replay clock, no market cache and tips that do not expire: the monitor (and the test's own
    reading) sees the very bars the fresh cards were made on."""
    s = settings.model_copy(update={
        "cache": settings.cache.model_copy(update={"market_ttl": 0}),
        "market": settings.market.model_copy(update={
            "replay": settings.market.replay.model_copy(update={"speed": 1e-9})}),
        "monitor": settings.monitor.model_copy(update={"signal_ttl_bars": 1000}),
    })
    async with open_core(s) as c:
        yield c


def user_ctx(n: int = 1, platform: str = "console", chat_type: str = "private") -> ChatContext:
    return ChatContext(platform=platform, user_id=str(n), chat_id=str(n), chat_type=chat_type,
                       username=f"user{n}", display_name=f"User {n}")
