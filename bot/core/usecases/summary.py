"""What one chat's daily summary says (SPEC §5): its tips, its tips' status changes and its follows over a
window, then what each extension section adds (positions add trades, win rate and PnL).

The daily summary job decides which chats are due and queues the rendered summary (bot.core.views.alerts).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.kernel import Core
from storage.summary import StatusChange

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class SummaryScope:
    """What a summary section is asked about: one chat, over [since, until), shown in `tz`."""

    platform: str
    chat_id: str
    user_id: int | None  # the user whose private chat this is; None for a group
    since: datetime
    until: datetime
    tz: str
    everywhere: bool = False  # a summary channel (discord.channels.summary): every chat's tips and trades


# The extension point: `core.summary_sections` is a list of these; each returns lines (empty: nothing to
# say) that are appended, in order, after the built-in sections. A failing section is logged and skipped.
SummarySection = Callable[[Core, SummaryScope], Awaitable[list[str]]]


@dataclass(frozen=True)
class ChatSummary:
    scope: SummaryScope
    tips: dict[str, int]  # recommendation value -> tips given in the chat over the window
    changes: list[StatusChange]  # its tips' status changes over the window, newest first
    watches: int  # markets the chat watches
    subscriptions: list[str]  # symbols it is subscribed to (storage.follows.ALL: every symbol)
    sections: list[list[str]]  # each extension section's lines, in order; sections with nothing to say left out


async def chat_summary(core: Core, scope: SummaryScope, sections: Sequence[SummarySection]) -> ChatSummary:
    """Everything one chat's summary shows. One failing extension section never costs the chat its summary."""
    storage = core.storage
    platform, chat_id = (None, None) if scope.everywhere else (scope.platform, scope.chat_id)
    tips = await storage.summaries.tip_counts(platform, chat_id, scope.since, scope.until)
    changes = await storage.summaries.status_changes(platform, chat_id, scope.since, scope.until)
    # A summary channel follows nothing itself: its summary is about every chat's tips, not its own follows.
    watches = [] if scope.everywhere else await storage.watches.for_chat(scope.platform, scope.chat_id)
    subscriptions = [] if scope.everywhere else await storage.subscriptions.for_chat(scope.platform, scope.chat_id)
    extra: list[list[str]] = []
    for section in sections:
        try:
            lines = await section(core, scope)
        except Exception:
            log.exception("summary section %r failed for %s:%s", section, scope.platform, scope.chat_id)
            continue
        if lines:
            extra.append(list(lines))
    return ChatSummary(scope, tips, changes, len(watches), list(subscriptions), extra)
