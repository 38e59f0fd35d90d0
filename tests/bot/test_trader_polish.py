"""What a trader noticed through the core: a stock's own timeframe, the picker's timeframes, dollar PnL in
/positions, and what /resetpaper keeps."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from bot.app import open_core
from bot.core.service import TipsterCore
from bot.settings import Settings
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import user_ctx

ME = user_ctx(1)


@pytest.fixture
async def pcore(settings: Settings) -> AsyncIterator[TipsterCore]:
    s = settings.model_copy(update={"cache": settings.cache.model_copy(update={"market_ttl": 0})})
    async with open_core(s) as core:
        yield core


def labels(reply) -> list[str]:
    return [b.label for row in reply.buttons for b in row]


# ---- timeframes ------------------------------------------------------------------------------------------

async def test_a_stock_without_the_default_timeframe_uses_its_own(core: TipsterCore) -> None:
    # The bundled stocks have daily bars only; the default timeframe is 1h.
    card = (await core.handle_text(ME, "/signal GOOG"))[0]
    assert card.title and "GOOG · 1d" in card.title, texts([card])
    # Typed into the picker, the same rule.
    await core.handle_text(ME, "/signal")
    card = (await core.handle_text(ME, "spy"))[0]
    assert card.title and "SPY · 1d" in card.title, texts([card])


async def test_the_default_timeframe_is_kept_where_the_symbol_has_it(core: TipsterCore) -> None:
    card = (await core.handle_text(ME, "/signal BTC/USDT"))[0]
    assert card.title and "BTC/USDT · 1h" in card.title
    await core.handle_text(ME, "/settings timeframe=4h")
    card = (await core.handle_text(ME, "/signal SOL/USDT"))[0]
    assert card.title and "SOL/USDT · 4h" in card.title
    card = (await core.handle_text(ME, "/signal AAPL"))[0]
    assert card.title and "AAPL · 1d" in card.title


async def test_watch_uses_the_same_rule(core: TipsterCore) -> None:
    assert "Watching GOOG 1d" in texts(await core.handle_text(ME, "/watch GOOG"))
    assert "Watching BTC/USDT 1h" in texts(await core.handle_text(ME, "/watch BTC/USDT"))


async def test_an_explicit_timeframe_the_symbol_lacks_is_still_an_error(core: TipsterCore) -> None:
    out = texts(await core.handle_text(ME, "/signal GOOG 1h"))
    assert "GOOG has no 1h data" in out and "1d" in out
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM signals") == 0


async def test_the_picker_offers_only_the_symbols_timeframes(core: TipsterCore) -> None:
    ask = (await core.handle_text(ME, "/signal"))[0]
    goog = (await core.handle_button(ME, button_data(ask, "GOOG")))[0]
    assert labels(goog) == ["1d", "Cancel"]
    card = (await core.handle_button(ME, button_data(goog, "1d")))[0]
    assert card.title and "GOOG · 1d" in card.title
    ask = (await core.handle_text(ME, "/signal"))[0]
    sol = (await core.handle_button(ME, button_data(ask, "SOL/USDT")))[0]
    assert labels(sol) == ["1h", "4h", "1d", "Cancel"]  # the replay has no 15m SOL bars
    ask = (await core.handle_text(ME, "/signal"))[0]
    btc = (await core.handle_button(ME, button_data(ask, "BTC/USDT")))[0]
    assert labels(btc) == ["15m", "1h", "4h", "1d", "Cancel"]


# ---- positions -------------------------------------------------------------------------------------------

MONEY = r"([+−]?)\$([\d,]+\.\d\d)"


def as_decimal(sign: str, digits: str) -> Decimal:
    value = Decimal(digits.replace(",", ""))
    return -value if sign == "−" else value


async def test_positions_show_dollar_pnl_net_of_the_entry_fee(pcore: TipsterCore) -> None:
    core = pcore
    card = (await core.handle_text(ME, "/signal BTC/USDT 1h buy=-0.9 sell=-1"))[0]
    sizes = (await core.handle_button(ME, button_data(card, "Open position")))[0]
    assert labels(sizes)[:3] == ["$100", "$500", "$1,000"]
    confirm = (await core.handle_button(ME, button_data(sizes, "$500")))[0]
    await core.handle_button(ME, button_data(confirm, "Confirm"))
    position = await core.trading.repo.get(1)
    assert position is not None and position.status == "open"
    out = texts(await core.handle_text(ME, "/positions"))
    line = next(x for x in out.splitlines() if x.startswith("#1 "))
    found = re.search(r"now ([\d,]+\.\d+) · PnL ([+-]\d+\.\d\d)% · " + MONEY, line)
    assert found, line
    now = Decimal(found.group(1).replace(",", ""))
    # Independently: (mark − entry) × quantity − the entry fee already paid, to the cent.
    expected = ((now - position.entry_price) * position.quantity - position.entry_fee).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert as_decimal(found.group(3), found.group(4)) == expected, line
    if expected < 0:
        assert found.group(3) == "−" and "$-" not in out
    assert "net of the entry fee" in out


async def test_resetpaper_says_past_trades_stay_in_pnl(pcore: TipsterCore) -> None:
    core = pcore
    ask = texts(await core.handle_text(ME, "/resetpaper"))
    assert "/pnl" in ask and "stay" in ask
    reply = (await core.handle_text(ME, "/resetpaper"))[0]
    done = texts(await core.handle_button(ME, button_data(reply, "Reset")))
    assert "Paper account reset: cash $10,000.00" in done and "/pnl" in done
