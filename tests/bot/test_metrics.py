"""metrics.port: the Prometheus exposition scraped over real HTTP on a free loopback port, after driving the core
through its own entry points (commands, a job run, an outbox send, a broker error)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from bot.app import jobs_running, open_core
from bot.core.metrics import NoMetrics
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.metrics import CountedBroker, CountedFactory, PrometheusMetrics
from bot.settings import Settings
from engine.brokers.base import BrokerError, OrderRejected, OrderRequest, Side
from tests.conftest import user_ctx

ADMIN = user_ctx(100)
TRADER = user_ctx(7)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_metrics(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"admins": ["console:100"],
                                       "metrics": settings.metrics.model_copy(update={"port": port})})


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
async def mcore(settings: Settings, port: int) -> AsyncIterator[TipsterCore]:
    async with open_core(with_metrics(settings, port)) as core:
        await core.ensure_user(ADMIN)
        yield core


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return await response.text()


def value(text: str, sample: str) -> float | None:
    """The value of one exposition line `name{labels}` (labels exactly as Prometheus prints them)."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split(" ")[1])
    return None


async def test_commands_by_name_and_outcome(mcore: TipsterCore, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    await mcore.handle_text(TRADER, "/signal BTC/USDT 1h")
    await mcore.handle_text(TRADER, "/signal BTC/USDT 7x")  # not a timeframe: the user's mistake
    await mcore.handle_text(TRADER, "/users")  # admins only
    await mcore.handle_text(TRADER, "/help")

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(mcore.storage.signals, "get", broken)  # storage failing under a command: a bug's path
    await mcore.handle_text(TRADER, "/history 1")
    text = await scrape(port)
    assert 'tipster_commands_total{command="signal",outcome="ok"} 1.0' in text
    assert value(text, 'tipster_commands_total{command="signal",outcome="user_error"}') == 1.0
    assert value(text, 'tipster_commands_total{command="users",outcome="refused"}') == 1.0
    assert value(text, 'tipster_commands_total{command="help",outcome="ok"}') == 1.0
    assert value(text, 'tipster_commands_total{command="history",outcome="error"}') == 1.0
    # Only the good tip is a tip's latency.
    assert value(text, "tipster_tip_latency_seconds_count") == 1.0
    assert 0 < value(text, "tipster_tip_latency_seconds_sum") < 60  # type: ignore[operator]


async def test_outbox_depth_is_read_at_scrape_time(mcore: TipsterCore, port: int) -> None:
    assert value(await scrape(port), 'tipster_outbox_depth{status="pending"}') == 0.0
    for n in range(3):
        await mcore.notify_chat("console", str(n), Reply(text=f"alert {n}"), "test")
    text = await scrape(port)
    assert value(text, 'tipster_outbox_depth{status="pending"}') == 3.0
    assert value(text, 'tipster_outbox_depth{status="sending"}') == 0.0


class Sender:
    platform = "console"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, chat_id: str, reply: Reply) -> None:
        self.sent.append(chat_id)


async def test_send_rate_and_lag(mcore: TipsterCore, port: int) -> None:
    for n in range(2):
        await mcore.notify_chat("console", f"c{n}", Reply(text="hello"), "test")
    sender = Sender()
    async with mcore.outbox.drainer(sender, poll_interval=0.01):  # type: ignore[union-attr]
        for _ in range(200):
            if len(sender.sent) == 2 and value(await scrape(port), 'tipster_alerts_sent_total{platform="console",'
                                                                   'status="sent"}') == 2.0:
                break
            await asyncio.sleep(0.02)
    text = await scrape(port)
    assert value(text, 'tipster_alerts_sent_total{platform="console",status="sent"}') == 2.0
    assert value(text, 'tipster_alert_lag_seconds_count{platform="console"}') == 2.0
    assert value(text, 'tipster_outbox_depth{status="pending"}') == 0.0


async def test_job_cycles_and_errors(mcore: TipsterCore, port: int) -> None:
    async with jobs_running(mcore) as scheduler:
        await scheduler._wrap(scheduler.jobs["monitor"])()

        async def failing() -> None:
            raise RuntimeError("source down")

        scheduler.add("broken", failing, lambda: 60)
        await scheduler._wrap(scheduler.jobs["broken"])()
    text = await scrape(port)
    assert value(text, 'tipster_job_cycle_seconds_count{job="monitor"}') == 1.0
    assert value(text, 'tipster_job_errors_total{job="monitor"}') == 0.0
    assert value(text, 'tipster_job_errors_total{job="broken"}') == 1.0


async def test_broker_errors(mcore: TipsterCore, port: int) -> None:
    broker = mcore.trading.broker("paper")
    assert isinstance(broker, CountedBroker)
    order = OrderRequest(client_order_id="x1", symbol="BTC/USDT", side=Side.LONG, quantity=Decimal("1e-12"),
                         price=Decimal(100))
    with pytest.raises(OrderRejected):
        await broker.submit(order)
    assert broker.name == "paper"
    assert value(await scrape(port), 'tipster_broker_errors_total{broker="paper",operation="submit"}') == 1.0


class FailingBroker:
    name = "alpaca"

    async def order_status(self, client_order_id: str, symbol: str | None = None) -> None:
        raise BrokerError("401 unauthorized", auth=True)


async def test_users_own_brokers_are_counted(mcore: TipsterCore, port: int) -> None:
    factory = mcore.services.broker_factory
    assert isinstance(factory, CountedFactory)  # what OwnBrokers builds users' clients with (/setkeys)
    factory.inner = lambda name, key, secret: FailingBroker()
    client = factory("alpaca", "key", "secret")
    with pytest.raises(BrokerError):
        await client.order_status("x")
    assert value(await scrape(port), 'tipster_broker_errors_total{broker="alpaca",operation="order_status"}') == 1.0


async def test_source_health(mcore: TipsterCore, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = await scrape(port)
    assert value(text, 'tipster_source_up{kind="market",source="BTC/USDT"}') == 1.0
    assert re.search(r'tipster_source_up\{kind="news",source="[^"]+"\} 1\.0', text)
    monkeypatch.setattr(mcore.services.market, "status",
                        lambda: {"binance": "degraded: timeout (since 10:00 UTC)", "stocks": "not configured (...)"})
    text = await scrape(port)
    assert value(text, 'tipster_source_up{kind="market",source="binance"}') == 0.0
    assert 'source="stocks"' not in text


async def test_each_core_counts_its_own(settings: Settings, tmp_path: object) -> None:
    first, second = free_port(), free_port()
    other = settings.model_copy(update={"storage": settings.storage.model_copy(
        update={"sqlite_path": settings.storage.sqlite_path + ".2"})})
    async with open_core(with_metrics(settings, first)) as a, open_core(with_metrics(other, second)) as b:
        await a.handle_text(TRADER, "/help")
        await a.handle_text(TRADER, "/help")
        await b.handle_text(TRADER, "/help")
        assert value(await scrape(first), 'tipster_commands_total{command="help",outcome="ok"}') == 2.0
        assert value(await scrape(second), 'tipster_commands_total{command="help",outcome="ok"}') == 1.0


async def test_port_null_serves_nothing(core: TipsterCore) -> None:
    assert core.settings.metrics.port is None
    assert isinstance(core.metrics, NoMetrics)


def test_every_metric_is_prefixed_and_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Metrics", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    names = {m.name for m in PrometheusMetrics().registry.collect()}
    assert names and all(n.startswith("tipster_") for n in names)
    missing = [n for n in names if f"`{n}" not in section]
    assert missing == []
