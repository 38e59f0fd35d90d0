"""The US equity regular session (NYSE/Nasdaq, 09:30–16:00 America/New_York, Monday to Friday).

Stock data is judged by trading time, not wall time: a Friday close read on Sunday is the newest price there
is, not two days stale. Holidays are NYSE's full-day closures as published by NYSE Group for 2024–2028
(announced 2023-11, 2024-11 and 2025-12), plus the unscheduled closure of 2025-01-09 (national day of
mourning for President Carter). Outside those years only weekends are known closures, so a holiday there
looks like a missing session; extend the table when NYSE publishes the next year.

Early closes (13:00 ET on the day before Independence Day, the day after Thanksgiving and Christmas Eve in
some years) are ignored: those sessions are counted as ending at 16:00. The cost is small and one-sided —
on those afternoons a bar may be called "forming" up to three hours longer and data may look fresher than it
is by at most that much — against keeping a second table that changes every year.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
OPEN = time(9, 30)
CLOSE = time(16, 0)
SESSION_SECONDS = 6.5 * 3600

HOLIDAYS: frozenset[date] = frozenset(date.fromisoformat(d) for d in (
    # 2024
    "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19", "2024-07-04",
    "2024-09-02", "2024-11-28", "2024-12-25",
    # 2025 (01-09: day of mourning for President Carter)
    "2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-06-19",
    "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25",
    # 2026 (07-03: Independence Day observed)
    "2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19", "2026-07-03",
    "2026-09-07", "2026-11-26", "2026-12-25",
    # 2027 (06-18, 07-05, 12-24: observed)
    "2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18", "2027-07-05",
    "2027-09-06", "2027-11-25", "2027-12-24",
    # 2028 (New Year's Day falls on a Saturday and is not observed)
    "2028-01-17", "2028-02-21", "2028-04-14", "2028-05-29", "2028-06-19", "2028-07-04", "2028-09-04",
    "2028-11-23", "2028-12-25",
))


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("session times must be timezone-aware (a naive datetime has no market meaning)")
    return t


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS


def session_bounds(day: date) -> tuple[datetime, datetime]:
    """Open and close of `day`'s regular session, as New York times (valid for any date; DST-correct)."""
    return datetime.combine(day, OPEN, NEW_YORK), datetime.combine(day, CLOSE, NEW_YORK)


def session_close(day: date) -> datetime:
    return session_bounds(day)[1]


def is_open(t: datetime) -> bool:
    """True while the regular session is trading (open inclusive, close exclusive)."""
    local = _aware(t).astimezone(NEW_YORK)
    if not is_trading_day(local.date()):
        return False
    start, end = session_bounds(local.date())
    return start <= local < end


def last_session_close(t: datetime) -> datetime:
    """The most recent session close at or before `t` (in New York time)."""
    local = _aware(t).astimezone(NEW_YORK)
    day = local.date()
    if is_trading_day(day) and session_close(day) <= local:
        return session_close(day)
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return session_close(day)


def session_seconds_between(a: datetime, b: datetime) -> float:
    """Seconds of regular trading session in [a, b] (0 when b ≤ a)."""
    a, b = _aware(a).astimezone(UTC), _aware(b).astimezone(UTC)
    if b <= a:
        return 0.0
    total = 0.0
    day, last = a.astimezone(NEW_YORK).date(), b.astimezone(NEW_YORK).date()
    while day <= last:
        if is_trading_day(day):
            start, end = session_bounds(day)
            overlap = (min(end, b) - max(start, a)).total_seconds()
            total += max(0.0, overlap)
        day += timedelta(days=1)
    return total


def trading_days_back(t: datetime, sessions: int) -> date:
    """The date of the `sessions`-th trading day before `t`'s New York date (how far back a request for
    that many daily bars has to start)."""
    day = _aware(t).astimezone(NEW_YORK).date()
    counted = 0
    while counted < sessions:
        day -= timedelta(days=1)
        if is_trading_day(day):
            counted += 1
    return day


__all__ = [
    "HOLIDAYS",
    "NEW_YORK",
    "SESSION_SECONDS",
    "is_open",
    "is_trading_day",
    "last_session_close",
    "session_bounds",
    "session_close",
    "session_seconds_between",
    "trading_days_back",
]
