"""Reading the outside world (exchanges, Alpaca data, RSS, Reddit): one error type, one retry policy, one client.

SPEC §10 and seed 002's error policy: retry with backoff and jitter on timeouts, 429 (honouring Retry-After)
and 5xx, within a budget a waiting user can bear (3 tries, at most 10 s per request); an auth error stops at
once; anything else is not retried. Every call has a timeout: a source that hangs costs at most that long.

`SourceError`'s message is one line fit to show a user; it never carries a request header (keys live there).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = "Tipster/0.1 (trading-tips chat bot; +https://github.com/tipster-bot/tipster)"


class SourceError(Exception):
    """A source could not answer. `transient`: worth retrying later; `auth`: its credentials were refused."""

    def __init__(self, source: str, message: str, *, transient: bool = False, auth: bool = False,
                 retry_after: float | None = None, status: int | None = None) -> None:
        self.source = source
        self.message = " ".join(message.split())[:200]
        self.transient = transient
        self.auth = auth
        self.retry_after = retry_after
        self.status = status
        super().__init__(f"{source}: {self.message}")


class AuthFailed(SourceError):
    def __init__(self, source: str, message: str, status: int | None = None) -> None:
        super().__init__(source, message, auth=True, status=status)


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    attempts: int = 3
    timeout: float = 10.0  # per request, connect to last byte
    initial: float = 0.5  # first backoff; doubled per try
    maximum: float = 4.0
    max_retry_after: float = 10.0  # a longer Retry-After is not waited for: the user is waiting
    jitter: float = 0.25
    budget: float = 25.0  # all tries of one call, waits included


DEFAULT_POLICY = FetchPolicy()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, SourceError) and exc.transient


class BackoffPolicy(Protocol):
    attempts: int
    initial: float
    maximum: float
    max_retry_after: float
    jitter: float


def backoff(policy: BackoffPolicy) -> Callable[[RetryCallState], float]:
    """tenacity's wait: the error's Retry-After when it has one (capped), else exponential; jitter on both."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None and after >= 0:
            return min(after, policy.max_retry_after) + random.uniform(0, policy.jitter)
        # exponential, spelled out: tenacity renamed wait_exponential_jitter's arguments in 9.x
        delay = min(policy.maximum, policy.initial * 2 ** (state.attempt_number - 1))
        return delay + random.uniform(0, policy.jitter)

    return wait


def log_retry(what: str, attempts: int) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("%s: %s; retry %d/%d in %.2f s", what, exc, state.attempt_number, attempts - 1,
                 state.next_action.sleep if state.next_action else 0)

    return before_sleep


async def with_retries(call: Callable[[], Awaitable[T]], *, what: str, policy: FetchPolicy = DEFAULT_POLICY) -> T:
    """Run `call` (which raises `SourceError`) under `policy`; the last error is re-raised as it is."""

    wait, before_sleep = backoff(policy), log_retry(what, policy.attempts)
    async for attempt in AsyncRetrying(stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.budget),
                                       wait=wait, retry=retry_if_exception(_transient),
                                       before_sleep=before_sleep, reraise=True):
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


def error_for_status(source: str, response: httpx.Response) -> SourceError | None:
    """The SourceError an HTTP answer means, or None for a 2xx."""
    status = response.status_code
    if status < 300:
        return None
    if status in (401, 403):
        return AuthFailed(source, f"refused our credentials (HTTP {status})", status=status)
    if status == 429:
        return SourceError(source, "rate limited (HTTP 429)", transient=True, status=status,
                           retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        return SourceError(source, f"server error (HTTP {status})", transient=True, status=status)
    return SourceError(source, f"HTTP {status}", status=status)


class HttpClient:
    """httpx.AsyncClient with the project's timeout, User-Agent and retry policy; one per source."""

    def __init__(self, source: str, *, base_headers: Mapping[str, str] | None = None,
                 policy: FetchPolicy = DEFAULT_POLICY, user_agent: str = USER_AGENT,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.source = source
        self.policy = policy
        headers = {"User-Agent": user_agent, **(base_headers or {})}
        self._client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(policy.timeout),
                                         follow_redirects=True, transport=transport)

    async def get(self, url: str, *, params: Mapping[str, Any] | None = None,
                  headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET with retries; a non-2xx answer after them raises SourceError (AuthFailed for 401/403)."""

        async def once() -> httpx.Response:
            try:
                response = await self._client.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                raise SourceError(self.source, f"timed out after {self.policy.timeout:g} s",
                                  transient=True) from None
            except httpx.TransportError as exc:
                raise SourceError(self.source, f"unreachable ({type(exc).__name__})", transient=True) from None
            except httpx.InvalidURL as exc:
                raise SourceError(self.source, f"invalid URL ({exc})") from None
            error = error_for_status(self.source, response)
            if error is not None:
                raise error
            return response

        return await with_retries(once, what=f"{self.source} GET {_redact(url)}", policy=self.policy)

    async def aclose(self) -> None:
        await self._client.aclose()


class SourceHealth:
    """A source's last answer and its current failure, for /health: ok, idle, or degraded since when."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.last_ok: float | None = None
        self.last_error: str | None = None
        self.error_since: float | None = None

    def succeeded(self) -> None:
        self.last_ok = self._clock()
        self.last_error = self.error_since = None

    def failed(self, message: str) -> None:
        if self.error_since is None:
            self.error_since = self._clock()
        self.last_error = message

    def line(self, idle: str, ok_detail: str = "") -> str:
        from datetime import UTC, datetime

        if self.last_error is not None and self.error_since is not None:
            since = datetime.fromtimestamp(self.error_since, tz=UTC)
            return f"degraded: {self.last_error} (since {since:%H:%M} UTC)"
        if self.last_ok is None:
            return idle
        when = datetime.fromtimestamp(self.last_ok, tz=UTC)
        return f"ok · {ok_detail}last answer {when:%H:%M:%S} UTC"


def _redact(url: str) -> str:
    """Logged URLs lose their query: some APIs take tokens there."""
    return url.split("?", 1)[0]
