"""Issue 9, races: the same press arriving N times at once acts once; a broadcast is queued whole or not at all;
a new tip supersedes the active one of the same user, chat, symbol and timeframe; an open or close is announced
once. Every race is N copies of one press (or command) through the core, run together with asyncio.gather, the
way a batch of Telegram updates reaches it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.app import open_core
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.settings import Settings
from storage.alerts import AlertRepository
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import user_ctx

ME = user_ctx(1)
ADMIN = user_ctx(100)
DONE = "Already done"


@pytest.fixture
async def rcore(settings: Settings) -> AsyncIterator[TipsterCore]:
    s = settings.model_copy(update={"admins": ["console:100"],
                                    "cache": settings.cache.model_copy(update={"market_ttl": 0})})
    async with open_core(s) as core:
        await core.ensure_user(ADMIN)
        yield core


async def together(core: TipsterCore, ctx, data: str, n: int) -> list[list[Reply]]:
    return list(await asyncio.gather(*(core.handle_button(ctx, data) for _ in range(n))))


async def count(core: TipsterCore, sql: str, *params: object) -> int:
    return int(await core.storage.db.scalar(sql, params))


def said(outcomes: list[list[Reply]], words: str) -> int:
    return sum(1 for replies in outcomes if words in texts(replies))


# ---- a confirmation acts once -------------------------------------------------------------------------

async def test_tip_confirm_pressed_three_times_opens_one_position(rcore: TipsterCore):
    core = rcore
    card = (await core.handle_text(ME, "/signal BTC/USDT 1h buy=-0.9 sell=-1"))[0]
    sizes = (await core.handle_button(ME, button_data(card, "Open position")))[0]
    confirm = (await core.handle_button(ME, button_data(sizes, "$500")))[0]
    outcomes = await together(core, ME, button_data(confirm, "Confirm"), 3)
    assert await count(core, "SELECT COUNT(*) FROM positions") == 1
    assert said(outcomes, "opened") == 1
    assert said(outcomes, DONE) == 2


async def test_open_confirm_pressed_five_times_opens_one_position(rcore: TipsterCore):
    core = rcore
    confirm = (await core.handle_text(ME, "/open BTC/USDT long 100"))[0]
    outcomes = await together(core, ME, button_data(confirm, "Confirm"), 5)
    assert await count(core, "SELECT COUNT(*) FROM positions") == 1
    assert said(outcomes, "opened") == 1
    assert said(outcomes, DONE) == 4


async def test_a_stale_open_confirmation_does_not_act_on_a_newer_one(rcore: TipsterCore):
    """Two /open in a row: the first one's Confirm must not open the second one's position."""
    core = rcore
    first = (await core.handle_text(ME, "/open BTC/USDT long 100"))[0]
    second = (await core.handle_text(ME, "/open ETH/USDT long 200"))[0]
    assert DONE in texts(await core.handle_button(ME, button_data(first, "Confirm")))
    assert await count(core, "SELECT COUNT(*) FROM positions") == 0
    assert "opened" in texts(await core.handle_button(ME, button_data(second, "Confirm")))
    assert await count(core, "SELECT COUNT(*) FROM positions WHERE symbol = 'ETH/USDT'") == 1


async def test_close_confirm_pressed_five_times_closes_once(rcore: TipsterCore):
    core = rcore
    confirm = (await core.handle_text(ME, "/open BTC/USDT long 100"))[0]
    await core.handle_button(ME, button_data(confirm, "Confirm"))
    ask = (await core.handle_text(ME, "/close 1"))[0]
    outcomes = await together(core, ME, button_data(ask, "Close"), 5)
    assert said(outcomes, "Closed #1") == 1
    assert said(outcomes, DONE) == 4
    assert await count(core, "SELECT COUNT(*) FROM positions WHERE status = 'closed'") == 1


async def test_close_all_pressed_five_times_acts_once(rcore: TipsterCore):
    core = rcore
    for symbol in ("BTC/USDT", "ETH/USDT"):
        confirm = (await core.handle_text(ME, f"/open {symbol} long 100"))[0]
        await core.handle_button(ME, button_data(confirm, "Confirm"))
    ask = (await core.handle_text(ME, "/close all"))[0]
    outcomes = await together(core, ME, button_data(ask, "Close all"), 5)
    assert said(outcomes, DONE) == 4
    assert said(outcomes, "Closed #1") == 1 and said(outcomes, "Closed #2") == 1
    assert await count(core, "SELECT COUNT(*) FROM positions WHERE status = 'closed'") == 2


async def test_resetpaper_pressed_five_times_resets_once(rcore: TipsterCore):
    core = rcore
    ask = (await core.handle_text(ME, "/resetpaper"))[0]
    outcomes = await together(core, ME, button_data(ask, "Reset"), 5)
    assert await count(core, "SELECT COUNT(*) FROM activity WHERE kind = 'paper_reset'") == 1
    assert said(outcomes, DONE) == 4


async def test_forgetme_pressed_five_times_deletes_once(rcore: TipsterCore):
    core = rcore
    ask = (await core.handle_text(ME, "/forgetme"))[0]
    outcomes = await together(core, ME, button_data(ask, "Delete my data"), 5)
    assert await count(core, "SELECT COUNT(*) FROM audit WHERE action = 'forgetme'") == 1
    assert said(outcomes, "your data is deleted") == 1
    assert said(outcomes, DONE) == 4


async def test_deluser_pressed_five_times_deletes_once(rcore: TipsterCore):
    core = rcore
    await core.ensure_user(ME)
    ask = (await core.handle_text(ADMIN, "/deluser console:1 with-signals"))[0]
    outcomes = await together(core, ADMIN, button_data(ask, "Delete"), 5)
    assert await count(core, "SELECT COUNT(*) FROM audit WHERE action = 'deluser'") == 1
    assert said(outcomes, DONE) == 4


async def test_broadcast_confirm_pressed_five_times_sends_one_copy_each(rcore: TipsterCore):
    core = rcore
    for n in range(1, 13):  # 12 users and the admin: 13 recipients
        await core.ensure_user(user_ctx(n))
    ask = (await core.handle_text(ADMIN, "/broadcast Maintenance at 22:00 UTC"))[0]
    assert "To 13 active user(s)" in ask.text
    outcomes = await together(core, ADMIN, button_data(ask, "Confirm"), 5)
    copies = await core.storage.db.fetchall(
        "SELECT chat_id, COUNT(*) FROM alerts WHERE kind = 'broadcast' GROUP BY chat_id")
    assert len(copies) == 13
    assert max(n for _, n in copies) == 1, f"copies per user: {sorted(n for _, n in copies)}"
    assert await count(core, "SELECT COUNT(*) FROM audit WHERE action = 'broadcast'") == 1
    assert said(outcomes, "Broadcast queued for 13 user(s)") == 1
    assert said(outcomes, DONE) == 4


async def _approval_request(core: TipsterCore) -> Reply:
    """A user registers in approval mode; the admin's approval card is read from the outbox."""
    core.settings.access.mode = "approval"  # type: ignore[assignment]
    await core.ensure_user(ME)
    alerts = [a for a in await AlertRepository(core.storage.db).for_chat("console", "100")
              if a.kind == "approval_request"]
    assert len(alerts) == 1
    return Reply.model_validate(alerts[0].payload)


async def test_approve_pressed_five_times_approves_once(rcore: TipsterCore):
    core = rcore
    card = await _approval_request(core)
    outcomes = await together(core, ADMIN, button_data(card, "Approve 30 days"), 5)
    assert await count(core, "SELECT COUNT(*) FROM audit WHERE action = 'activate'") == 1
    assert await count(core, "SELECT COUNT(*) FROM alerts WHERE kind = 'access_decision'") == 1
    assert said(outcomes, DONE) == 4
    user = await core.storage.users.by_identity(ME.identity)
    assert user.role == "trader" and user.expires_at is not None


async def test_reject_pressed_five_times_rejects_once(rcore: TipsterCore):
    core = rcore
    card = await _approval_request(core)
    outcomes = await together(core, ADMIN, button_data(card, "Reject"), 5)
    assert await count(core, "SELECT COUNT(*) FROM audit WHERE action = 'reject'") == 1
    assert said(outcomes, DONE) == 4


async def test_custom_approval_days_typed_three_times_approves_once(rcore: TipsterCore):
    core = rcore
    card = await _approval_request(core)
    await core.handle_button(ADMIN, button_data(card, "Approve …"))
    outcomes = await asyncio.gather(*(core.handle_text(ADMIN, "45") for _ in range(3)))
    assert await count(core, "SELECT COUNT(*) FROM audit WHERE action = 'activate'") == 1
    assert said(list(outcomes), "Approved") == 1


async def test_a_confirmation_still_works_once_and_cancel_ends_it(rcore: TipsterCore):
    core = rcore
    ask = (await core.handle_text(ME, "/resetpaper"))[0]
    assert "Cancelled" in texts(await core.handle_text(ME, "/cancel"))
    assert DONE in texts(await core.handle_button(ME, button_data(ask, "Reset")))
    assert await count(core, "SELECT COUNT(*) FROM activity WHERE kind = 'paper_reset'") == 0
    ask = (await core.handle_text(ME, "/resetpaper"))[0]
    assert "Paper account reset" in texts(await core.handle_button(ME, button_data(ask, "Reset")))


# ---- a broadcast is queued whole, with its audit row, or not at all ---------------------------------------

FAIL_AUDIT = ("CREATE TRIGGER fail_audit BEFORE INSERT ON audit WHEN NEW.action = 'broadcast'"
              " BEGIN SELECT RAISE(ABORT, 'audit insert failed'); END")
# A process killed after the 9th recipient: the 10th insert fails.
KILL_AT_TENTH = ("CREATE TRIGGER kill_mid_loop BEFORE INSERT ON alerts WHEN NEW.kind = 'broadcast'"
                 " AND (SELECT COUNT(*) FROM alerts WHERE kind = 'broadcast') >= 9"
                 " BEGIN SELECT RAISE(ABORT, 'killed'); END")


@pytest.mark.parametrize("failure", [FAIL_AUDIT, KILL_AT_TENTH], ids=["audit-fails", "killed-mid-loop"])
async def test_broadcast_fan_out_is_all_or_nothing(rcore: TipsterCore, failure: str):
    core = rcore
    for n in range(1, 13):
        await core.ensure_user(user_ctx(n))
    ask = (await core.handle_text(ADMIN, "/broadcast Maintenance at 22:00 UTC"))[0]
    await core.storage.db.execute(failure)
    out = texts(await core.handle_button(ADMIN, button_data(ask, "Confirm")))
    assert "went wrong" in out
    alerts = await count(core, "SELECT COUNT(*) FROM alerts WHERE kind = 'broadcast'")
    audit = await count(core, "SELECT COUNT(*) FROM audit WHERE action = 'broadcast'")
    assert (alerts, audit) == (0, 0)


async def test_broadcast_rows_and_audit_row_commit_together(rcore: TipsterCore):
    core = rcore
    for n in range(1, 13):
        await core.ensure_user(user_ctx(n))
    ask = (await core.handle_text(ADMIN, "/broadcast Hello"))[0]
    await core.handle_button(ADMIN, button_data(ask, "Confirm"))
    assert await count(core, "SELECT COUNT(*) FROM alerts WHERE kind = 'broadcast'") == 13
    entry = (await core.storage.audit.recent(limit=1))[0]
    assert entry.action == "broadcast" and entry.detail["recipients"] == 13


# ---- a new tip supersedes the active one ----------------------------------------------------------------

async def active_tips(core: TipsterCore, symbol: str = "BTC/USDT", timeframe: str = "1h") -> int:
    return await count(core, "SELECT COUNT(*) FROM signals WHERE status = 'active' AND symbol = ? AND timeframe = ?",
                       symbol, timeframe)


async def test_refresh_pressed_four_times_leaves_one_active_tip(rcore: TipsterCore):
    core = rcore
    card = (await core.handle_text(ME, "/signal BTC/USDT 1h"))[0]
    await together(core, ME, button_data(card, "Refresh"), 4)
    assert await count(core, "SELECT COUNT(*) FROM signals") == 5
    assert await active_tips(core) == 1
    # Every replaced tip says so in its history.
    for (signal_id,) in await core.storage.db.fetchall("SELECT id FROM signals WHERE status = 'superseded'"):
        events = [e.event for e in await core.storage.signals.history(signal_id)]
        assert events == ["signal_created", "superseded"], (signal_id, events)
    assert await count(core, "SELECT COUNT(*) FROM signals WHERE status = 'superseded'") == 4


async def test_three_identical_signal_commands_leave_one_active_tip(rcore: TipsterCore):
    core = rcore
    await asyncio.gather(*(core.handle_text(ME, "/signal BTC/USDT 1h") for _ in range(3)))
    assert await count(core, "SELECT COUNT(*) FROM signals") == 3
    assert await active_tips(core) == 1


async def test_only_the_same_user_chat_symbol_and_timeframe_is_superseded(rcore: TipsterCore):
    core = rcore
    group = user_ctx(1, chat_type="group").model_copy(update={"chat_id": "-500"})
    for ctx, command in [(ME, "/signal BTC/USDT 1h"), (ME, "/signal BTC/USDT 4h"), (ME, "/signal ETH/USDT 1h"),
                         (group, "/signal BTC/USDT 1h"), (user_ctx(2), "/signal BTC/USDT 1h")]:
        assert "Tip #" in texts(await core.handle_text(ctx, command))
    assert await count(core, "SELECT COUNT(*) FROM signals WHERE status = 'active'") == 5
    latest = (await core.handle_text(ME, "/signal BTC/USDT 1h"))[0]
    assert await count(core, "SELECT COUNT(*) FROM signals WHERE status = 'active'") == 5
    assert (await core.storage.signals.get(1)).status == "superseded"
    events = await core.storage.signals.history(1)
    assert events[-1].event == "superseded" and "#6" in events[-1].description
    assert "Tip #6" in latest.text


# ---- an open or close is announced once -----------------------------------------------------------------

async def test_open_and_close_from_chat_are_not_announced_twice(rcore: TipsterCore):
    core = rcore
    card = (await core.handle_text(ME, "/signal BTC/USDT 1h buy=-0.9 sell=-1"))[0]
    sizes = (await core.handle_button(ME, button_data(card, "Open position")))[0]
    confirm = (await core.handle_button(ME, button_data(sizes, "$500")))[0]
    done = (await core.handle_button(ME, button_data(confirm, "Confirm")))[0]
    assert done.edit and "Position #1 opened" in texts([done])
    ask = (await core.handle_text(ME, "/close 1"))[0]
    closed = (await core.handle_button(ME, button_data(ask, "Close")))[0]
    assert closed.edit and "Closed #1" in texts([closed])
    kinds = [a.kind for a in await AlertRepository(core.storage.db).for_chat("console", "1")]
    assert "fill" not in kinds and "exit" not in kinds, kinds


async def test_a_fill_learnt_later_is_still_announced(rcore: TipsterCore):
    """A pending entry settled by reconciliation has no edited message to tell the user: its alert stays."""
    from engine.brokers.base import BrokerError, Fill, OrderRequest, OrderStatus

    class SlowBroker:
        name = "slow"

        def __init__(self) -> None:
            self.placed: dict[str, OrderRequest] = {}

        async def submit(self, order: OrderRequest) -> Fill:
            self.placed[order.client_order_id] = order
            raise BrokerError("timed out", transient=True)

        async def order_status(self, client_order_id: str, symbol: str | None = None) -> Fill:
            order = self.placed[client_order_id]
            return Fill(client_order_id=client_order_id, broker_order_id="b-1", status=OrderStatus.FILLED,
                        quantity=order.quantity, price=order.price, fee=Decimal("0.10"))

    core = rcore
    core.trading.brokers["slow"] = SlowBroker()
    core.settings.brokers.default = "slow"  # type: ignore[assignment]
    confirm = (await core.handle_text(ME, "/open ETH/USDT long 200"))[0]
    assert "pending" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    assert await core.trading.reconcile() == 1
    kinds = [a.kind for a in await AlertRepository(core.storage.db).for_chat("console", "1")]
    assert kinds == ["fill"]
