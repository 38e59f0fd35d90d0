"""Retrying broker calls: exponential backoff with jitter, the broker's Retry-After honoured, a few attempts.

What may be retried is decided where the error is translated (alpaca.py, ccxt_broker.py), because it depends
on whether the request can have had an effect: a 429 was refused before it was processed, so even an order
POST may be sent again; a timeout or a 5xx on an order POST may have created the order, so it is not retried
here but surfaces as a transient BrokerError for the caller to reconcile with `order_status`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from engine.brokers.base import BrokerError
from engine.fetching import backoff, log_retry, parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["RetryPolicy", "parse_retry_after", "retryable", "with_retry"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # 1 call + 3 retries: 0.5 s, 1 s, 2 s (+ jitter) ≈ 4 s before giving up
    initial: float = 0.5
    maximum: float = 8.0
    max_retry_after: float = 30.0  # a longer Retry-After is capped: a user is waiting for the answer
    jitter: float = 0.25


def retryable(exc: BrokerError, value: bool = True) -> BrokerError:
    """Mark a translated error as safe to send again (the request cannot have had an effect, or is a read)."""
    exc._retryable = value  # type: ignore[attr-defined]
    return exc


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, BrokerError) and exc.transient and getattr(exc, "_retryable", False)


async def with_retry(call: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str) -> T:
    """Run `call` (which raises translated BrokerErrors) under `policy`; the last error is re-raised as is."""

    wait, before_sleep = backoff(policy), log_retry(what, policy.attempts)
    async for attempt in AsyncRetrying(stop=stop_after_attempt(policy.attempts), wait=wait,
                                       retry=retry_if_exception(_is_retryable), before_sleep=before_sleep,
                                       reraise=True):
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover
