"""engine.strategies.grid's public step for paper grids: one bar at a time, carried by its caller, it makes the
same fills as the plain loop of the grid's rules (tests/engine/test_strategies.plain_grid), and its lines and
levels are the ones the hand-made path and `level_table` give."""

from __future__ import annotations

import itertools
from decimal import Decimal

import numpy as np
import pytest

from engine.strategies import grid
from engine.strategies.base import BUY, HOLD, SELL
from tests.engine.test_strategies import GRID4, plain_grid, series


def stepped_sides(closes: list[float], params: dict) -> list[int]:
    """The grid run bar by bar through step_grid, the caller keeping the state as a paper grid stores it."""
    anchor, held = closes[0], {}
    sides = [HOLD]
    for c0, c1 in itertools.pairwise(closes):
        step = grid.step_grid(params, anchor, held, c0, c1, c1)
        for k in step.freed:  # a re-centred grid reports every level it held as freed
            del held[k]
        for fill in step.fills:
            held[fill.k] = fill.price
        anchor = step.anchor
        sides.append(BUY if any(f.side == "buy" for f in step.fills) else
                     SELL if step.fills else HOLD)
    return sides


@pytest.mark.parametrize(("grid_num", "spacing", "enter"), [(20, 0.8, "long-short"), (6, 1.5, "long"),
                                                              (5, 0.5, "short")])
def test_step_grid_bar_by_bar_is_the_plain_loop(grid_num: int, spacing: float, enter: str) -> None:
    rng = np.random.default_rng(grid_num + 100)
    closes = (100 * np.exp(np.cumsum(rng.normal(0, 0.004, 2000)))).round(2).tolist()
    params = {"grid_num": grid_num, "grid_spacing": spacing, "enter_strategy": enter, "stop_loss": 3.0}
    want = plain_grid(closes, grid_num, spacing, enter, 3.0)
    assert stepped_sides(closes, params) == want
    assert want.count(BUY) + want.count(SELL) > 20


def test_step_grid_on_the_hand_made_path() -> None:
    # anchor 100, 10 % apart, stop 15 %: 95 → 88 crosses the buy at 90, which fills at 88 (target 100, stop 74.80)
    step = grid.step_grid(GRID4, 100.0, {}, 95.0, 88.0, 88.0)
    [fill] = step.fills
    assert (fill.k, fill.side, fill.price) == (-1, "buy", 88.0)
    assert grid.fill_levels(fill, 2) == (Decimal("74.80"), Decimal("100.00"))
    # with the 90 level held (at 88), 85 → 79 fills the 80 level (target 90, stop 79 × 0.85 = 67.15)
    [fill] = grid.step_grid(GRID4, 100.0, {-1: 88.0}, 85.0, 79.0, 79.0).fills
    assert (fill.k, grid.fill_levels(fill, 2)) == (-2, (Decimal("67.15"), Decimal("90.00")))
    # 101 → 111 crosses the sell at 110: a short at 111, target 100, stop 111 × 1.15 = 127.65 (rounded up)
    [fill] = grid.step_grid(GRID4, 100.0, {}, 101.0, 111.0, 111.0).fills
    assert (fill.side, grid.fill_levels(fill, 2)) == ("sell", (Decimal("127.65"), Decimal("100.00")))
    # a held level is not filled again, and one the close frees (91 reaches 90 for the 80 level) is reported
    step = grid.step_grid(GRID4, 100.0, {-1: 88.0, -2: 79.0}, 79.0, 91.0, 91.0)
    assert step.fills == [] and step.freed == [-2] and not step.recentred


def test_paper_levels_are_level_tables_levels() -> None:
    closes = [100, 104, 120]
    fresh = grid.level_table(series(closes), GRID4)
    levels = grid.paper_levels(fresh.anchor_exact, GRID4, 2)
    assert [(lv.side, lv.price, lv.take_profit) for lv in levels] == [
        (lv.side, lv.price, lv.take_profit) for lv in fresh.levels]
    assert [lv.k for lv in levels] == [2, 1, -1, -2]
    # an empty grid the close leaves one spacing past its outermost level moves there
    step = grid.step_grid(GRID4, 100.0, {}, 125.0, 131.0, 131.0)
    assert step.recentred and step.anchor == 131.0 and step.fills == []
    # a held short whose stop 131 reaches (111 × 1.15 = 127.65) is freed, and the then empty grid moves
    step = grid.step_grid(GRID4, 100.0, {1: 111.0}, 125.0, 131.0, 131.0)
    assert step.recentred and step.freed == [1] and step.anchor == 131.0
