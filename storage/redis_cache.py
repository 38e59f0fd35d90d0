"""`engine.cache.Cache` on Redis (SPEC §9: used when `storage.redis_url` is set), shared by every process.

A cache is an optimisation, so a Redis outage must never cost a tip: while Redis is unreachable `get`
answers None and `set` does nothing, the outage is logged once (and its end once), and `/health` shows it
through `status()`. Every call has a short socket timeout, and after a failure the cache stops calling
Redis for `probe_interval` seconds: a hung server then costs one timeout per interval, not one per request.

Needs the `redis` package (the project's `live` extra).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What a broken or slow Redis raises: redis-py's own errors, plus OS and asyncio ones that can escape it.
_OUTAGE_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
_SCAN_BATCH = 500


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for logs and /health."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if has_password else netloc
    query = parts.query
    if query:
        pairs = [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _escape_glob(text: str) -> str:
    """`text` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisCache:
    """Byte values under `prefix` in the Redis at `url`, with millisecond expiry; degrades to a no-op cache."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tipster:cache:",
        timeout: float = 0.5,
        probe_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.url = mask_url(url)
        self.name = f"Redis {self.url}"
        self.prefix = prefix
        self.healthy = True
        self._probe_interval = probe_interval
        self._clock = clock
        self._now = now
        self._failure: str | None = None  # exception type of the current outage
        self._since: datetime | None = None
        self._retry_at = 0.0
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One immediate retry on a dropped connection (a pooled socket left over from before a Redis
            # restart fails once, a fresh one works); never on a timeout, which would double a hang's cost.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            retry_on_timeout=False,
        )

    async def get(self, key: str) -> bytes | None:
        if not self._may_call():
            return None
        try:
            value = await self._client.get(self.prefix + key)
        except _OUTAGE_ERRORS as exc:
            self._failed(exc)
            return None
        self._succeeded()
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0 or not self._may_call():
            return
        try:
            await self._client.set(self.prefix + key, value, px=max(1, round(ttl * 1000)))
        except _OUTAGE_ERRORS as exc:
            self._failed(exc)
            return
        self._succeeded()

    async def clear(self) -> None:
        """Delete the keys under this cache's prefix (SCAN, so a large database is not blocked), nothing else."""
        pattern = _escape_glob(self.prefix) + "*"
        try:
            batch: list[bytes] = []
            async for key in self._client.scan_iter(match=pattern, count=_SCAN_BATCH):
                batch.append(key)
                if len(batch) >= _SCAN_BATCH:
                    await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                await self._client.unlink(*batch)
        except _OUTAGE_ERRORS as exc:
            self._failed(exc)  # what is left expires by its TTL
            return
        self._succeeded()

    async def ping(self) -> bool:
        """Ask Redis now, whatever the recent failures (for /health and start-up); updates `healthy`."""
        try:
            await self._client.ping()
        except _OUTAGE_ERRORS as exc:
            self._failed(exc)
            return False
        self._succeeded()
        return True

    def status(self) -> str:
        if self.healthy:
            return f"{self.name} ok"
        since = f" since {self._since:%H:%M} UTC" if self._since is not None else ""
        return f"{self.name} degraded: {self._failure}{since}"

    async def close(self) -> None:
        await self._client.aclose()

    def _may_call(self) -> bool:
        return self.healthy or self._clock() >= self._retry_at

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = self._clock() + self._probe_interval
        if self.healthy:
            self.healthy = False
            self._failure = type(exc).__name__
            self._since = self._now().astimezone(UTC)
            log.warning("cache %s unavailable (%s: %s); serving without cache until it answers again",
                        self.name, self._failure, self._safe_message(exc))

    def _succeeded(self) -> None:
        if not self.healthy:
            log.warning("cache %s answers again (down since %s)", self.name,
                        f"{self._since:%H:%M} UTC" if self._since else "?")
            self.healthy = True
            self._failure = None
            self._since = None

    def _safe_message(self, exc: BaseException) -> str:
        # redis-py messages name host and port, not the password; the URL is masked anyway in case one does.
        return str(exc).replace(self._client.connection_pool.connection_kwargs.get("password") or "\0", "***")
