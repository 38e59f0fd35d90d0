"""The Prometheus exposition (metrics.port): what the core reports through bot.core.metrics.Metrics, counted
with prometheus-client in a registry of this process's own (never the global one, so several cores in one
test process do not share counts), served by aiohttp on the bot's own event loop.

Gauges that describe state — the outbox's depth, each data source's health — are read when scraped, so they
are never stale and cost nothing between scrapes.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.core.kernel import Core
from bot.core.metrics import NoMetrics
from engine.brokers.base import Broker, BrokerError

log = logging.getLogger(__name__)

PREFIX = "tipster_"
TIP_COMMANDS = frozenset({"signal"})  # commands whose duration is a tip's latency
QUEUED = ("pending", "sending")  # the outbox statuses that make its depth
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
LAG_BUCKETS = (0.1, 0.5, 1, 2, 5, 15, 60, 300, 1800, 3600)


class PrometheusMetrics:
    """bot.core.metrics.Metrics counted in prometheus-client metrics named `tipster_*`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(f"{PREFIX}commands", "Commands handled, by command and how they ended "
                                "(ok, user_error, refused, error)", ["command", "outcome"], registry=r)
        self.tip_latency = Histogram(f"{PREFIX}tip_latency_seconds", "From a /signal command to its reply "
                                     "(ok answers only)", buckets=LATENCY_BUCKETS, registry=r)
        self.job_seconds = Histogram(f"{PREFIX}job_cycle_seconds", "Duration of one run of a scheduled job "
                                     "(monitor, scan, summary, positions, grids)", ["job"], registry=r)
        self.job_errors = Counter(f"{PREFIX}job_errors", "Items a job run failed on (a failed run counts 1)",
                                  ["job"], registry=r)
        self.alerts = Counter(f"{PREFIX}alerts_sent", "Outbox send outcomes per platform (sent, retry, failed, "
                              "unreachable)", ["platform", "status"], registry=r)
        self.alert_lag = Histogram(f"{PREFIX}alert_lag_seconds", "From queueing an alert to its delivery",
                                   ["platform"], buckets=LAG_BUCKETS, registry=r)
        self.broker_errors = Counter(f"{PREFIX}broker_errors", "Broker calls that raised an error",
                                     ["broker", "operation"], registry=r)
        self.outbox_depth = Gauge(f"{PREFIX}outbox_depth", "Alerts waiting in the outbox (read at scrape time)",
                                  ["status"], registry=r)
        self.source_up = Gauge(f"{PREFIX}source_up", "1 if a data source's last answer was good (or it was not "
                               "asked yet), 0 while it is degraded", ["kind", "source"], registry=r)
        self.scrape_errors = Counter(f"{PREFIX}scrape_errors", "State that could not be read for a scrape",
                                     ["part"], registry=r)

    # ---- bot.core.metrics.Metrics ------------------------------------------------------------------------

    def command(self, name: str, outcome: str, seconds: float) -> None:
        self.commands.labels(command=name, outcome=outcome).inc()
        if name in TIP_COMMANDS and outcome == "ok":
            self.tip_latency.observe(seconds)

    def job_cycle(self, job: str, seconds: float, errors: int) -> None:
        self.job_seconds.labels(job=job).observe(seconds)
        self.job_errors.labels(job=job).inc(max(errors, 0))

    def alert_sent(self, platform: str, status: str, lag_seconds: float | None) -> None:
        self.alerts.labels(platform=platform, status=status).inc()
        if lag_seconds is not None:
            self.alert_lag.labels(platform=platform).observe(max(lag_seconds, 0.0))

    def broker_error(self, broker: str, operation: str) -> None:
        self.broker_errors.labels(broker=broker, operation=operation).inc()

    # ---- scrape time ---------------------------------------------------------------------------------------

    async def refresh(self, core: Core) -> None:
        """Read the state gauges; a part that cannot be read is counted, and the rest still served."""
        try:
            totals = await core.storage.alerts.status_totals()
            for status in QUEUED:
                self.outbox_depth.labels(status=status).set(totals.get(status, 0))
        except Exception:
            log.warning("metrics: the outbox depth could not be read", exc_info=True)
            self.scrape_errors.labels(part="outbox").inc()
        self._sources("market", core.services.market)
        self._sources("news", core.services.sentiment)

    def _sources(self, kind: str, part: object) -> None:
        status = getattr(part, "status", None)
        if status is None:
            return
        try:
            lines: Mapping[str, Any] = status()
        except Exception:
            self.scrape_errors.labels(part=kind).inc()
            return
        for source, line in lines.items():
            text = str(line)
            if text.startswith("not configured"):
                continue
            self.source_up.labels(kind=kind, source=str(source)).set(0 if text.startswith("degraded") else 1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class CountedBroker:
    """A broker whose errors are counted: every coroutine method's BrokerError is reported, then re-raised."""

    def __init__(self, inner: Broker, metrics: PrometheusMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(value):
            return value

        @functools.wraps(value)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return await value(*args, **kwargs)
            except BrokerError:
                self._metrics.broker_error(str(getattr(self._inner, "name", "?")), name)
                raise

        return counted


@dataclass
class MetricsServer:
    metrics: PrometheusMetrics
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"


@asynccontextmanager
async def metrics_served(core: Core, host: str, port: int) -> AsyncIterator[MetricsServer]:
    """Count this core's metrics and serve them on host:port (port 0: a free one) while the block runs."""
    metrics = PrometheusMetrics()

    async def scrape(request: web.Request) -> web.Response:
        await metrics.refresh(core)
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise MetricsUnavailable(f"metrics.port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    bound = port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        bound = server.sockets[0].getsockname()[1]
    _attach(core, metrics)
    log.info("metrics served at http://%s:%s/metrics", host, bound)
    try:
        yield MetricsServer(metrics, host, bound)
    finally:
        _detach(core)
        await runner.cleanup()


class MetricsUnavailable(Exception):
    """The metrics port cannot be opened; one line naming it."""


def _attach(core: Core, metrics: PrometheusMetrics) -> None:
    core.metrics = metrics
    outbox = core.services.outbox
    if outbox is not None:
        outbox.metrics = metrics  # the drainers started from now on report their sends
    trading = core.trading
    if trading is not None and isinstance(getattr(trading, "brokers", None), dict):
        trading.brokers = {name: b if isinstance(b, CountedBroker) else CountedBroker(b, metrics)
                           for name, b in trading.brokers.items()}
    factory = core.services.broker_factory
    if factory is not None and not isinstance(factory, CountedFactory):
        core.services.broker_factory = CountedFactory(factory, metrics)  # users' own accounts (/setkeys)


class CountedFactory:
    """Builds users' own broker clients (bot.app.own_broker_factory) with their errors counted."""

    def __init__(self, inner: Callable[[str, str, str], Broker], metrics: PrometheusMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def __call__(self, name: str, key: str, secret: str) -> CountedBroker:
        return CountedBroker(self.inner(name, key, secret), self.metrics)


def _detach(core: Core) -> None:
    core.metrics = NoMetrics()
    if core.services.outbox is not None:
        core.services.outbox.metrics = NoMetrics()
