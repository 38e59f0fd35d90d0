"""Admins hear once when a data source refuses our credentials (SPEC §10: stop and alert on auth errors).

Once per source per run: a monitor cycle every two minutes must not page the admins every two minutes.
Fixing the keys means a restart, which starts a new run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.core.replies import Reply
from engine.market.base import MarketUnavailable

log = logging.getLogger(__name__)


class SourceAlerts:
    def __init__(self, notify_admins: Callable[[Reply, str], Awaitable[None]]) -> None:
        self.notify_admins = notify_admins
        self._alerted: set[str] = set()

    async def failed(self, exc: BaseException) -> None:
        if not isinstance(exc, MarketUnavailable) or not exc.auth:
            return
        key = exc.source or "market"
        if key in self._alerted:
            return
        self._alerted.add(key)
        log.error("data source %s refused our credentials: %s", key, exc)
        reply = Reply(title="⚠️ Data source refused our credentials",
                      text=f"{exc}\nTips on its symbols fail until the keys are fixed and the bot is restarted.")
        await self.notify_admins(reply, "admin_alert")

