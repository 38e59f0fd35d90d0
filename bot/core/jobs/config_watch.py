"""config.watch: every `config.watch_interval` seconds, compare the config file's hash with the content last
read; on a change, reload it exactly as /reload does and tell the admins what happened (an invalid edit
keeps the running configuration and says which key is wrong, once per edit)."""

from __future__ import annotations

import logging

from bot.core.kernel import Core
from bot.core.usecases.reload import Reloaded, reload_config
from bot.core.views.reload import reloaded

log = logging.getLogger(__name__)


class ConfigWatcher:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def run(self) -> Reloaded | None:
        """Reload when watching and the file changed since it was last read; None when nothing was done."""
        reloader = self.core.reloader
        if not self.core.settings.config.watch or reloader is None or reloader.path is None:
            return None
        current = reloader.fingerprint()
        if current is None or current == reloader.seen:  # unchanged, or mid-save (not readable for a moment)
            return None
        result = await reload_config(self.core, None, "watch")
        await self.core.notify_admins(reloaded(result), "admin_alert")
        return result
