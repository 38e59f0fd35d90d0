"""A typed custom size keeps its cents through the confirmation's [Confirm] button; whole-dollar buttons made
before that keep working, and a size in a button that is not a plain amount is refused in one line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import ROUND_DOWN, Decimal

import pytest

from bot.app import open_core
from bot.core.service import TipsterCore
from bot.settings import Settings
from tests.bot.test_core_signals import button_data, texts
from tests.bot.test_positions import buy_card, card_signal_id
from tests.conftest import user_ctx

ME = user_ctx(1)
STEP = Decimal("0.00000001")  # the paper broker trades crypto in fractions of 1e-8


@pytest.fixture
async def pcore(settings: Settings) -> AsyncIterator[TipsterCore]:
    s = settings.model_copy(update={"cache": settings.cache.model_copy(update={"market_ttl": 0})})
    async with open_core(s) as core:
        yield core


async def custom_confirmation(core: TipsterCore, typed: str):
    card = await buy_card(core)
    sizes = (await core.handle_button(ME, button_data(card, "Open position")))[0]
    assert "Type the size" in texts(await core.handle_button(ME, button_data(sizes, "Custom")))
    confirm = (await core.handle_text(ME, typed))[0]
    assert "Open this position?" in (confirm.title or ""), texts([confirm])
    return card, confirm


async def test_typed_size_with_cents_is_opened_to_the_cent(pcore: TipsterCore):
    core = pcore
    price = await core.services.market.last_price("BTC/USDT")  # the replay stands still: the fill's reference
    _, confirm = await custom_confirmation(core, "250.50")
    assert "size $250.50" in confirm.text
    assert "Position #1 opened" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    position = await core.trading.repo.get(1)
    assert position.notional == Decimal("250.50")
    assert position.quantity == (Decimal("250.50") / price).quantize(STEP, rounding=ROUND_DOWN)
    assert position.quantity != (Decimal(250) / price).quantize(STEP, rounding=ROUND_DOWN)


async def test_whole_dollar_confirm_made_before_still_opens(pcore: TipsterCore):
    """A button already in a chat carries the size as whole dollars: `oy:<tip>:<dollars>:<nonce>`."""
    core = pcore
    price = await core.services.market.last_price("BTC/USDT")
    card, confirm = await custom_confirmation(core, "250")
    nonce = button_data(confirm, "Confirm").split(":")[3]
    old = core.button("Confirm", "oy", card_signal_id(card), 250, nonce).data
    assert "Position #1 opened" in texts(await core.handle_button(ME, old))
    position = await core.trading.repo.get(1)
    assert position.notional == Decimal(250)
    assert position.quantity == (Decimal(250) / price).quantize(STEP, rounding=ROUND_DOWN)


@pytest.mark.parametrize("forged", ["1e9", "nan", "250.5.5", "-250", "+250", ".5", "250.", "250.505", "0",
                                    "99999999999"])
async def test_a_size_that_is_not_a_plain_amount_is_refused(pcore: TipsterCore, forged: str):
    core = pcore
    card, confirm = await custom_confirmation(core, "250.50")
    nonce = button_data(confirm, "Confirm").split(":")[3]
    bad = core.button("Confirm", "oy", card_signal_id(card), forged, nonce).data
    out = texts(await core.handle_button(ME, bad))
    assert out.strip() and "\n" not in out.strip(), out
    assert "opened" not in out
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM positions") == 0
    # The refusal consumed nothing: the real Confirm still opens the typed size.
    assert "Position #1 opened" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    assert (await core.trading.repo.get(1)).notional == Decimal("250.50")


async def test_a_default_size_with_cents_opens_to_the_cent(pcore: TipsterCore):
    core = pcore
    await core.handle_text(ME, "/settings size=250.50")
    card = await buy_card(core)
    sizes = (await core.handle_button(ME, button_data(card, "Open position")))[0]
    confirm = (await core.handle_button(ME, button_data(sizes, "My default $250.50")))[0]
    assert "size $250.50" in confirm.text
    assert "Position #1 opened" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    assert (await core.trading.repo.get(1)).notional == Decimal("250.50")


async def test_a_whole_dollar_default_saved_before_still_shows_and_opens(pcore: TipsterCore):
    core = pcore
    user = await core.ensure_user(ME)
    await core.storage.users.update_settings(user.id, {"size": 300})  # as older versions saved it: a number
    card = await buy_card(core)
    sizes = (await core.handle_button(ME, button_data(card, "Open position")))[0]
    confirm = (await core.handle_button(ME, button_data(sizes, "My default $300")))[0]
    assert "Position #1 opened" in texts(await core.handle_button(ME, button_data(confirm, "Confirm")))
    assert (await core.trading.repo.get(1)).notional == Decimal(300)
