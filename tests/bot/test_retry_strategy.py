"""[Retry] after data was unavailable asks for the same strategy the request named, not the user's default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import build_market, open_core
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.market.base import NoData
from engine.models import Candles
from tests.bot.test_core_signals import button_data
from tests.conftest import user_ctx

ME = user_ctx(1)


class FirstFetchFails:
    """The configured market, except that its first candle fetch has no data (a stale feed that recovers)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failed = False

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        if not self.failed:
            self.failed = True
            raise NoData(f"Stale data for {symbol} {timeframe}: the feed has not moved")
        return await self.inner.fetch_ohlcv(symbol, timeframe, bars)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
async def flaky(settings: Settings) -> AsyncIterator[TipsterCore]:
    async with open_core(settings, market=FirstFetchFails(build_market(settings))) as core:
        yield core


async def test_retry_keeps_the_strategy_asked_for(flaky: TipsterCore):
    core = flaky
    [stale] = await core.handle_text(ME, "/signal BTC/USDT 1h strategy=hyperrsi")
    assert stale.text.startswith("Stale data for BTC/USDT 1h")
    [card] = await core.handle_button(ME, button_data(stale, "Retry"))
    assert "Strategy: hyperrsi" in card.text
    tip = await core.storage.signals.get(1)
    assert tip is not None and tip.extra["strategy"] == "hyperrsi"


async def test_retry_without_a_strategy_named_uses_the_default(flaky: TipsterCore):
    core = flaky
    [stale] = await core.handle_text(ME, "/signal BTC/USDT 1h")
    assert len(button_data(stale, "Retry").split(":")) == 4  # rt, symbol, timeframe and the signature
    await core.handle_button(ME, button_data(stale, "Retry"))
    assert (await core.storage.signals.get(1)).extra["strategy"] == "fused"
