"""Positions through the core with the paper broker on the replay market: open from a tip's buttons, risk
checks, exits by the position monitor, /pnl, /close, reconciliation after an uncertain broker answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.app import open_core
from bot.core.jobs.positions import PositionMonitor
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.brokers.base import BrokerError, Fill, OrderRequest, OrderStatus
from storage.alerts import AlertRepository
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import user_ctx

ME, OTHER = user_ctx(1), user_ctx(2)


@pytest.fixture
async def pcore(settings: Settings) -> AsyncIterator[TipsterCore]:
    s = settings.model_copy(update={"cache": settings.cache.model_copy(update={"market_ttl": 0})})
    async with open_core(s) as core:
        yield core


def replay(core: TipsterCore):
    return core.services.market.inner


async def buy_card(core: TipsterCore, ctx=ME):
    card = (await core.handle_text(ctx, "/signal BTC/USDT 1h buy=-0.9 sell=-1"))[0]
    assert "BUY" in (card.title or "")
    return card


async def open_from_card(core: TipsterCore, card, size: str = "$500", ctx=ME):
    sizes = (await core.handle_button(ctx, button_data(card, "Open position")))[0]
    confirm = (await core.handle_button(ctx, button_data(sizes, size)))[0]
    return confirm, await core.handle_button(ctx, button_data(confirm, "Confirm"))


async def test_open_from_tip_buttons(pcore: TipsterCore):
    core = pcore
    card = await buy_card(core)
    confirm, done = await open_from_card(core, card)
    assert "Open this position?" in confirm.title
    assert "✔ position size: position $500.00 is 5.0% of equity $10,000.00 (limit 10%)" in confirm.text
    assert "Position #1 opened" in texts(done)
    position = await core.trading.repo.get(1)
    assert position.status == "open" and position.signal_id == card_signal_id(card)
    # Paper ledger: cash fell by what the fill cost plus its fee.
    account = await core.trading.repo.paper_account(await user_id(core), Decimal(10000))
    assert account.cash == Decimal(10000) - position.entry_price * position.quantity - position.entry_fee
    # The edited message tells the fill: no second copy is queued as an alert to the same chat.
    alerts = await AlertRepository(core.storage.db).for_chat("console", "1")
    assert [a.kind for a in alerts] == []
    # A second open on the same tip is refused by the duplicate check, shown before any confirmation ...
    sizes = (await core.handle_button(ME, button_data(card, "Open position")))[0]
    again = (await core.handle_button(ME, button_data(sizes, "$100")))[0]
    assert "✖ duplicate: a position on this tip is already open" in again.text
    # ... and pressing the first Confirm again (a replayed button) opens nothing either.
    replayed = texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    assert "Already done" in replayed
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM positions") == 1


def card_signal_id(card) -> int:
    return int(card.text.split("Tip #")[1].split()[0])


async def user_id(core: TipsterCore, ctx=ME) -> int:
    return (await core.storage.users.by_identity(ctx.identity)).id


async def test_risk_checks_refuse_with_numbers(pcore: TipsterCore):
    core = pcore
    card = await buy_card(core)
    sizes = (await core.handle_button(ME, button_data(card, "Open position")))[0]
    custom = await core.handle_button(ME, button_data(sizes, "Custom"))
    assert "Type the size" in texts(custom)
    refused = (await core.handle_text(ME, "1500"))[0]
    assert "A risk check refuses" in refused.title
    assert "✖ position size: position $1,500.00 is 15.0% of equity $10,000.00 (limit 10%)" in refused.text
    assert not any("Confirm" in b.label for row in refused.buttons for b in row)
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM positions") == 0
    core.settings.risk.max_daily_trades = 1
    await open_from_card(core, card, "$100")
    card2 = await buy_card(core)
    sizes = (await core.handle_button(ME, button_data(card2, "Open position")))[0]
    second = (await core.handle_button(ME, button_data(sizes, "$100")))[0]
    assert "✖ daily trades: 1 trade(s) today (limit 1 a day)" in second.text


async def test_viewers_never_see_open_and_forged_presses_are_refused(pcore: TipsterCore):
    core = pcore
    card = await buy_card(core)
    await core.ensure_user(OTHER)
    out = texts(await core.handle_button(OTHER, button_data(card, "Open position")))
    assert "not yours" in out
    viewer = await core.storage.users.by_identity(OTHER.identity)
    await core.storage.user_admin.set_access(viewer.id, role="viewer")
    viewer_card = await buy_card(core, OTHER)
    assert not any("Open" in b.label for row in viewer_card.buttons for b in row)
    assert "does not allow" in texts(await core.handle_button(OTHER, button_data(card, "Open position")))
    assert "does not allow" in texts(await core.handle_text(OTHER, "/open BTC/USDT long 100"))


async def test_take_profit_exit_alert_and_pnl(pcore: TipsterCore):
    core = pcore
    price = await core.services.market.last_price("BTC/USDT")
    tp = (price * Decimal("1.001")).quantize(Decimal("0.01"))
    confirm = (await core.handle_text(ME, f"/open BTC/USDT long 500 sl={price / 2:.2f} tp={tp}"))[0]
    assert "TP" in confirm.text
    done = await core.handle_button(ME, button_data(confirm, "Confirm"))
    assert "opened" in texts(done)
    monitor = PositionMonitor(core, core.trading)
    for _ in range(400):
        replay(core).advance(300)
        result = await monitor.run()
        if result.exits:
            break
    position = await core.trading.repo.get(1)
    assert position.status == "closed"
    assert position.exit_reason == "take_profit"
    kinds = [a.kind for a in await AlertRepository(core.storage.db).for_chat("console", "1")]
    assert "exit" in kinds
    pnl = texts(await core.handle_text(ME, "/pnl"))
    assert "Trades 1" in pnl and "take_profit 1" in pnl
    assert "#1 long BTC/USDT · take_profit" in texts(await core.handle_text(ME, "/trades"))


async def test_manual_close_and_close_all(pcore: TipsterCore):
    core = pcore
    card = await buy_card(core)
    await open_from_card(core, card, "$100")
    listing = (await core.handle_text(ME, "/positions"))[0]
    assert "Open positions (1)" in listing.title and "PnL" in listing.text
    ask = (await core.handle_button(ME, button_data(listing, "Close #1")))[0]
    assert "not yours" in texts(await core.handle_button(OTHER, button_data(ask, "Close")))
    closed = texts(await core.handle_button(ME, button_data(ask, "Close")))
    assert "Closed #1" in closed and "manual" in closed
    assert "is closed" in texts(await core.handle_text(ME, "/close 1"))
    assert "no open positions" in texts(await core.handle_text(ME, "/close all"))
    # With nothing open, the paper account can be reset.
    ask = (await core.handle_text(ME, "/resetpaper"))[0]
    assert "reset" in texts(await core.handle_button(ME, button_data(ask, "Reset")))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/open", "Give SYMBOL: the market"),
        ("/open BTC/USDT sideways 100", "side must be one of long, short, not 'sideways'"),
        ("/open BTC/USDT long lots", "not an amount"),
        ("/open BTC/USDT long 0", "between $1"),
        ("/open BTC/USDT long -5", "between $1"),
        ("/open BTC/USDT long 1e12", "between $1"),
        ("/open BTC/USDT long NaN", "between $1"),
        ("/open BTC/USDT long 100 sl=abc", "must be a price"),
        ("/open BTC/USDT long 100 sl=999999999", "losing side"),
        ("/open BTC/USDT long 100 lev=10", "Unknown option"),
        ("/open NOPE/USDT long 100", "Unknown symbol"),
        ("/close", "Give ID|all: the position's id"),
        ("/close abc", "not a position id"),
        ("/close 999", "No position #999"),
        ("/pnl forever", "period must be one of today, 7d, 30d, all"),
        ("/trades x", "page number"),
        ("/settings size=-3", "between 1"),
    ],
)
async def test_bad_position_input(pcore: TipsterCore, command: str, expected: str):
    out = texts(await pcore.handle_text(ME, command))
    assert expected in out, out
    assert await pcore.storage.db.scalar("SELECT COUNT(*) FROM positions") == 0


class FlakyBroker:
    """A broker whose submit times out after the order was placed (the classic half-open risk)."""

    name = "flaky"

    def __init__(self) -> None:
        self.placed: dict[str, OrderRequest] = {}

    async def submit(self, order: OrderRequest) -> Fill:
        self.placed[order.client_order_id] = order
        raise BrokerError("timed out waiting for the broker", transient=True)

    async def order_status(self, client_order_id: str, symbol: str | None = None) -> Fill:
        order = self.placed.get(client_order_id)
        if order is None:
            return Fill(client_order_id=client_order_id, broker_order_id="", status=OrderStatus.NOT_FOUND)
        return Fill(client_order_id=client_order_id, broker_order_id="b-1", status=OrderStatus.FILLED,
                    quantity=order.quantity, price=order.price, fee=Decimal("0.50"))


async def test_timeout_mid_order_is_reconciled_not_half_open(pcore: TipsterCore):
    core = pcore
    broker = FlakyBroker()
    core.trading.brokers["flaky"] = broker
    core.settings.brokers.default = "flaky"  # type: ignore[assignment]
    confirm = (await core.handle_text(ME, "/open ETH/USDT long 200"))[0]
    out = texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    assert "pending" in out
    assert (await core.trading.repo.get(1)).status == "pending"
    assert await core.trading.reconcile() == 1
    position = await core.trading.repo.get(1)
    assert position.status == "open" and position.entry_fee == Decimal("0.50")


async def test_summary_stats_and_health_include_positions(pcore: TipsterCore):
    from datetime import UTC, datetime, timedelta

    from bot.core.jobs.summary import SummaryScope

    core = pcore
    card = await buy_card(core)
    await open_from_card(core, card, "$100")
    listing = (await core.handle_text(ME, "/positions"))[0]
    ask = (await core.handle_button(ME, button_data(listing, "Close #1")))[0]
    await core.handle_button(ME, button_data(ask, "Close"))
    now = datetime.now(UTC)
    scope = SummaryScope(platform="console", chat_id="1", user_id=await user_id(core),
                         since=now - timedelta(days=1), until=now + timedelta(minutes=1), tz="UTC")
    lines = [line for section in core.summary_sections for line in await section(core, scope)]
    assert lines[0] == "Positions: 0 open" and lines[1].startswith("Trades 1 · win rate")
    admin = await core.storage.users.by_identity(ME.identity)
    await core.storage.user_admin.set_access(admin.id, role="admin")
    assert "Positions: closed 1" in texts(await core.handle_text(ME, "/stats"))
    assert "Brokers: paper (default paper)" in texts(await core.handle_text(ME, "/health"))


async def test_signal_reversal_closes_the_tips_positions(pcore: TipsterCore):
    from bot.core.jobs.monitor import SignalMonitor
    from engine.models import Recommendation

    core = pcore
    card = await buy_card(core)
    await open_from_card(core, card, "$100")
    tip = await core.storage.signals.get(card_signal_id(card))
    reversed_tip = tip.model_copy(update={"recommendation": Recommendation.SELL})
    core.settings.risk.exit_on_reversal = True
    await SignalMonitor(core)._exit_reversed([(tip, reversed_tip, [])])
    position = await core.trading.repo.get(1)
    assert position.status == "closed" and position.exit_reason == "signal_reversal"
