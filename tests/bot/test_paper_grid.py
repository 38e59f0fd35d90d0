"""Paper grids from a grid tip's [Start paper grid] (issue 11), through the core on a replay of hand-made
SOL/USDT hourly bars: the levels placed are the card's, the watcher fills exactly the levels the closes cross
at those closes, each fill opens a paper position with its take-profit one level on and the grid's stop, the
position monitor closes it and the level opens again; one grid for two Confirms; a restart resumes without
filling a bar twice; foreign, bad and forged ids are refused.

The grid: grid_num=4, grid_spacing=1 (%), stop_loss=5 (%), around the first bar's close 100.00, so the lines
are 97, 98, 99 | 100 | 101, 102, 103 and the order levels sell 102.00, sell 101.00, buy 99.00, buy 98.00.
Paper: fee 0.1 %, a resting order fills at its limit (no slippage); $100 a level (no saved size)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from bot.app import open_core
from bot.core.jobs.grids import GridWatcher
from bot.core.jobs.positions import PositionMonitor
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.market.replay import ReplayMarket
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import user_ctx

ME, OTHER = user_ctx(1), user_ctx(2)
START = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = 3600
GRID = "/signal SOL/USDT 1h strategy=grid grid_num=4 grid_spacing=1 stop_loss=5"

# After the 200 quiet bars (closes 100.00 / 100.01 in turn, the last 100.01): (open, high, low, close).
AFTER = [
    (100.01, 100.20, 98.40, 98.50),  # A: 100.01 > 99 ≥ 98.50: buy 99.00 fills at 98.50
    (98.50, 98.90, 97.90, 98.20),    # B: nothing crossed (98 ≥ 98.20 is false), no level touched
    (98.20, 98.30, 97.50, 97.80),    # C: 98.20 > 98 ≥ 97.80: buy 98.00 fills at 97.80
    (97.80, 100.30, 97.70, 99.50),   # D: both positions' take-profits touched (100.00 and 99.00); no crossing
    (99.50, 100.10, 98.60, 98.80),   # E: 99.50 > 99 ≥ 98.80: buy 99.00, open again, fills at 98.80
    (98.80, 101.60, 98.70, 101.40),  # F: 98.80 < 101 ≤ 101.40: sell 101.00 fills at 101.40; E's TP 100 touched
]


def write_sol(folder: Path, bars: int = 200, after: list | None = None) -> None:
    rows = ["timestamp,open,high,low,close,volume"]
    first = START - timedelta(hours=200)
    quiet = [(100.0, 100.25, 99.75, 100.0 if i % 2 == 0 else 100.01) for i in range(200)]
    for i, (o, h, lo, c) in enumerate((quiet + (AFTER if after is None else after))[:200 + bars]):
        rows.append(f"{first + timedelta(hours=i):%Y-%m-%dT%H:%M:%SZ},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},10")
    (folder / "SOL_USDT-1h.csv").write_text("\n".join(rows) + "\n")


def grid_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cache": settings.cache.model_copy(update={"market_ttl": 0})})


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    write_sol(folder, len(AFTER))
    return folder


@pytest.fixture
async def gcore(settings: Settings, data: Path) -> AsyncIterator[TipsterCore]:
    market = ReplayMarket(start=START.isoformat(), speed=0, data_dir=data)
    async with open_core(grid_settings(settings), market=market) as core:
        yield core


def replay(core: TipsterCore) -> ReplayMarket:
    return core.services.market  # type: ignore[return-value]


async def grid_card(core: TipsterCore, ctx=ME):
    [card] = await core.handle_text(ctx, GRID)
    return card


async def start(core: TipsterCore, ctx=ME) -> str:
    """Press [Start paper grid] on a fresh grid card and [Confirm]; returns the confirmation's text."""
    card = await grid_card(core, ctx)
    [plan] = await core.handle_button(ctx, button_data(card, "Start paper grid"))
    [done] = await core.handle_button(ctx, button_data(plan, "Confirm"))
    assert "Paper grid #" in done.plain() and "started" in done.plain(), done.plain()
    return done.plain()


async def positions(core: TipsterCore) -> list:
    rows = await core.storage.db.fetchall("SELECT id FROM positions ORDER BY id")
    return [await core.trading.repo.get(r[0]) for r in rows]


async def bar(core: TipsterCore, watcher: GridWatcher, monitor: PositionMonitor) -> None:
    """One more hour: the grid watcher applies the bar that closed, then the position monitor looks."""
    replay(core).advance(HOUR)
    await watcher.run()
    await monitor.run()


# ---- placing -------------------------------------------------------------------------------------------

async def test_the_grid_placed_is_the_cards_level_table(gcore: TipsterCore):
    core = gcore
    card = await grid_card(core)
    signal = (await core.storage.signals.for_user(1, 1, 0))[0]
    table = signal.extra["grid"]
    assert [(lv["side"], lv["price"]) for lv in table["levels"]] == [
        ("sell", "102.00"), ("sell", "101.00"), ("buy", "99.00"), ("buy", "98.00")]  # by hand, above
    [plan] = await core.handle_button(ME, button_data(card, "Start paper grid"))
    text = plan.plain()
    # What will be placed: each level with side, price, $100 and its quantity (100 / price, 8 dp, down).
    for line in ("SELL 102.00 · $100.00 ≈ 0.98039215 · TP 101.00", "SELL 101.00 · $100.00 ≈ 0.990099 · TP 100.00",
                 "BUY  99.00 · $100.00 ≈ 1.01010101 · TP 100.00", "BUY  98.00 · $100.00 ≈ 1.02040816 · TP 99.00"):
        assert line in text, text
    assert "buy $200.00 (2), sell $200.00 (2); at most $200.00 held at once" in text
    assert await core.storage.grids.count_for_user(1) == 0  # nothing placed before Confirm
    [done] = await core.handle_button(ME, button_data(plan, "Confirm"))
    assert "Paper grid #1 started" in done.plain()
    grid = await core.storage.grids.get(1)
    assert [(lv.side, str(lv.price), lv.status) for lv in grid.levels] == [
        (lv["side"], lv["price"], "open") for lv in table["levels"]]
    assert (grid.symbol, grid.timeframe, grid.size, grid.anchor) == ("SOL/USDT", "1h", D(100), 100.0)
    # The watcher starts after the newest closed bar when Confirm was pressed (the last quiet one, 100.01).
    assert grid.last_bar_at == START - timedelta(hours=1) and grid.last_close == 100.01
    assert await positions(core) == []  # resting orders hold no position yet


async def test_only_a_grid_tip_has_the_button(gcore: TipsterCore):
    [card] = await gcore.handle_text(ME, "/signal SOL/USDT 1h strategy=hyperrsi")
    assert not any("paper grid" in b.label for row in card.buttons for b in row)
    [fused] = await gcore.handle_text(ME, "/signal SOL/USDT 1h")
    assert not any("paper grid" in b.label for row in fused.buttons for b in row)
    # The action itself refuses a tip that is not a grid's (a forged press would be refused by its signature).
    data = gcore.codec.encode("gs", 2)
    assert "not a grid tip" in texts(await gcore.handle_button(ME, data))


async def test_two_confirms_at_once_make_one_grid(gcore: TipsterCore):
    core = gcore
    card = await grid_card(core)
    [plan] = await core.handle_button(ME, button_data(card, "Start paper grid"))
    confirm = button_data(plan, "Confirm")
    answers = await asyncio.gather(core.handle_button(ME, confirm), core.handle_button(ME, confirm))
    joined = [texts(a) for a in answers]
    assert sum("started" in t for t in joined) == 1, joined
    assert await core.storage.grids.count_for_user(1) == 1
    levels = await core.storage.db.scalar("SELECT COUNT(*) FROM paper_grid_levels")
    assert levels == 4
    # Pressing [Start] again on the same tip: it already runs one.
    assert "already runs paper grid #1" in texts(await core.handle_button(ME, button_data(card, "Start paper grid")))


async def test_two_starts_through_the_use_case_at_once_make_one_grid(gcore: TipsterCore):
    from bot.core.usecases.grids import start_grid

    core = gcore
    await grid_card(core)
    user = await core.storage.users.by_identity("console:1")
    results = await asyncio.gather(*(start_grid(core, ME, user, 1, D(100)) for _ in range(3)))
    assert sorted(r.grid_id is not None for r in results) == [False, False, True]
    assert await core.storage.grids.count_for_user(1) == 1


async def test_a_grid_over_the_risk_budget_is_refused_in_one_line(gcore: TipsterCore):
    core = gcore
    await core.handle_text(ME, "/settings size=900")
    [card] = await core.handle_text(ME, "/signal SOL/USDT 1h strategy=grid grid_num=6 grid_spacing=1")
    [plan] = await core.handle_button(ME, button_data(card, "Start paper grid"))
    # 3 buy levels × $900 = $2,700 is 27 % of the $10,000 equity (limit 25 %); one level is 9 % (limit 10 %).
    assert plan.title == "A risk check refuses this grid"
    assert "✖ symbol exposure: SOL/USDT exposure would be $2,700.00, 27.0% of equity (limit 25%)" in plan.plain()
    assert "✔ position size" in plan.plain()
    assert not any(b.label == "Confirm" for row in plan.buttons for b in row)
    # Confirm pressed from an older plan while the budget no longer fits: refused at the last moment.
    from bot.core.usecases.grids import start_grid
    from bot.core.views.grids import start_reply

    user = await core.storage.users.by_identity("console:1")
    result = await start_grid(core, ME, user, 1, D(900))
    line = start_reply(core, result).plain()
    assert result.grid_id is None and len(line.splitlines()) == 1
    assert line.startswith("Not started: symbol exposure: SOL/USDT exposure would be $2,700.00"), line
    assert await core.storage.grids.count_for_user(1) == 0


# ---- the watcher ---------------------------------------------------------------------------------------

async def test_the_watcher_fills_the_crossed_levels_at_the_closes_and_levels_reopen(gcore: TipsterCore):
    core = gcore
    await start(core)
    watcher, monitor = GridWatcher(core), PositionMonitor(core, core.trading)
    await watcher.run()
    await monitor.run()
    assert await positions(core) == []  # no bar has closed since Confirm

    await bar(core, watcher, monitor)  # A
    [p1] = await positions(core)
    # 100 / 98.50 = 1.01522842 (8 dp down); fee 0.1 % of 99.99999937 = 0.10000000; stop 98.50 × 0.95 = 93.575 → 93.57
    # (a buy's stop rounds down); take-profit one level up: the anchor line 100.00.
    assert (p1.side.value, p1.status, p1.entry_price, p1.quantity) == ("long", "open", D("98.50"), D("1.01522842"))
    assert (p1.entry_fee, p1.stop_loss, p1.take_profit) == (D("0.10000000"), D("93.57"), D("100.00"))
    assert p1.opened_at == START + timedelta(hours=1)  # when bar A closed
    grid = await core.storage.grids.get(1)
    assert {lv.k: lv.status for lv in grid.levels} == {2: "open", 1: "open", -1: "filled", -2: "open"}

    await bar(core, watcher, monitor)  # B: nothing
    assert len(await positions(core)) == 1

    await bar(core, watcher, monitor)  # C
    p1, p2 = await positions(core)
    # 100 / 97.80 = 1.02249488; stop 97.80 × 0.95 = 92.91; take-profit one level up: 99.00.
    assert (p2.entry_price, p2.quantity, p2.stop_loss, p2.take_profit) == (D("97.80"), D("1.02249488"), D("92.91"),
                                                                           D("99.00"))

    await bar(core, watcher, monitor)  # D: the monitor closes both at their take-profits
    p1, p2 = await positions(core)
    assert (p1.status, p1.exit_reason, p1.exit_price) == ("closed", "take_profit", D("100.00"))
    assert (p2.status, p2.exit_reason, p2.exit_price) == ("closed", "take_profit", D("99.00"))

    await bar(core, watcher, monitor)  # E: buy 99.00 is open again and the close crosses it again
    *_, p3 = await positions(core)
    # stop 98.80 × 0.95 = 93.86
    assert (p3.id, p3.entry_price, p3.stop_loss, p3.take_profit, p3.status) == (3, D("98.80"), D("93.86"),
                                                                                D("100.00"), "open")

    await bar(core, watcher, monitor)  # F: sell 101.00 fills at 101.40; E's position closes at 100.00
    *_, p3, p4 = await positions(core)
    assert (p3.status, p3.exit_price) == ("closed", D("100.00"))
    # A short: stop 101.40 × 1.05 = 106.47 (rounded up), take-profit one level down: 100.00.
    assert (p4.side.value, p4.entry_price, p4.stop_loss, p4.take_profit) == ("short", D("101.40"), D("106.47"),
                                                                             D("100.00"))
    assert len(await positions(core)) == 4  # exactly the four crossings, nothing else
    # The cash: the starting $10,000 less what is held in the open short, plus the closed trades' net results.
    closed = [p for p in await positions(core) if p.status == "closed"]
    account = await core.trading.repo.paper_account(1, D(10000))
    assert account.cash == D(10000) + sum(p.pnl_abs for p in closed) - (p4.entry_price * p4.quantity + p4.entry_fee)
    # Each fill was announced to the chat through the outbox, once.
    fills = await core.storage.db.fetchall("SELECT payload_json, chat_id FROM alerts WHERE kind = 'fill' ORDER BY id")
    assert len(fills) == 4
    shown = [Reply.model_validate(json.loads(row[0])).plain() for row in fills]
    assert "Paper grid #1: buy level filled" in shown[0] and "long 1.01522842 SOL/USDT at 98.50" in shown[0]
    assert "Paper grid #1: sell level filled" in shown[3] and "SL 106.47 · TP 100.00" in shown[3]
    assert {row[1] for row in fills} == {ME.chat_id}


async def test_grids_lists_level_states_and_stop_keeps_positions(gcore: TipsterCore):
    core = gcore
    await start(core)
    watcher, monitor = GridWatcher(core), PositionMonitor(core, core.trading)
    await bar(core, watcher, monitor)  # A: buy 99.00 filled
    [listing] = await core.handle_text(ME, "/grids")
    text = listing.plain()
    assert "#1 SOL/USDT 1h · active · $100.00 a level · 1/4 filled" in text
    assert "buy  99.00 · filled at 98.50 (position #1)" in text and "sell 102.00 · open" in text
    # Another user's id, a bad id and a forged button are refused in one line.
    for ctx, command, expected in ((OTHER, "/stopgrid 1", "is not yours"), (ME, "/stopgrid 9", "No paper grid #9"),
                                   (ME, "/stopgrid x", "grid")):
        out = texts(await core.handle_text(ctx, command))
        assert expected in out and len(out.strip().splitlines()) <= 2, out
    stop = button_data(listing, "Stop grid")
    assert "not yours" in texts(await core.handle_button(OTHER, stop))
    forged = stop.rsplit(":", 1)[0] + ":AAAAAAAAAA"
    assert "not valid" in texts(await core.handle_button(ME, forged))
    assert (await core.storage.grids.get(1)).status == "active"
    [stopped] = await core.handle_button(ME, stop)
    assert "Paper grid #1 stopped" in stopped.plain() and "stay open as normal positions (#1)" in stopped.plain()
    grid = await core.storage.grids.get(1)
    assert grid.status == "stopped"
    assert {lv.k: lv.status for lv in grid.levels} == {2: "cancelled", 1: "cancelled", -1: "filled", -2: "cancelled"}
    # The stopped grid fills nothing more (C would have crossed 98); its position is still followed to its TP.
    for _ in range(3):
        await bar(core, watcher, monitor)
    [p1] = await positions(core)
    assert (p1.status, p1.exit_reason) == ("closed", "take_profit")
    # Its position closed, so its level is cancelled with the others (as /grids reads it).
    [listing] = await core.handle_text(ME, "/grids")
    assert "buy  99.00 · cancelled" in listing.plain() and "0/4 filled" in listing.plain()
    assert "already stopped" in texts(await core.handle_text(ME, "/stopgrid 1"))


async def test_a_restart_resumes_without_filling_a_bar_twice(settings: Settings, data: Path):
    s = grid_settings(settings)
    async with open_core(s, market=ReplayMarket(start=START.isoformat(), speed=0, data_dir=data)) as core:
        await start(core)
        watcher = GridWatcher(core)
        replay(core).advance(HOUR)  # A
        await watcher.run()
        await watcher.run()  # the same bar again: applied once
        assert len(await positions(core)) == 1
    later = (START + timedelta(hours=3)).isoformat()  # B and C closed while the bot was down
    async with open_core(s, market=ReplayMarket(start=later, speed=0, data_dir=data)) as core:
        result = await GridWatcher(core).run()
        assert (result.bars, result.fills) == (2, 1)  # B, then C's fill of buy 98.00 at 97.80
        await GridWatcher(core).run()
        p1, p2 = await positions(core)
        assert (p1.entry_price, p2.entry_price, p2.take_profit) == (D("98.50"), D("97.80"), D("99.00"))
        assert (await core.storage.grids.get(1)).last_bar_at == START + timedelta(hours=2)


async def test_a_crash_inside_a_bars_transaction_leaves_nothing_and_the_bar_is_applied_later(
        gcore: TipsterCore, monkeypatch: pytest.MonkeyPatch):
    core = gcore
    await start(core)
    repo = core.storage.grids
    real = repo.positions.insert_filled

    async def crash(*args, **kwargs):
        await real(*args, **kwargs)  # the position row is written, then the process dies before the level is
        raise RuntimeError("killed")

    monkeypatch.setattr(repo.positions, "insert_filled", crash)
    replay(core).advance(HOUR)  # A
    assert (await GridWatcher(core).run()).fills == 0
    assert await positions(core) == []
    grid = await repo.get(1)
    assert all(lv.status == "open" for lv in grid.levels) and grid.last_bar_at == START - timedelta(hours=1)
    assert (await core.trading.repo.paper_account(1, D(10000))).cash == D(10000)
    monkeypatch.setattr(repo.positions, "insert_filled", real)
    assert (await GridWatcher(core).run()).fills == 1
    [p1] = await positions(core)
    assert p1.entry_price == D("98.50")


async def test_start_refuses_another_users_tip_and_forged_data(gcore: TipsterCore):
    core = gcore
    card = await grid_card(core)
    press = button_data(card, "Start paper grid")
    assert "not yours" in texts(await core.handle_button(OTHER, press))
    assert "not valid" in texts(await core.handle_button(ME, press[:-3] + "zzz"))
    [plan] = await core.handle_button(ME, press)
    confirm = button_data(plan, "Confirm")
    assert "not yours" in texts(await core.handle_button(OTHER, confirm))
    assert await core.storage.grids.count_for_user(1) == 0
    assert "No paper grid #4" in texts(await core.handle_button(ME, core.codec.encode("gx", 4)))


async def test_a_fill_over_the_risk_limits_is_refused_and_told_and_its_level_stays_open(gcore: TipsterCore):
    core = gcore
    await core.handle_text(ME, "/settings size=900")
    await start(core)  # 2 buys × $900 = $1,800: 18 % of $10,000 (limit 25 %)
    [confirm] = await core.handle_text(ME, "/open SOL/USDT long 900")  # besides the grid: $900 more on SOL/USDT
    assert "opened" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    watcher, monitor = GridWatcher(core), PositionMonitor(core, core.trading)
    await bar(core, watcher, monitor)  # A: ~$886 + $900 ≈ 18 %: filled
    assert len(await positions(core)) == 2
    await bar(core, watcher, monitor)  # B
    await bar(core, watcher, monitor)  # C: the two held at ~97.80 (~$1,760) + $900 ≈ 26.6 % > 25 %: refused
    assert len(await positions(core)) == 2
    grid = await core.storage.grids.get(1)
    assert {lv.k: lv.status for lv in grid.levels}[-2] == "open" and grid.last_bar_at == START + timedelta(hours=2)
    rows = await core.storage.db.fetchall("SELECT payload_json FROM alerts WHERE kind = 'fill' ORDER BY id")
    last = Reply.model_validate(json.loads(rows[-1][0])).plain()
    assert last.startswith("Paper grid #1: the buy level crossed at 97.80 was not filled: symbol exposure: SOL/USDT "
                           "exposure would be $2,6"), last
    assert "(limit 25%)" in last and len(last.splitlines()) == 1


async def test_an_empty_grid_the_close_leaves_moves_with_it(settings: Settings, tmp_path: Path):
    # A long grid (buys at 99, 98, 97, 96; its top edge is one spacing above the anchor: 101). A close of 101.20
    # reaches that edge while nothing is filled: the grid re-centres there, its buys at 101.20 × (1 − k %):
    # 100.188 → 100.19, 99.176 → 99.18, 98.164 → 98.16, 97.152 → 97.15. Then 100.50 → 100.10 crosses 100.19.
    folder = tmp_path / "moving"
    folder.mkdir()
    write_sol(folder, 3, [(100.01, 101.40, 100.00, 101.20), (101.20, 101.30, 100.40, 100.50),
                          (100.50, 100.60, 100.00, 100.10)])
    market = ReplayMarket(start=START.isoformat(), speed=0, data_dir=folder)
    async with open_core(grid_settings(settings), market=market) as core:
        [card] = await core.handle_text(
            ME, "/signal SOL/USDT 1h strategy=grid grid_num=4 grid_spacing=1 stop_loss=5 enter_strategy=long")
        [plan] = await core.handle_button(ME, button_data(card, "Start paper grid"))
        await core.handle_button(ME, button_data(plan, "Confirm"))
        assert [str(lv.price) for lv in (await core.storage.grids.get(1)).levels] == ["99.00", "98.00", "97.00",
                                                                                       "96.00"]
        watcher = GridWatcher(core)
        replay(core).advance(HOUR)
        await watcher.run()
        grid = await core.storage.grids.get(1)
        assert (grid.anchor, grid.recentred) == (101.2, 1)
        assert [str(lv.price) for lv in grid.levels] == ["100.19", "99.18", "98.16", "97.15"]
        replay(core).advance(HOUR)  # 101.20 → 100.50: nothing crossed
        await watcher.run()
        assert await positions(core) == []
        replay(core).advance(HOUR)  # 100.50 > 100.188 ≥ 100.10: the first buy fills at 100.10
        await watcher.run()
        [p1] = await positions(core)
        # take-profit one level up: the new anchor 101.20; stop 100.10 × 0.95 = 95.095 → 95.09
        assert (p1.entry_price, p1.take_profit, p1.stop_loss) == (D("100.10"), D("101.20"), D("95.09"))
        [listing] = await core.handle_text(ME, "/grids")
        assert "re-centred 1×" in listing.plain() and "buy  100.19 · filled at 100.10 (position #1)" in listing.plain()


async def test_grids_are_paged_and_the_watcher_is_a_scheduled_job(gcore: TipsterCore):
    from bot.core.scheduler import build_scheduler

    core = gcore
    for _ in range(6):  # each grid from its own tip (a new tip supersedes the last; its grid keeps running)
        await start(core)
    [first] = await core.handle_text(ME, "/grids")
    heads = [line.split(" ")[0] for line in first.plain().splitlines() if line.startswith("#")]
    assert first.title == "Your paper grids (6)" and heads == ["#6", "#5", "#4", "#3", "#2"]
    assert "Page 1 of 2" in first.plain()
    [second] = await core.handle_button(ME, button_data(first, "Older"))
    assert [line.split(" ")[0] for line in second.plain().splitlines() if line.startswith("#")] == ["#1"]
    assert second.edit and "Page 2 of 2" in second.plain()
    assert "not valid" in texts(await core.handle_button(ME, core.codec.encode("gp", "x")))
    assert "grids" in build_scheduler(core).jobs
    core.scheduler = None
