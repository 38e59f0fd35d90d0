"""What the core reports to the operator's metrics (metrics.port), as plain calls: the core imports no
metrics library. bot/metrics.py implements this with prometheus-client; without it (metrics.port null, tests)
every call is a no-op.
"""

from __future__ import annotations

from typing import Protocol


class Metrics(Protocol):
    def command(self, name: str, outcome: str, seconds: float) -> None:
        """A command ran to its reply: how it ended (ok, user_error, refused, error) and how long it took."""

    def job_cycle(self, job: str, seconds: float, errors: int) -> None:
        """One run of a scheduled job (monitor, scan, summary, positions, ...); `errors` the items that failed,
        or 1 when the whole run failed."""

    def alert_sent(self, platform: str, status: str, lag_seconds: float | None) -> None:
        """An outbox send ended (sent, retry, failed, unreachable); `lag_seconds` from queueing to delivery."""

    def broker_error(self, broker: str, operation: str) -> None:
        """A broker call raised an error."""


class NoMetrics:
    """Metrics off: nothing is counted."""

    def command(self, name: str, outcome: str, seconds: float) -> None:
        return None

    def job_cycle(self, job: str, seconds: float, errors: int) -> None:
        return None

    def alert_sent(self, platform: str, status: str, lag_seconds: float | None) -> None:
        return None

    def broker_error(self, broker: str, operation: str) -> None:
        return None
