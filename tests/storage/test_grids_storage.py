"""storage.grids: a grid and its orders in one transaction, one running grid per tip, a bar's fills written
whole with the level states and the bar mark (never twice), refused fills leaving the level open, levels open
again when their position closes, and stopping cancelling open orders only. Expected rows are written out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN
from decimal import Decimal as D

import pytest

from engine.brokers.base import Fill, OrderStatus, Side
from storage.db import Database
from storage.grids import LevelFill
from storage.signals import SignalRepository
from storage.store import Storage
from tests.storage.test_storage import make_signal

BAR = datetime(2024, 3, 1, tzinfo=UTC)
LEVELS = [(2, "sell", D("102.00")), (1, "sell", D("101.00")), (-1, "buy", D("99.00")), (-2, "buy", D("98.00"))]
DAYS = {"SOL/USDT": BAR.replace(hour=0)}


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Storage]:
    db = await Database(tmp_path / "g.sqlite").open()
    storage = Storage(db)
    user, _ = await storage.users.register("console:1", "trader")
    signal = make_signal()
    await SignalRepository(db).create(signal, user.id, "console", "1")
    yield storage
    await storage.close()


async def new_grid(store: Storage, check=lambda state: []) -> tuple[int | None, list]:
    return await store.grids.create(
        user_id=1, signal_id=1, platform="console", chat_id="1", symbol="SOL/USDT", timeframe="1h", anchor=100.0,
        params={"grid_num": 4, "grid_spacing": 1.0, "enter_strategy": "long-short", "stop_loss": 5.0},
        size=D(100), price_decimals=2, levels=LEVELS, last_bar_at=BAR - timedelta(hours=1), last_close=100.01,
        check=check, starting_equity=D(10000), day_starts=DAYS)


def level_fill(k: int, price: str, at: datetime) -> LevelFill:
    quantity = (D(100) / D(price)).quantize(D("0.00000001"), rounding=ROUND_DOWN)
    fill = Fill(client_order_id=f"grid-1-{k}-{int(at.timestamp())}", broker_order_id="paper-x",
                status=OrderStatus.FILLED, quantity=quantity, price=D(price), fee=D("0.1"))
    side = Side.LONG if k < 0 else Side.SHORT
    return LevelFill(k=k, side=side, notional=D(100), stop_loss=D("93.57"), take_profit=D("100.00"), fill=fill,
                     entry=float(price), market_at=at + timedelta(hours=1))


def apply(store: Storage, at: datetime, close: float, fills: list[LevelFill], check=lambda state, spec: []):
    return store.grids.apply_bar(
        1, at, close, fills, check=check, on_fill=lambda g, spec, pid: [("console", "1", "fill", {"text": "f"},
                                                                         f"fill:{spec.fill.client_order_id}")],
        on_refused=lambda g, spec, why: [("console", "1", "fill", {"text": "no"}, None)],
        starting_equity=D(10000), day_starts=DAYS)


async def test_create_stores_the_levels_open_and_one_running_grid_per_tip(store: Storage):
    results = await asyncio.gather(*(new_grid(store) for _ in range(3)))
    assert sorted(r[0] is not None for r in results) == [False, False, True]
    grid = await store.grids.get(1)
    assert [(lv.k, lv.side, lv.price, lv.status) for lv in grid.levels] == [
        (2, "sell", D("102.00"), "open"), (1, "sell", D("101.00"), "open"), (-1, "buy", D("99.00"), "open"),
        (-2, "buy", D("98.00"), "open")]
    assert (grid.anchor, grid.last_close, grid.size, grid.status) == (100.0, 100.01, D(100), "active")
    # A stopped grid frees its tip for a new one.
    assert await store.grids.stop(1) and not await store.grids.stop(1)
    assert (await new_grid(store))[0] == 2


async def test_a_refusing_check_stores_nothing(store: Storage):
    grid_id, refused = await new_grid(store, check=lambda state: ["cash"] if state.cash == D(10000) else [])
    assert (grid_id, refused) == (None, ["cash"])
    assert await store.grids.count_for_user(1) == 0
    assert await store.db.scalar("SELECT COUNT(*) FROM paper_grid_levels") == 0


async def test_a_bar_is_applied_whole_and_once(store: Storage):
    await new_grid(store)
    fill = level_fill(-1, "98.50", BAR)
    outcome = await apply(store, BAR, 98.5, [fill])
    assert outcome.applied and [pid for _, pid in outcome.opened] == [1]
    position = await store.positions.get(1)
    assert (position.status, position.entry_price, position.quantity, position.signal_id) == (
        "open", D("98.50"), D("1.01522842"), None)
    # Cash: 10,000 − 1.01522842 × 98.50 − 0.1 = 10,000 − 100.09999937 = 9,899.90000063.
    assert (await store.positions.paper_account(1, D(10000))).cash == D("9899.90000063")
    grid = await store.grids.get(1)
    assert grid.held == {-1: 98.5} and grid.last_bar_at == BAR and grid.last_close == 98.5
    assert await store.db.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'fill'") == 1
    # The same bar again (a second process, a retry): nothing is written.
    again = await apply(store, BAR, 98.5, [fill])
    assert not again.applied and await store.db.scalar("SELECT COUNT(*) FROM positions") == 1
    # A filled level is not filled again by a later bar's crossing while its position is held.
    later = await apply(store, BAR + timedelta(hours=1), 98.4, [level_fill(-1, "98.40", BAR + timedelta(hours=1))])
    assert later.applied and later.opened == [] and await store.db.scalar("SELECT COUNT(*) FROM positions") == 1


async def test_a_refused_fill_leaves_the_level_open_and_moves_the_mark(store: Storage):
    await new_grid(store)
    outcome = await apply(store, BAR, 98.5, [level_fill(-1, "98.50", BAR)], check=lambda state, spec: ["exposure"])
    assert outcome.applied and outcome.opened == [] and [why for _, why in outcome.refused] == [["exposure"]]
    grid = await store.grids.get(1)
    assert grid.held == {} and grid.last_bar_at == BAR
    assert await store.db.scalar("SELECT COUNT(*) FROM positions") == 0
    assert await store.db.scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'fill'") == 1  # the refusal, told


async def test_a_level_opens_again_when_its_position_is_no_longer_held(store: Storage):
    await new_grid(store)
    await apply(store, BAR, 97.8, [level_fill(-1, "98.50", BAR), level_fill(-2, "97.80", BAR)])
    assert await store.grids.release_closed(1) == []  # both held
    await store.db.execute("UPDATE positions SET status = 'closed' WHERE id = 1")
    assert await store.grids.release_closed(1) == [-1]
    grid = await store.grids.get(1)
    assert {lv.k: (lv.status, lv.position_id) for lv in grid.levels} == {
        2: ("open", None), 1: ("open", None), -1: ("open", None), -2: ("filled", 2)}
    # Stopping cancels the open orders; the held level stays filled until its position closes, then cancelled.
    assert await store.grids.stop(1)
    grid = await store.grids.get(1)
    assert [lv.status for lv in grid.levels] == ["cancelled", "cancelled", "cancelled", "filled"]
    await store.db.execute("UPDATE positions SET status = 'closed' WHERE id = 2")
    assert await store.grids.release_closed(1) == [-2]
    assert [lv.status for lv in (await store.grids.get(1)).levels] == ["cancelled"] * 4
    # A stopped grid takes no more bars.
    assert not (await apply(store, BAR + timedelta(hours=1), 99.0, [])).applied
