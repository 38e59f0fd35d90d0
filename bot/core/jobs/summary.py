"""The daily summary (SPEC §5): once a day per chat, at its summary time in its timezone.

The scheduler calls `DailySummary.run` every minute. A chat gets a summary when it follows something
(a watch or a subscription) or is the private chat of a user who got a tip there in the last 24 hours,
unless its `summary` chat setting is `off`. The summary is due once the chat's local clock has passed its
summary time today; the alert's dedupe key names the chat and its local date, so repeated runs, a
restart, or two processes still queue it exactly once per day.

Positions add trades, win rate and PnL by appending async providers to `core.summary_sections`; see
`SummarySection` (bot.core.usecases.summary, which gathers what a summary says; bot.core.views.alerts
renders it).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from datetime import time as day_time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.kernel import Core
from bot.core.replies import Reply
from bot.core.usecases.summary import WINDOW, SummaryScope, SummarySection, chat_summary
from bot.core.views.alerts import daily_summary
from storage.summary import SummaryCandidate

log = logging.getLogger(__name__)
__all__ = ["DailySummary", "SummaryScope", "SummarySection"]  # the scope and section type live in the use case


class DailySummary:
    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def sections(self) -> list[SummarySection]:
        # Read on every run, so capabilities registered after start-up are included.
        return list(self.core.summary_sections)

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
        # A summary channel (discord.channels.summary) is one more, summing up every chat.
        found = await self.core.storage.summaries.candidates(now - WINDOW)
        known = {(c.platform, c.chat_id) for c in found}
        for platform, chat_id in self.core.summary_channels:
            if (platform, chat_id) not in known:
                settings = await self.core.storage.chat_settings.get(platform, chat_id)
                found.append(SummaryCandidate(platform, chat_id, settings, None, None))
        return found

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
        everywhere = (candidate.platform, candidate.chat_id) in self.core.summary_channels
        scope = SummaryScope(candidate.platform, candidate.chat_id, candidate.user_id, now - WINDOW, now, tz,
                             everywhere)
        reply = await self.compose(scope)
        await self.core.notify_chat(candidate.platform, candidate.chat_id, reply, "summary", dedupe_key=key)
        return 1

    async def compose(self, scope: SummaryScope) -> Reply:
        """The summary of one chat: tips, changes, follows, then every extension section."""
        return daily_summary(await chat_summary(self.core, scope, self.sections))
