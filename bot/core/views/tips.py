"""Tip replies: the card with its buttons, the market and timeframe pickers, a tip's history and news, and the
paged list of a user's tips."""

from __future__ import annotations

from bot.core import cards
from bot.core.formatting import local_time
from bot.core.kernel import Core
from bot.core.permissions import Permission, allowed
from bot.core.replies import Button, Reply
from bot.core.usecases.paging import Page
from bot.core.usecases.tips import TipHistory, TipOutcome
from bot.core.usecases.track import TipRecord
from bot.core.views.track import record_line
from engine.models import Recommendation, Signal
from storage.models import User


def card_buttons(core: Core, signal: Signal, viewer: User | None = None) -> list[list[Button]]:
    """The card's buttons; [Open position] only for BUY/SELL tips shown to someone allowed to trade."""
    if signal.status != "active":
        return [[core.button("History", "hi", signal.id)]]
    # [Watch] gets a row of its own: three buttons is as wide as a phone shows comfortably.
    second = [core.button("👁 Watch", "wa", signal.id)]
    if signal.news:
        second.append(core.button("📰 News", "nw", signal.id))
    if (viewer is not None and allowed(viewer.role, Permission.TRADE)
            and signal.recommendation is not Recommendation.HOLD):
        second.insert(0, core.button("💰 Open position", "op", signal.id))
    second.append(core.button("📈 Chart", "ch", signal.id))
    # [Chart] ends the second row where there is room, else it starts a third (never more than three a row).
    rows = [[core.button("🔄 Refresh", "rf", signal.id), core.button("📜 History", "hi", signal.id),
             core.button("✖ Dismiss", "dm", signal.id)], second[:3], *([second[3:]] if len(second) > 3 else [])]
    if (viewer is not None and allowed(viewer.role, Permission.TRADE) and signal.extra.get("strategy") == "grid"
            and isinstance(signal.extra.get("grid"), dict)):  # the grid's levels as resting paper orders
        rows.append([core.button("🧮 Start paper grid", "gs", signal.id)])
    return rows


def card_reply(core: Core, signal: Signal, user: User | None, *, edit: bool = False,
               record: TipRecord | None = None, tz: str | None = None) -> Reply:
    """The tip's card: every drawing of it (fresh, refreshed, dismissed, re-carded by the monitor, pushed by a
    scan) goes through here, so all show the same lines. `tz` defaults to the viewer's."""
    sections, footer = cards.tip_sections(signal, tz or (core.user_tz(user) if user else "UTC"))
    stored = signal.extra.get("record")
    if record is None and isinstance(stored, dict):  # the line the tip was made (or last re-carded) with
        record = TipRecord(**stored)
    if record is not None:  # what the bot's past tips of its side on this market did (/track)
        sections[0][1].append(record_line(record))
    return Reply.sectioned(cards.tip_title(signal), sections, footer, buttons=card_buttons(core, signal, user),
                           edit=edit, tone=cards.TONES[signal.recommendation])


def tip_replies(core: Core, outcome: TipOutcome, user: User, *, edit: bool = False) -> list[Reply]:
    """The new tip's card, or one line on why there is none and a [Retry]."""
    if outcome.signal is None:
        again = (outcome.symbol, outcome.timeframe, *((outcome.strategy,) if outcome.strategy else ()))
        retry = [[core.button("🔁 Retry", "rt", *again)]]
        return [Reply(text=outcome.unavailable or "No tip for now.", buttons=retry, edit=edit)]
    return [card_reply(core, outcome.signal, user, edit=edit, record=outcome.record)]


def symbol_picker(core: Core, symbols: list[str]) -> Reply:
    rows: list[list[Button]] = []
    for i in range(0, len(symbols), 3):
        rows.append([core.button(sym, "ps", j) for j, sym in enumerate(symbols[i:i + 3], start=i)])
    rows.append([core.button("Cancel", "cx")])
    return Reply(title="Which market?", text="Pick a market below, or type a symbol (e.g. BTC/USDT).", buttons=rows)


def timeframe_picker(core: Core, index: int, symbol: str, offered: list[str]) -> Reply:
    rows = [[core.button(tf, "pt", index, tf) for tf in offered], [core.button("Cancel", "cx")]]
    return Reply(title=f"{symbol}: which timeframe?", text="Pick a timeframe.", buttons=rows, edit=True)


def news_reply(core: Core, signal: Signal, user: User) -> Reply:
    """The texts a tip's sentiment was computed from, each with its score (SPEC §2 step 4)."""
    return Reply(title=f"News behind tip #{signal.id} · {signal.symbol} {signal.timeframe}",
                 text=cards.news_list(signal, core.user_tz(user)), notice="News")


def history_reply(core: Core, history: TipHistory, user: User) -> Reply:
    tz = core.user_tz(user)
    lines = [cards.tip_line(history.signal, tz), ""]
    lines += [f"{local_time(e.created_at, tz)} · {e.event} · {e.description}" for e in history.events]
    return Reply(title=f"History of tip #{history.signal.id}", text="\n".join(lines))


def tips_page_reply(core: Core, page: Page[Signal], user: User) -> Reply:
    if not page.items:
        return Reply(text="You have no tips yet. Try /signal BTC/USDT 1h.")
    tz = core.user_tz(user)
    lines = [cards.tip_line(s, tz) for s in page.items]
    lines.append(f"\nPage {page.number} of {page.pages} · /history ID for a tip's events")
    nav: list[Button] = []
    if page.has_prev:
        nav.append(core.button("‹ Newer", "sp", page.number - 1))
    if page.has_next:
        nav.append(core.button("Older ›", "sp", page.number + 1))
    return Reply(title=f"Your tips ({page.total})", text="\n".join(lines), buttons=[nav] if nav else [])
