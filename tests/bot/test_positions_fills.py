"""Paper exits through the core and the real position monitor on a replay of hand-made SOL/USDT bars
(issue 9): the monitor sees every bar's high and low since its last look, a take-profit fills at its limit,
a stop at the stop or the gapped open less slippage, and a restart resumes where the last look stopped.
Every expected price is computed by hand in the comments (paper: 0.05 % slippage, 0.1 % fee)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from bot.app import open_core
from bot.core.jobs.positions import PositionMonitor
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.market.replay import ReplayMarket
from storage.db import to_db_time
from tests.bot.test_core_signals import button_data, texts
from tests.bot.test_live_core import CANDLES, Live, live  # noqa: F401 - `live`: the live core fixture
from tests.conftest import user_ctx
from tests.support.fake_exchange import Kline

ME = user_ctx(1)
START = datetime(2024, 3, 1, tzinfo=UTC)  # the replay's now: 200 flat hourly bars have closed before it
HOUR = 3600


def write_sol(folder: Path, after: list[tuple[float, float, float, float]]) -> None:
    """200 flat bars (open = close = 100.00, high 100.50, low 99.50; the first closes at 99.99, so the data
    has cents), then `after` (open, high, low, close)."""
    rows = ["timestamp,open,high,low,close,volume"]
    first = START - timedelta(hours=200)
    bars = [(100.0, 100.5, 99.5, 99.99)] + [(100.0, 100.5, 99.5, 100.0)] * 199 + after
    for i, (o, h, lo, c) in enumerate(bars):
        rows.append(f"{first + timedelta(hours=i):%Y-%m-%dT%H:%M:%SZ},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},10")
    (folder / "SOL_USDT-1h.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def bars_after() -> list[tuple[float, float, float, float]]:
    return []


@pytest.fixture
async def fcore(settings: Settings, tmp_path: Path, bars_after) -> AsyncIterator[TipsterCore]:
    data = tmp_path / "data"
    data.mkdir()
    write_sol(data, bars_after)
    s = settings.model_copy(update={"cache": settings.cache.model_copy(update={"market_ttl": 0})})
    async with open_core(s, market=ReplayMarket(start=START.isoformat(), speed=0, data_dir=data)) as core:
        yield core


def replay(core: TipsterCore) -> ReplayMarket:
    return core.services.market  # type: ignore[return-value]


async def open_sol(core: TipsterCore, command: str) -> None:
    confirm = (await core.handle_text(ME, command))[0]
    assert "opened" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))


# $500 at the quoted last close 100.00 is 5 SOL; the buy pays 100.00 × 1.0005 = 100.05, fee 0.1 % of 500.25.
QTY, ENTRY, ENTRY_FEE = D(5), D("100.05"), D("0.50025")


@pytest.mark.parametrize("bars_after", [[(100.0, 108.0, 99.8, 107.0), (107.0, 109.9, 106.9, 109.54)]])
async def test_take_profit_fills_at_its_limit_not_at_a_later_close(fcore: TipsterCore) -> None:
    core = fcore
    await open_sol(core, "/open SOL/USDT long 500 sl=95 tp=107.62")
    position = await core.trading.repo.get(1)
    assert (position.entry_price, position.quantity, position.entry_fee) == (ENTRY, QTY, ENTRY_FEE)
    monitor = PositionMonitor(core, core.trading)
    replay(core).advance(2 * HOUR)  # two bars pass between two looks: the first touched 108.00, the last closed 109.54
    result = await monitor.run()
    position = await core.trading.repo.get(1)
    assert result.exits == 1 and position.status == "closed" and position.exit_reason == "take_profit"
    # a resting limit: 107.62, no slippage (the old monitor sold at 109.54 × 0.9995 = 109.48)
    assert position.exit_price == D("107.62")
    # fee 0.1 % of 5 × 107.62 = 538.10 → 0.5381; PnL (107.62 − 100.05) × 5 = 37.85, less 0.50025 + 0.5381
    assert position.exit_fee == D("0.5381")
    assert position.pnl_abs == D("36.8116")  # 37.85 − 1.03835 = 36.81165 → 36.8116 (4 dp, half to even)


@pytest.mark.parametrize("bars_after", [[(100.0, 107.8, 99.9, 101.0)]])
async def test_a_target_touched_inside_a_bar_is_not_missed(fcore: TipsterCore) -> None:
    core = fcore
    await open_sol(core, "/open SOL/USDT long 500 sl=95 tp=107.62")
    monitor = PositionMonitor(core, core.trading)
    await monitor.run()  # nothing has happened yet
    replay(core).advance(HOUR)  # the bar reached 107.80 and fell back to 101.00: the price now is below the target
    assert await core.services.market.last_price("SOL/USDT") == D("101.00")
    await monitor.run()
    position = await core.trading.repo.get(1)
    assert (position.status, position.exit_reason, position.exit_price) == ("closed", "take_profit", D("107.62"))


@pytest.mark.parametrize("bars_after", [[(93.0, 94.5, 92.5, 94.0)]])
async def test_a_stop_gapped_through_fills_at_the_open_less_slippage(fcore: TipsterCore) -> None:
    core = fcore
    await open_sol(core, "/open SOL/USDT long 500 sl=95 tp=120")
    replay(core).advance(HOUR)  # the next bar opened at 93.00, under the 95.00 stop
    await PositionMonitor(core, core.trading).run()
    position = await core.trading.repo.get(1)
    # a market sell from the open: 93.00 × 0.9995 = 92.9535 → 92.95 (down: against the seller)
    assert (position.status, position.exit_reason, position.exit_price) == ("closed", "stop_loss", D("92.95"))


@pytest.mark.parametrize("bars_after", [[(100.0, 100.2, 96.0, 96.5)]])
async def test_a_stop_touched_fills_at_the_stop_less_slippage(fcore: TipsterCore) -> None:
    core = fcore
    await open_sol(core, "/open SOL/USDT long 500 sl=97.3 tp=120")
    replay(core).advance(HOUR)
    await PositionMonitor(core, core.trading).run()
    position = await core.trading.repo.get(1)
    # 97.30 × 0.9995 = 97.25135 → 97.25
    assert (position.exit_reason, position.exit_price) == ("stop_loss", D("97.25"))


@pytest.mark.parametrize("bars_after", [[(100.0, 110.0, 99.0, 109.0), (109.0, 109.5, 108.5, 109.0),
                                         (109.0, 109.2, 107.5, 108.0)]])
async def test_a_restart_resumes_where_the_last_look_stopped(fcore: TipsterCore) -> None:
    core = fcore
    await open_sol(core, "/open SOL/USDT long 500 sl=90 tp=130")
    replay(core).advance(HOUR)
    await PositionMonitor(core, core.trading).run()
    position = await core.trading.repo.get(1)
    # bar 1 made a new high of 110.00 (the trail is active: 110 / 100.05 − 1 ≥ 1 %) and a low of 99.00,
    # which came first or not we cannot know: no exit on it
    assert position.status == "open" and position.trail_extreme == D("110.00") and position.trail_active
    # a restart: a new monitor must not read bar 1 again (its low is under 110 × 0.98 = 107.80)
    await PositionMonitor(core, core.trading).run()
    assert (await core.trading.repo.get(1)).status == "open"
    # down for two bars: the next look reads both; bar 3's low 107.50 is under the trail 107.80
    replay(core).advance(2 * HOUR)
    await PositionMonitor(core, core.trading).run()
    position = await core.trading.repo.get(1)
    # a stop from 107.80: 107.80 × 0.9995 = 107.7461 → 107.74
    assert (position.status, position.exit_reason, position.exit_price) == ("closed", "trailing_stop", D("107.74"))


# ---- live: 1m candles from the exchange, not the ticker --------------------------------------------------


async def test_live_monitor_reads_1m_candles_since_the_position_opened(live: Live) -> None:  # noqa: F811
    core, exchange = live.core, live.exchange
    exchange.set_candles_from_csv("BTCUSDT", HOUR, CANDLES, count=300)
    exchange.prices["BTCUSDT"] = D("60000.00")
    # buy at 60,000.00 × 1.0005 = 60,030.00; target 60,500.00
    await open_sol(core, "/open BTC/USDT long 500 sl=58000 tp=60500")
    position = await core.trading.repo.get(1)
    assert position.entry_price == D("60030.00")
    # as if it had opened five minutes ago: 1m bars since then, one of which touched 60,512.30; a bar from
    # before it opened touched 61,000 (not its own); the ticker is back at 60,100.00
    minute = int(datetime.now(UTC).timestamp()) // 60 * 60
    opened = minute - 300
    await core.storage.db.execute("UPDATE positions SET opened_at = ? WHERE id = 1",
                                   (to_db_time(datetime.fromtimestamp(opened, tz=UTC)),))
    exchange.set_bars("BTCUSDT", 60, [
        Kline(opened - 60, 60000.0, 61000.0, 59990.0, 60010.0, 1.0),
        Kline(opened, 60010.0, 60100.0, 60000.0, 60090.0, 1.0),
        Kline(opened + 60, 60090.0, 60512.3, 60080.0, 60200.0, 1.0),
        Kline(opened + 120, 60200.0, 60210.0, 60090.0, 60100.0, 1.0),
    ], last_price=60100.0)
    result = await PositionMonitor(core, core.trading).run()
    position = await core.trading.repo.get(1)
    assert result.exits == 1 and (position.exit_reason, position.exit_price) == ("take_profit", D("60500.00"))
    query = [q for path, q in exchange.queries if path == "/api/v3/klines" and q.get("interval") == "1m"][-1]
    assert int(query["startTime"]) == opened * 1000  # from when it opened, not the ticker's 24 h
