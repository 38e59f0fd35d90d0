"""Numbers and times as a trader reads them: prices at tick precision, signed scores, local times."""

from __future__ import annotations

from datetime import UTC, datetime
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
