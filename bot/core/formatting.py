"""Numbers and times as a trader reads them: prices at tick precision, signed scores, local times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo


def price(value: Decimal | float | None, decimals: int) -> str:
    if value is None:
        return "—"
    return f"{Decimal(str(value)):,.{decimals}f}"


def score(value: float) -> str:
    return f"{value:+.2f}"


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def local_time(moment: datetime | None, tz: str = "UTC") -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = ZoneInfo(tz) if tz != "UTC" else UTC
    shown = moment.astimezone(zone)
    label = "UTC" if tz == "UTC" else shown.tzname() or tz
    return f"{shown:%Y-%m-%d %H:%M} {label}"


def clock(moment: datetime, tz: str = "UTC") -> str:
    """Only the time of day, in the user's zone (for the end of a range whose start shows the date)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = ZoneInfo(tz) if tz != "UTC" else UTC
    return f"{moment.astimezone(zone):%H:%M}"


def age(delta: timedelta) -> str:
    """A duration as a person says it: 45 min, 5 h, 3 days."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
