"""Positions on the reshaped core (issue 10): the commands' declared arguments (text and slash options give the
same open), and Trading's typed results — what an open or a close returns is what storage holds — with the
alerts queued beside them rendered by the positions views.

Prices come from the frozen, steerable replay of test_positions_trust, so every figure is computed by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.app import open_core
from bot.core.registry import registry
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.core.usecases.trading import CloseStatus, OpenStatus
from bot.settings import Settings
from engine.brokers.base import Side
from storage.alerts import AlertRepository
from tests.bot.test_core_signals import button_data, texts
from tests.bot.test_positions import FlakyBroker
from tests.bot.test_positions_trust import SteeredMarket, configured, fee_on, qty, slipped
from tests.conftest import user_ctx

ME = user_ctx(1)
BTC = "BTC/USDT"
PRICE = Decimal("50000.00")


@pytest.fixture
async def pcore(settings: Settings) -> AsyncIterator[TipsterCore]:
    market = SteeredMarket()
    market.prices[BTC] = PRICE
    async with open_core(configured(settings), market=market) as core:
        yield core


def test_each_positions_command_declares_its_arguments() -> None:
    commands = registry.commands
    # The usage lines the handlers used to spell out by hand, now generated from the declarations.
    assert commands["open"].usage == "/open SYMBOL long|short SIZE [sl=PRICE] [tp=PRICE]"
    assert commands["close"].usage == "/close ID|all"
    assert commands["pnl"].usage == "/pnl [today|7d|30d|all]"
    assert commands["trades"].usage == "/trades [PAGE]"
    assert commands["positions"].usage == "/positions" and commands["resetpaper"].usage == "/resetpaper"
    for name in ("open", "positions", "close", "pnl", "trades", "resetpaper"):
        assert commands[name].private, name
    args = {a.name: a for a in commands["open"].signature.args}
    assert args["side"].option_choices == ("long", "short")  # Discord offers these two; text also takes buy/sell
    assert (args["size"].option_type, args["size"].option_range) == ("number", (1.0, 10_000_000.0))
    assert args["sl"].keyed and args["tp"].keyed
    assert commands["pnl"].signature.defaults() == {"period": "all"}


async def test_text_keeps_buy_sell_and_dollar_amounts(pcore: TipsterCore) -> None:
    card = (await pcore.handle_text(ME, f"/open {BTC} buy $1,000"))[0]
    # 1,000 / 50,000 = 0.02 BTC
    assert card.title == "Open this position?", card.plain()
    assert card.text.startswith(f"LONG {BTC} · size $1,000.00 ≈ 0.02 at 50,000.00"), card.text
    card = (await pcore.handle_text(ME, f"/open {BTC} SELL 1,500.50 tp=45000"))[0]
    assert card.text.startswith(f"SHORT {BTC} · size $1,500.50 ≈ 0.03001 at 50,000.00"), card.text
    assert "TP 45,000.00" in card.text and "SL —" in card.text


async def test_slash_options_open_the_same_position(pcore: TipsterCore) -> None:
    core = pcore
    confirm = (await core.handle_command(ME, "open", {"symbol": BTC, "side": "short", "size": "1000.0",
                                                      "sl": "55000"}))[0]
    assert confirm.text.startswith(f"SHORT {BTC} · size $1,000.00"), confirm.plain()
    assert "SL 55,000.00" in confirm.text
    assert "Position #1 opened" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    position = await core.trading.repo.get(1)
    assert (position.side, position.notional, position.stop_loss) == (Side.SHORT, Decimal(1000), Decimal(55000))
    out = texts(await core.handle_command(ME, "open", {"symbol": BTC, "side": "sideways", "size": "100"}))
    assert "side must be one of long, short" in out and "Usage: /open SYMBOL" in out, out


async def test_open_and_close_return_what_storage_holds(pcore: TipsterCore) -> None:
    core = pcore
    user = await core.ensure_user(ME)
    quote = await core.trading.quote(user, BTC, Side.LONG, Decimal(1000), None, None, 2, None)
    opened = await core.trading.open(user, "console", "1", quote)
    assert opened.status is OpenStatus.OPENED and opened.position_id == 1
    fill_price = slipped(PRICE, buy=True)  # 50,000 × 1.0005 = 50,025.00
    quantity = qty(Decimal(1000), PRICE)
    assert fill_price == Decimal("50025.00") and quantity == Decimal("0.02")
    stored = await core.trading.repo.get(1)
    assert opened.position is not None and opened.fill is not None
    for field in ("status", "quantity", "entry_price", "entry_fee", "opened_at"):
        assert getattr(opened.position, field) == getattr(stored, field), field
    assert (stored.status, stored.entry_price, stored.quantity) == ("open", fill_price, quantity)
    assert stored.entry_fee == fee_on(quantity * fill_price)

    core.services.market.prices[BTC] = Decimal("51000.00")
    closed = await core.trading.close(stored, "manual", announce=False)
    exit_price = slipped(Decimal("51000.00"), buy=False)  # 51,000 × 0.9995 = 50,974.50
    fees = stored.entry_fee + fee_on(quantity * exit_price)
    assert closed.status is CloseStatus.CLOSED and closed.fill is not None
    assert (closed.fill.price, closed.fees) == (exit_price, fees)
    # 0.02 × (50,974.50 − 50,025.00) = 18.99, less 2.01999 of fees = 16.97001 → 16.9700 (PnL keeps 4 places)
    assert closed.pnl_abs == Decimal("16.9700") == (quantity * (exit_price - fill_price) - fees).quantize(
        Decimal("0.0001"))
    assert (await core.trading.repo.get(1)).pnl_abs == closed.pnl_abs
    again = await core.trading.close(stored, "manual", announce=False)
    assert again.status is CloseStatus.NOT_OPEN
    assert await AlertRepository(core.storage.db).for_chat("console", "1") == []  # nothing announced


async def test_a_fill_learnt_later_is_announced_as_the_view_renders_it(pcore: TipsterCore) -> None:
    core = pcore
    core.trading.brokers["flaky"] = FlakyBroker()  # times out, then reports a fill at the order's price, fee 0.50
    core.settings.brokers.default = "flaky"  # type: ignore[assignment]
    confirm = (await core.handle_text(ME, f"/open {BTC} long 1000 sl=45000"))[0]
    assert "Position #1 is pending" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    assert await core.trading.reconcile() == 1
    [alert] = await AlertRepository(core.storage.db).for_chat("console", "1")
    told = Reply.model_validate(alert.payload)
    assert alert.kind == "fill"
    assert told.title == f"✅ Filled: position #1 long {BTC}"
    assert told.text == f"long 0.02 {BTC} at 50,000.00 · fee $0.50 · broker flaky\nSL 45,000.00 · TP —"
