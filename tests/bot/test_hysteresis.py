"""Monitoring hysteresis (issue 9, SPEC §3): a live tip changes only when the fused score is past the threshold
by `monitor.hysteresis`, or when the same change is proposed on two cycles in a row."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from bot.app import open_core
from bot.core.jobs.monitor import SignalMonitor
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.models import Recommendation, SignalParams
from engine.reevaluate import settle_changes
from engine.signals import generate_signal

BUY, HOLD, SELL = 1, 0, -1


@pytest.mark.parametrize(("current", "proposed", "fused", "pending", "expected"), [
    (HOLD, BUY, 0.34, 9, HOLD),     # 0.04 past buy 0.30: not enough (h 0.05)
    (HOLD, BUY, 0.35, 9, BUY),      # exactly 0.05 past: taken
    (HOLD, BUY, 0.31, BUY, BUY),    # proposed again after being held last cycle: taken
    (HOLD, BUY, 0.31, SELL, HOLD),  # a different change held last cycle does not count
    (BUY, HOLD, 0.27, 9, BUY),      # leaving BUY: 0.03 below buy is not enough
    (BUY, HOLD, 0.25, 9, HOLD),     # 0.05 below buy: taken
    (SELL, HOLD, -0.28, 9, SELL),   # 0.02 above sell: held
    (SELL, HOLD, -0.24, 9, HOLD),   # 0.06 above sell: taken
    (HOLD, SELL, -0.33, 9, HOLD),   # 0.03 below sell: held
    (BUY, SELL, -0.40, 9, SELL),    # a reversal far past sell: taken
    (BUY, SELL, -0.32, 9, BUY),     # a reversal just past sell: held
    (BUY, BUY, 0.31, 9, BUY),       # no change proposed
])
def test_settle_changes_against_hand_computed_cases(current, proposed, fused, pending, expected) -> None:
    got = settle_changes(np.array([current]), np.array([proposed]), np.array([fused]), np.array([0.30]),
                         np.array([-0.30]), 0.05, np.array([pending]))
    assert got.tolist() == [expected]


@pytest.fixture
async def still_core(settings: Settings) -> AsyncIterator[TipsterCore]:
    s = settings.model_copy(update={
        "cache": settings.cache.model_copy(update={"market_ttl": 0}),
        "market": settings.market.model_copy(update={
            "replay": settings.market.replay.model_copy(update={"speed": 1e-9})}),
    })
    async with open_core(s) as core:
        yield core


async def stored_hold(core: TipsterCore, user_id: int, chat: str, buy: float) -> int:
    """A HOLD tip on BTC/USDT 1h with buy threshold `buy`, as if made when the score was lower."""
    params = SignalParams(buy_threshold=buy, sell_threshold=-0.9)
    tip = await generate_signal("BTC/USDT", "1h", params, core.services.market, core.services.sentiment)
    tip = tip.model_copy(update={"recommendation": Recommendation.HOLD, "stop_loss": None, "take_profit": None})
    return (await core.storage.signals.create(tip, user_id, "console", chat)).id or 0


async def test_a_change_just_past_the_threshold_waits_one_cycle(still_core: TipsterCore) -> None:
    core = still_core
    user, _ = await core.storage.users.register("console:9", "trader")
    probe = await generate_signal("BTC/USDT", "1h", SignalParams(buy_threshold=-0.9, sell_threshold=-1.0),
                                  core.services.market, core.services.sentiment)
    fused = probe.fused_score  # what the cycle will see on this still market, under the default weights
    near = await stored_hold(core, user.id, "101", round(fused - 0.01, 6))  # 0.01 past its threshold
    far = await stored_hold(core, user.id, "102", round(fused - 0.20, 6))  # 0.20 past its threshold
    monitor = SignalMonitor(core)

    await monitor.run_cycle()
    assert (await core.storage.signals.get(far)).recommendation is Recommendation.BUY  # at once
    assert (await core.storage.signals.get(near)).recommendation is Recommendation.HOLD  # held back

    await monitor.run_cycle()  # the same change proposed a second time in a row: taken
    assert (await core.storage.signals.get(near)).recommendation is Recommendation.BUY
    events = [e.event for e in await core.storage.signals.history(near)]
    assert events.count("status_changed") == 1
