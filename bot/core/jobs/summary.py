"""The daily summary (SPEC §5): once a day per chat, at its summary time in its timezone.

The scheduler calls `DailySummary.run` every minute. A chat gets a summary when it follows something
(a watch or a subscription) or is the private chat of a user who got a tip there in the last 24 hours,
unless its `summary` chat setting is `off`. The summary is due once the chat's local clock has passed its
summary time today; the alert's dedupe key names the chat and its local date, so repeated runs, a
restart, or two processes still queue it exactly once per day.

Positions (a later issue) add trades, win rate and PnL by appending async providers to
`core.summary_sections`; see `SummarySection`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core import cards
from bot.core.formatting import local_time
from bot.core.replies import Reply
from engine.models import Recommendation
from storage.follows import ALL
from storage.summary import SummaryCandidate

if TYPE_CHECKING:
    from bot.core.kernel import Core

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=24)
MAX_CHANGE_LINES = 10  # a busy group's summary lists the latest changes, then counts the rest


@dataclass(frozen=True)
class SummaryScope:
    """What a summary section is asked about: one chat, over [since, until), shown in `tz`."""

    platform: str
    chat_id: str
    user_id: int | None  # the user whose private chat this is; None for a group
    since: datetime
    until: datetime
    tz: str


# The extension point: `core.summary_sections` is a list of these; each returns lines (empty: nothing to
# say) that are appended, in order, after the built-in sections. A failing section is logged and skipped.
SummarySection = Callable[["Core", SummaryScope], Awaitable[list[str]]]


class DailySummary:
    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def sections(self) -> list[SummarySection]:
        # Read on every run, so capabilities registered after start-up are included.
        return list(getattr(self.core, "summary_sections", []))

    async def run(self, now: datetime | None = None) -> int:
        """Queue every summary that is due at `now` (default: the core's clock); returns how many."""
        started = time.perf_counter()
        now = now or self.core.now()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        candidates = await self._candidates(now)
        queued = errors = 0
        for candidate in candidates:
            try:
                queued += await self._maybe_queue(candidate, now)
            except Exception:  # one chat's bad data never costs the other chats their summary
                errors += 1
                log.exception("summary for %s:%s failed", candidate.platform, candidate.chat_id)
        duration_ms = (time.perf_counter() - started) * 1000
        await self.core.storage.job_runs.record("summary", now, duration_ms, monitored=len(candidates),
                                                 changed=queued, errors=errors)
        return queued

    async def _candidates(self, now: datetime) -> list[SummaryCandidate]:
        # Chats that follow something, plus private chats where a tip was given lately; never blocked ones.
        return await self.core.storage.summaries.candidates(now - WINDOW)

    def _due(self, candidate: SummaryCandidate, now: datetime) -> tuple[str, str] | None:
        """(dedupe key, tz) when the chat's summary is due at `now`, else None."""
        at = candidate.chat.get("summary") or self.core.settings.summary.time
        if at == "off":
            return None
        tz = str(candidate.chat.get("timezone") or candidate.user_tz or "UTC")
        try:
            local = now.astimezone(ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            tz, local = "UTC", now.astimezone(UTC)  # a zone removed from tzdata must not silence the chat
        if local.time() < day_time.fromisoformat(at):
            return None
        return f"summary:{candidate.platform}:{candidate.chat_id}:{local.date().isoformat()}", tz

    async def _maybe_queue(self, candidate: SummaryCandidate, now: datetime) -> int:
        due = self._due(candidate, now)
        if due is None:
            return 0
        key, tz = due
        # The dedupe key would stop a second copy anyway; checking first spares composing it every minute.
        if await self.core.storage.alerts.exists(key):
            return 0
        scope = SummaryScope(candidate.platform, candidate.chat_id, candidate.user_id, now - WINDOW, now, tz)
        reply = await self.compose(scope)
        await self.core.notify_chat(candidate.platform, candidate.chat_id, reply, "summary", dedupe_key=key)
        return 1

    async def compose(self, scope: SummaryScope) -> Reply:
        """The summary of one chat: tips, changes, follows, then every extension section."""
        lines = await self._tips(scope)
        lines += await self._changes(scope)
        lines += await self._follows(scope)
        for section in self.sections:
            try:
                extra = await section(self.core, scope)
            except Exception:
                log.exception("summary section %r failed for %s:%s", section, scope.platform, scope.chat_id)
                continue
            if extra:
                lines += ["", *extra]
        lines += ["", "Change the time or turn this off: /settings summary=HH:MM or summary=off"]
        day = scope.until.astimezone(ZoneInfo(scope.tz) if scope.tz != "UTC" else UTC).date()
        return Reply(title=f"📊 Daily summary · {day.isoformat()}", text="\n".join(lines))

    async def _tips(self, scope: SummaryScope) -> list[str]:
        counts = Counter(await self.core.storage.summaries.tip_counts(scope.platform, scope.chat_id, scope.since,
                                                                       scope.until))
        total = sum(counts.values())
        if not total:
            return ["No tips in the last 24 h."]
        parts = [f"{cards.ICONS[rec]} {rec.value} {counts[rec.value]}" for rec in Recommendation if counts[rec.value]]
        return [f"Tips in the last 24 h: {total} ({' · '.join(parts)})"]

    async def _changes(self, scope: SummaryScope) -> list[str]:
        rows = await self.core.storage.summaries.status_changes(scope.platform, scope.chat_id, scope.since,
                                                                  scope.until)
        if not rows:
            return []
        lines = [f"Status changes: {len(rows)}"]
        for r in rows[:MAX_CHANGE_LINES]:
            lines.append(f"  #{r.signal_id} {r.symbol} {r.timeframe}: {r.data.get('old', '?')} → "
                         f"{r.data.get('new', '?')} · {local_time(r.created_at, scope.tz)}")
        if len(rows) > MAX_CHANGE_LINES:
            lines.append(f"  … and {len(rows) - MAX_CHANGE_LINES} more")
        return lines

    async def _follows(self, scope: SummaryScope) -> list[str]:
        watches = await self.core.storage.watches.for_chat(scope.platform, scope.chat_id)
        subs = await self.core.storage.subscriptions.for_chat(scope.platform, scope.chat_id)
        if not watches and not subs:
            return []
        subscribed = ", ".join("all symbols" if s == ALL else s for s in subs) or "nothing"
        return [f"Watching {len(watches)} market{'s' if len(watches) != 1 else ''} (/watchlist) · "
                f"subscribed to {subscribed} (/subscriptions)"]
