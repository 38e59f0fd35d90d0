"""Numbers and times as a trader reads them: prices at tick precision, signed scores, local times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo


def price(value: Decimal | float | None, decimals: int) -> str:
    if value is None:
        return "—"
    return f"{Decimal(str(value)):,.{decimals}f}"


MINUS = "\u2212"  # money reads "−$20.39": a real minus sign before the currency symbol
MAX_SCORE_DECIMALS = 12  # fused scores are rounded to 12 places (engine.scoring), so this always separates


def score(value: float, decimals: int = 2) -> str:
    """A signed score; one that rounds to zero reads +0.00, never -0.00 (a sign there would mean nothing)."""
    text = f"{value:+.{decimals}f}"
    return f"{0.0:+.{decimals}f}" if float(text) == 0 else text


def decisive_decimals(value: float, *limits: float, least: int = 2) -> int:
    """The fewest decimals (at least `least`) at which `value` reads differently from every limit it differs
    from: a fused score of 0.2961 against a buy threshold of 0.30 must not read "+0.30 … ≥ +0.30"."""
    for decimals in range(least, MAX_SCORE_DECIMALS + 1):
        shown = score(value, decimals)
        if all(limit == value or score(limit, decimals) != shown for limit in limits):
            return decimals
    return MAX_SCORE_DECIMALS


def money(value: Decimal | int | float, *, signed: bool = False, cents: bool = True) -> str:
    """Dollars as every view shows them: `$1,234.50`, `−$20.39`; `signed` adds `+` to gains (`+$6.15`).

    An amount that reads as zero has no sign. `cents=False` is for whole-dollar sizes (`$1,000`)."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    digits = f"{abs(amount):,.{2 if cents else 0}f}"
    if amount < 0 and Decimal(digits.replace(",", "")) != 0:
        return f"{MINUS}${digits}"
    if signed and amount > 0 and Decimal(digits.replace(",", "")) != 0:
        return f"+${digits}"
    return f"${digits}"


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _in_zone(moment: datetime, tz: str) -> datetime:
    """`moment` in the user's zone; a naive time is UTC, as storage writes them."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(tz) if tz != "UTC" else UTC)


def local_time(moment: datetime | None, tz: str = "UTC") -> str:
    if moment is None:
        return "—"
    shown = _in_zone(moment, tz)
    label = "UTC" if tz == "UTC" else shown.tzname() or tz
    return f"{shown:%Y-%m-%d %H:%M} {label}"


def clock(moment: datetime, tz: str = "UTC") -> str:
    """Only the time of day, in the user's zone (for the end of a range whose start shows the date)."""
    return f"{_in_zone(moment, tz):%H:%M}"
