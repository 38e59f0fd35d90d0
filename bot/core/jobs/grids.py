"""The paper grid watcher: each cycle applies every running grid's new closed bars by the grid strategy's rule
(bot.core.usecases.grids.advance_all); its fills open paper positions that the position monitor follows. It
keeps no state: each grid's last applied bar is stored with that bar's fills, so a restart resumes there."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from bot.core.usecases.grids import AdvanceResult, advance_all
from bot.core.views.grids import GridAlertViews

if TYPE_CHECKING:
    from bot.core.kernel import Core

log = logging.getLogger(__name__)


class GridWatcher:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.alerts = GridAlertViews()

    async def run(self) -> AdvanceResult:
        started, began = self.core.now(), time.perf_counter()
        result = await advance_all(self.core, self.alerts)
        if result.bars:
            await self.core.storage.job_runs.record("grids", started, (time.perf_counter() - began) * 1000,
                                                     result.bars, result.fills)
        return result
