"""Every drawing of a tip card carries the lines a fresh card does: the [Dismiss] redraw keeps the record line
("Past 30 days on …"), and a monitored options or grid tip re-carded after it changed side shows the contract
for its new side (a put for SELL) or its level table, as a fresh tip of that side would."""

from __future__ import annotations

from bot.core.context import ChatContext
from bot.core.jobs.monitor import SignalMonitor
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from engine.models import Recommendation, Signal
from tests.conftest import user_ctx

ME = user_ctx(1)
OWNER = user_ctx(7)


async def say(core: TipsterCore, ctx: ChatContext, text: str) -> Reply:
    [reply] = await core.handle_text(ctx, text)
    return reply


async def newest_tip(core: TipsterCore, ctx: ChatContext) -> Signal:
    user = await core.storage.users.by_identity(f"{ctx.platform}:{ctx.user_id}")
    assert user is not None
    [signal] = await core.storage.signals.for_user(user.id, 1, 0)
    return signal


def button_data(reply: Reply, label_part: str) -> str:
    found = [b.data for row in reply.buttons for b in row if label_part in b.label]
    assert found, [b.label for row in reply.buttons for b in row]
    return found[0]


def body(reply: Reply) -> list[str]:
    """The card's lines but its footer (the tip's number, time and status) and the data line naming when it was
    read; everything a trader judges the tip by."""
    return [line for line in reply.text.splitlines() if not line.startswith("Tip #")]


def starting(reply: Reply, prefix: str) -> list[str]:
    return [line for line in reply.text.splitlines() if line.startswith(prefix)]



async def test_dismiss_redraws_the_whole_card_with_its_record_line(core: TipsterCore):
    fresh = await say(core, ME, "/signal BTC/USDT 1h buy=-0.9 sell=-0.95")  # a BUY, so the card has a record
    assert (await newest_tip(core, ME)).recommendation is Recommendation.BUY
    [record] = starting(fresh, "Past 30 days on BTC/USDT 1h: ")
    assert " BUY tip" in record
    [dismissed] = await core.handle_button(ME, button_data(fresh, "Dismiss"))
    assert dismissed.edit and "Dismissed" in (dismissed.notice or "")
    assert body(dismissed) == body(fresh)  # the record line and every other line, in the same order
    assert starting(dismissed, "Tip #")[0].endswith(" · dismissed")
    # The sections (Discord's embed fields) carry it too.
    assert [s.name for s in dismissed.sections] == [s.name for s in fresh.sections]
    assert record in dismissed.sections[0].value


async def test_dismiss_of_an_options_tip_keeps_its_contract_line(core: TipsterCore):
    fresh = await say(core, ME, "/signal AAPL 1d strategy=options buy=-0.9 sell=-0.95")
    [option] = starting(fresh, "Option: AAPL ")
    [dismissed] = await core.handle_button(ME, button_data(fresh, "Dismiss"))
    assert starting(dismissed, "Option: AAPL ") == [option]
    assert body(dismissed) == body(fresh)


async def _moving_tip(core: TipsterCore, fresh_text: str, old_side: Recommendation,
                      old_extra: dict) -> Signal:  # type: ignore[type-arg]
    """The owner's tip as the fresh card's tip of the new side, but stored on the old side with the old side's
    card lines: the monitor's next read moves it to the new side."""
    await say(core, OWNER, fresh_text)
    new_side = await newest_tip(core, OWNER)
    user = await core.storage.users.get(new_side.user_id)
    assert user is not None
    moving = new_side.model_copy(update={"recommendation": old_side, "extra": {**new_side.extra, **old_extra}})
    return await core.storage.signals.create(moving, user.id, "console", "7")  # supersedes the new-side tip


async def _owner_card(core: TipsterCore, tip_id: int, before: int) -> Reply:
    alerts = (await core.storage.alerts.for_chat("console", "7", limit=10_000))[before:]
    cards = [Reply.model_validate(a.payload) for a in alerts if a.kind == "status_change"]
    [card] = [c for c in cards if (c.title or "").startswith(f"🔁 Tip #{tip_id} changed:")]
    return card


async def test_an_options_tip_turning_sell_is_recarded_with_a_put(still_core: TipsterCore):
    core = still_core
    sell_text = "/signal AAPL 1d strategy=options buy=0.99 sell=0.98"  # any fused score under 0.98 is a SELL
    buy_card = await say(core, OWNER, "/signal AAPL 1d strategy=options buy=-0.9 sell=-0.95")
    call_tip = await newest_tip(core, OWNER)
    assert call_tip.recommendation is Recommendation.BUY and " call, " in starting(buy_card, "Option: ")[0]
    # The fresh SELL card, as the bot draws it for anyone asking now: a put.
    fresh = await say(core, ME, sell_text)
    assert (await newest_tip(core, ME)).recommendation is Recommendation.SELL
    [put] = starting(fresh, "Option: AAPL ")
    assert " put, " in put and put.endswith("SYNTHETIC")
    moving = await _moving_tip(core, sell_text, Recommendation.BUY,
                               {key: call_tip.extra.get(key) for key in ("option", "record")})

    before = len(await core.storage.alerts.for_chat("console", "7", limit=10_000))
    result = await SignalMonitor(core).run_cycle()
    assert result.errors == 0
    stored = await core.storage.signals.get(moving.id)
    assert stored is not None and stored.recommendation is Recommendation.SELL
    card = await _owner_card(core, moving.id or 0, before)
    # The put, chosen as the fresh SELL card's was; no call left over from the BUY it was.
    assert starting(card, "Option: ") == [put]
    assert " call, " not in card.text
    # Every line of the fresh SELL card, the record line of SELL tips included.
    assert body(card) == body(fresh)
    assert starting(card, "Past 30 days on AAPL 1d: ") == starting(fresh, "Past 30 days on AAPL 1d: ")
    # Stored with the tip, so [Dismiss] on the re-carded tip draws the same card again.
    assert stored.extra["option"]["side"] == "SELL" and stored.extra["option"]["contract"]["kind"] == "put"
    [dismissed] = await core.handle_button(OWNER, button_data(card, "Dismiss"))
    assert body(dismissed) == body(fresh)


async def test_a_grid_tip_changing_side_keeps_its_level_table(still_core: TipsterCore):
    core = still_core
    text = "/signal BTC/USDT 1h strategy=grid grid_num=4 grid_spacing=1"
    fresh = await say(core, ME, text)
    side = (await newest_tip(core, ME)).recommendation
    table = starting(fresh, "Grid: ") + [line for line in fresh.text.splitlines()
                                         if line.startswith(("buy ", "sell "))]
    assert len(table) == 5
    old_side = Recommendation.HOLD if side is not Recommendation.HOLD else Recommendation.BUY
    moving = await _moving_tip(core, text, old_side, {"grid": None, "record": None})
    before = len(await core.storage.alerts.for_chat("console", "7", limit=10_000))
    await SignalMonitor(core).run_cycle()
    assert (await core.storage.signals.get(moving.id)).recommendation is side
    card = await _owner_card(core, moving.id or 0, before)
    assert body(card) == body(fresh)
    assert all(line in card.text.splitlines() for line in table)
