"""Paper grid replies: what [Start paper grid] will place, what starting or stopping did, /grids, and the
alerts a grid's fills queue."""

from __future__ import annotations

from typing import Any

from bot.core.formatting import money
from bot.core.kernel import Core
from bot.core.replies import Button, Reply
from bot.core.usecases.grids import GridPlan, StartResult, StopResult
from bot.core.usecases.paging import Page
from engine.risk_checks import CheckResult
from storage.grids import LevelFill, PaperGrid

RULE = "A level fills when a closed bar's close crosses it, at that close; its take-profit is one level on."


def _price(value: Any, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def plan_reply(core: Core, plan: GridPlan, nonce: str) -> Reply:
    """The levels, side, price and size of each order, the totals and the budget's risk checks; [Confirm] only
    when no check refuses."""
    d, s = plan.decimals, plan.signal
    lines = [f"{s.symbol} {s.timeframe} · anchor {_price(plan.anchor_price, d)} · "
             f"{plan.params['grid_spacing']:g}% apart · stop {plan.params['stop_loss']:g}% from each fill", ""]
    for lv in plan.levels:
        lines.append(f"{lv.side.upper():4} {_price(lv.price, d)} · {money(plan.size)} ≈ {lv.quantity.normalize():f}"
                     f" · TP {_price(lv.take_profit, d)}")
    buys = sum(1 for lv in plan.levels if lv.side == "buy")
    sells = len(plan.levels) - buys
    lines += ["", f"{len(plan.levels)} orders of {money(plan.size)} each: buy {money(plan.buy_total)} ({buys}), "
              f"sell {money(plan.sell_total)} ({sells}); at most {money(plan.budget)} held at once", RULE,
              "Risk checks (the bigger side as a whole; each fill is checked again like an open):",
              *[f"  {'✔' if c.ok else '✖'} {c.name}: {c.message}" for c in plan.checks]]
    if plan.refused:
        return Reply(title="A risk check refuses this grid", text="\n".join(lines),
                     buttons=[[core.button("Close", "cx")]], edit=False)
    return Reply(title=f"Start a paper grid from tip #{s.id}?", text="\n".join(lines), notice="Paper grid",
                 buttons=[[core.button("Confirm", "gy", s.id, nonce), core.button("Cancel", "cx")]])


def refusal_line(refused: list[CheckResult]) -> str:
    first = refused[0]
    return f"Not started: {first.name}: {first.message}."


def start_reply(core: Core, result: StartResult) -> Reply:
    if result.refused:
        return Reply(text=refusal_line(result.refused), edit=True, notice="Refused")
    if result.grid_id is None:
        known = f" #{result.existing}" if result.existing else ""
        return Reply(text=f"Tip #{result.plan.signal.id} already runs paper grid{known} (see /grids).", edit=True,
                     notice="Already running")
    plan = result.plan
    return Reply(title=f"Paper grid #{result.grid_id} started",
                 text=f"{len(plan.levels)} resting orders of {money(plan.size)} on {plan.signal.symbol} "
                      f"{plan.signal.timeframe}. {RULE} Fills are announced here; see /grids.",
                 buttons=[[core.button("⏹ Stop grid", "gx", result.grid_id)]], edit=True, notice="Grid started")


def _level_line(grid: PaperGrid, k: int) -> str:
    lv = next(x for x in grid.levels if x.k == k)
    state = lv.status
    if lv.status == "filled":
        at = f" at {_price(lv.entry, grid.price_decimals)}" if lv.entry is not None else ""
        state = f"filled{at} (position #{lv.position_id})"
    return f"  {lv.side:4} {_price(lv.price, grid.price_decimals)} · {state}"


def grid_lines(grid: PaperGrid) -> list[str]:
    filled = sum(1 for lv in grid.levels if lv.status == "filled")
    head = (f"#{grid.id} {grid.symbol} {grid.timeframe} · {grid.status} · {money(grid.size)} a level · "
            f"{filled}/{len(grid.levels)} filled" + (f" · re-centred {grid.recentred}×" if grid.recentred else ""))
    return [head, *[_level_line(grid, lv.k) for lv in grid.levels]]


def grids_reply(core: Core, page: Page[PaperGrid]) -> Reply:
    if not page.items:
        return Reply(text="You have no paper grids. Make a grid tip (/signal BTC/USDT 1h strategy=grid) and press "
                          "[Start paper grid].")
    lines: list[str] = []
    stops: list[Button] = []
    for grid in page.items:
        lines += [*grid_lines(grid), ""]
        if grid.status == "active":
            stops.append(core.button(f"⏹ Stop grid #{grid.id}", "gx", grid.id))
    lines.append(f"Page {page.number} of {page.pages} · /stopgrid ID stops one (its open positions stay open)")
    rows = [stops[i:i + 3] for i in range(0, len(stops), 3)]
    nav: list[Button] = []
    if page.has_prev:
        nav.append(core.button("‹ Newer", "gp", page.number - 1))
    if page.has_next:
        nav.append(core.button("Older ›", "gp", page.number + 1))
    if nav:
        rows.append(nav)
    return Reply(title=f"Your paper grids ({page.total})", text="\n".join(lines), buttons=rows)


def stop_reply(result: StopResult) -> Reply:
    grid = result.grid
    if not result.stopped:
        return Reply(text=f"Paper grid #{grid.id} had already stopped.", notice="Already stopped")
    held = ", ".join(f"#{i}" for i in result.held)
    rest = (f" Its open positions stay open as normal positions ({held}): /close ID closes one." if held
            else " It held no open positions.")
    return Reply(text=f"Paper grid #{grid.id} stopped: its resting orders are cancelled.{rest}", notice="Grid stopped")


class GridAlertViews:
    """The alerts a bar's fills queue, as stored payloads (usecases.grids.GridAlerts)."""

    def filled(self, grid: PaperGrid, fill: LevelFill, position_id: int) -> dict[str, Any]:
        d = grid.price_decimals
        side = "buy" if fill.side.value == "long" else "sell"
        f = fill.fill
        text = (f"Position #{position_id}: {fill.side.value} {f.quantity.normalize():f} {grid.symbol} at "
                f"{_price(f.price, d)} · fee {money(f.fee)} · broker paper\n"
                f"SL {_price(fill.stop_loss, d)} · TP {_price(fill.take_profit, d)}")
        return Reply(title=f"Paper grid #{grid.id}: {side} level filled", text=text).model_dump(mode="json")

    def refused(self, grid: PaperGrid, fill: LevelFill, refusals: list[CheckResult]) -> dict[str, Any]:
        first = refusals[0]
        side = "buy" if fill.side.value == "long" else "sell"
        at = _price(fill.fill.price, grid.price_decimals)
        return Reply(text=f"Paper grid #{grid.id}: the {side} level crossed at {at} was not filled: "
                          f"{first.name}: {first.message}.").model_dump(mode="json")
