"""What a trader relies on when opening and closing (issue 9): risk checks that hold under concurrent
confirms, valued at current prices with slippage and fees, the market's clock in replay, the symbol's tick,
an honest [Close] confirmation, and an owner told when a pending entry failed.

The market is the bundled replay frozen in time (speed 0) with prices a test can move, so every expected
number below is computed by hand from the price, the tick and the paper settings.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from bot.app import open_core
from bot.core.context import ChatContext
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.market.replay import ReplayMarket
from engine.models import Candles
from storage.alerts import AlertRepository
from tests.bot.test_core_signals import button_data, texts
from tests.bot.test_positions import FlakyBroker
from tests.conftest import user_ctx

ME = user_ctx(1)
BTC = "BTC/USDT"
SLIP, FEE = Decimal("0.05"), Decimal("0.1")  # config.yaml's paper.slippage_pct and paper.fee_pct
CENT = Decimal("0.01")


class SteeredMarket:
    """The bundled replay frozen at one moment, whose last price a test can set per symbol."""

    name = "replay"
    demo = True

    def __init__(self) -> None:
        self.replay = ReplayMarket(start=500, speed=0)
        self.prices: dict[str, Decimal] = {}

    def symbols(self) -> list[str]:
        return self.replay.symbols()

    def timeframes(self, symbol: str) -> list[str]:
        return self.replay.timeframes(symbol)

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        return await self.replay.fetch_ohlcv(symbol, timeframe, bars)

    async def last_price(self, symbol: str) -> Decimal:
        return self.prices[symbol] if symbol in self.prices else await self.replay.last_price(symbol)

    async def as_of(self, symbol: str) -> datetime | None:
        return await self.replay.as_of(symbol)

    def advance(self, seconds: float) -> None:
        self.replay.advance(seconds)

    def status(self) -> dict[str, str]:
        return self.replay.status()


@dataclass
class Rig:
    core: TipsterCore
    market: SteeredMarket


def configured(settings: Settings, **risk: Any) -> Settings:
    return settings.model_copy(update={
        "cache": settings.cache.model_copy(update={"market_ttl": 0}),
        "limits": settings.limits.model_copy(update={"per_user_per_minute": 1000}),
        "risk": settings.risk.model_copy(update=risk),
    })


@pytest.fixture
async def rig(settings: Settings) -> AsyncIterator[Rig]:
    market = SteeredMarket()
    async with open_core(configured(settings), market=market) as core:
        yield Rig(core, market)


def chat(k: int) -> ChatContext:
    """User 1 in group chat k: one /open confirmation per chat, so many can wait to be pressed at once."""
    return ChatContext(platform="console", user_id="1", chat_id=f"-{100 + k}", chat_type="group",
                       username="user1", display_name="User 1")


def slipped(price: Decimal, buy: bool, decimals: int = 2) -> Decimal:
    factor = 1 + SLIP / 100 if buy else 1 - SLIP / 100
    return (price * factor).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_CEILING if buy else ROUND_FLOOR)


def fee_on(value: Decimal) -> Decimal:
    return (value * FEE / 100).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)


def qty(size: Decimal, price: Decimal) -> Decimal:
    return (size / price).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)


def signed_money(value: Decimal) -> str:
    return f"{'+' if value >= 0 else '−'}${abs(value):,.2f}"


async def cash_of(core: TipsterCore) -> Decimal:
    user = await core.storage.users.by_identity(ME.identity)
    return (await core.trading.repo.paper_account(user.id, Decimal(10000))).cash


async def open_now(core: TipsterCore, text: str, ctx: ChatContext = ME) -> str:
    confirm = (await core.handle_text(ctx, text))[0]
    return texts(await core.handle_button(ctx, button_data(confirm, "Confirm")))


# ---- races -------------------------------------------------------------------------------------------

def sequential_reference(presses: int, size: Decimal, price: Decimal, max_position_pct: float,
                         max_symbol_pct: float, max_daily: int) -> tuple[int, Decimal]:
    """A plain loop: what pressing the confirmations one after another gives (opened, cash left)."""
    cash, opened = Decimal(10000), 0
    quantity = qty(size, price)
    fill = slipped(price, buy=True)
    cost = quantity * fill + fee_on(quantity * fill)
    for _ in range(presses):
        held = opened * quantity * price  # every position valued at the current price
        equity = cash + held
        if (size / equity * 100 <= Decimal(str(max_position_pct))
                and (held + size) / equity * 100 <= Decimal(str(max_symbol_pct))
                and opened < max_daily and cost <= cash):
            cash -= cost
            opened += 1
    return opened, cash


@pytest.mark.parametrize(("presses", "size", "risk"), [
    (8, Decimal(500), {}),  # the symbol limit: 25 % of equity
    (12, Decimal(1000), {"max_position_pct": 100, "max_symbol_pct": 100}),  # the cash
    (25, Decimal(100), {"max_symbol_pct": 100}),  # the daily limit of 20
], ids=["eight-500-symbol-limit", "twelve-1000-cash", "twenty-five-100-daily-limit"])
async def test_concurrent_confirms_give_the_sequential_result(settings: Settings, presses: int, size: Decimal,
                                                             risk: dict[str, Any]):
    market = SteeredMarket()
    async with open_core(configured(settings, **risk), market=market) as core:
        r = core.settings.risk
        cards = [(await core.handle_text(chat(k), f"/open {BTC} long {size}"))[0] for k in range(presses)]
        assert all("Open this position?" in (c.title or "") for c in cards)  # each alone would pass
        replies = await asyncio.gather(*(core.handle_button(chat(k), button_data(c, "Confirm"))
                                         for k, c in enumerate(cards)))
        price = await market.last_price(BTC)
        expected_opened, expected_cash = sequential_reference(
            presses, size, price, r.max_position_pct, r.max_symbol_pct, r.max_daily_trades)
        opened = await core.trading.repo.with_status("open")
        cash = await cash_of(core)
        held = sum((p.quantity * price for p in opened), Decimal(0))
        figures = (f"opened {len(opened)} of {presses}, BTC exposure {held / (cash + held) * 100:.1f}% of equity, "
                   f"cash {cash:.2f}")
        assert len(opened) == expected_opened, figures
        assert cash == expected_cash, figures
        # The guarantees themselves, whatever the interleaving.
        assert cash >= 0 and held / (cash + held) * 100 <= Decimal(str(r.max_symbol_pct)), figures
        assert len(opened) <= r.max_daily_trades
        outcomes = [texts(reply) for reply in replies]
        assert sum(bool(re.search(r"Position #\d+ opened", o)) for o in outcomes) == expected_opened
        assert sum("Not opened: a risk check refused" in o for o in outcomes) == presses - expected_opened
        assert await core.storage.db.scalar("SELECT COUNT(*) FROM positions") == expected_opened


# ---- risk checks at current value --------------------------------------------------------------------

async def test_symbol_exposure_and_equity_use_current_prices(settings: Settings):
    market = SteeredMarket()
    async with open_core(configured(settings, max_position_pct=25), market=market) as core:
        assert "opened" in await open_now(core, f"/open {BTC} long 2000")
        [position] = await core.trading.repo.with_status("open")
        risen = (await market.last_price(BTC) * Decimal("1.2")).quantize(CENT)
        market.prices[BTC] = risen
        card = (await core.handle_text(ME, f"/open {BTC} long 300"))[0]
        value = position.quantity * risen
        equity = await cash_of(core) + value
        share = (value + 300) / equity * 100
        assert f"equity ${equity:,.2f}" in card.text
        assert (f"✖ symbol exposure: {BTC} exposure would be ${value + 300:,.2f}, {share:.1f}% of equity "
                f"(limit 25%)") in card.text, card.text
        assert "A risk check refuses" in (card.title or "")


async def test_cash_check_includes_slippage_and_fees(settings: Settings):
    s = configured(settings, max_position_pct=100, max_symbol_pct=100)
    s = s.model_copy(update={"paper": s.paper.model_copy(update={"starting_equity": 1000})})
    market = SteeredMarket()
    async with open_core(s, market=market) as core:
        price = await market.last_price(BTC)
        quantity = qty(Decimal(999), price)
        fill = slipped(price, buy=True)
        needs = quantity * fill + fee_on(quantity * fill)
        assert needs > 1000  # $999 at the slipped price plus its fee is more than the cash
        card = (await core.handle_text(ME, f"/open {BTC} long 999"))[0]
        assert (f"✖ cash: needs ${needs.quantize(CENT, rounding=ROUND_CEILING):,.2f} with slippage and fees, "
                "$1,000.00 available") in card.text, card.text
        assert not any("Confirm" in b.label for row in card.buttons for b in row)
        assert "opened" in await open_now(core, f"/open {BTC} long 998")
        user = await core.storage.users.by_identity(ME.identity)
        cash = (await core.trading.repo.paper_account(user.id, Decimal(1000))).cash
        quantity = qty(Decimal(998), price)
        assert cash == 1000 - quantity * fill - fee_on(quantity * fill) and cash >= 0


async def test_a_pending_entry_is_not_counted_in_equity(rig: Rig):
    core = rig.core
    core.trading.brokers["flaky"] = FlakyBroker()
    core.settings.brokers.default = "flaky"  # type: ignore[assignment]
    assert "pending" in await open_now(core, "/open ETH/USDT long 200")
    assert (await core.trading.repo.get(1)).status == "pending"
    listing = texts(await core.handle_text(ME, "/positions"))
    assert "Paper equity $10,000.00 · cash $10,000.00" in listing, listing
    # Its cash is held back from the next check though, and it counts in the symbol's exposure.
    card = (await core.handle_text(ME, "/open ETH/USDT long 300"))[0]
    assert "ETH/USDT exposure would be $500.00" in card.text, card.text
    assert "$9,799.70 available ($200.30 held for pending orders)" in card.text, card.text


# ---- the market's clock ------------------------------------------------------------------------------

async def test_positions_and_trades_use_the_market_clock(settings: Settings):
    market = SteeredMarket()
    async with open_core(configured(settings, max_daily_trades=1), market=market) as core:
        market_now = await market.as_of(BTC)
        assert market_now is not None and market_now.year == 2024
        assert "opened" in await open_now(core, f"/open {BTC} long 100")
        assert (await core.trading.repo.get(1)).opened_at == market_now
        ask = (await core.handle_text(ME, "/close 1"))[0]
        assert "Closed #1" in texts(await core.handle_button(ME, button_data(ask, "Close")))
        closed = await core.trading.repo.get(1)
        assert closed.closed_at == market_now
        assert f"{market_now:%Y-%m-%d %H:%M} UTC" in texts(await core.handle_text(ME, "/trades"))
        assert "Trades 1" in texts(await core.handle_text(ME, "/pnl today"))
        again = (await core.handle_text(ME, f"/open {BTC} long 100"))[0]
        assert "✖ daily trades: 1 trade(s) today (limit 1 a day)" in again.text
        # The next market day the limit starts over, however little wall time passed.
        market.advance(timedelta(days=1).total_seconds())
        next_day = (await core.handle_text(ME, f"/open {BTC} long 100"))[0]
        assert "✔ daily trades: 0 trade(s) today (limit 1 a day)" in next_day.text, next_day.text
        market.advance(timedelta(hours=1).total_seconds())  # /pnl today is the last 24 market hours
        assert "No closed positions (today)" in texts(await core.handle_text(ME, "/pnl today"))
        assert "Trades 1" in texts(await core.handle_text(ME, "/pnl 7d"))


async def test_daily_limit_counts_each_symbol_on_its_own_clock(settings: Settings):
    """Replay symbols have clocks of their own (AAPL is in 2016, BTC in 2024): a trade counts on the day of
    its symbol's clock, so BTC trades do not vanish from, or flood, an AAPL open's count."""
    market = SteeredMarket()
    async with open_core(configured(settings, max_daily_trades=2), market=market) as core:
        assert "opened" in await open_now(core, f"/open {BTC} long 100")
        card = (await core.handle_text(ME, "/open AAPL long 100"))[0]
        assert "✔ daily trades: 1 trade(s) today (limit 2 a day)" in card.text, card.text


# ---- the tick, the [Close] confirmation, a failed pending entry --------------------------------------

async def test_open_takes_the_tick_from_the_symbol(rig: Rig):
    rig.market.prices[BTC] = Decimal("100")  # a quote written without decimals; BTC/USDT ticks in cents
    assert "opened" in await open_now(rig.core, f"/open {BTC} long 500")
    position = await rig.core.trading.repo.get(1)
    assert position.entry_price == slipped(Decimal(100), buy=True) == Decimal("100.05")
    assert position.price_decimals == 2


async def test_close_confirmation_shows_live_price_and_estimated_net_pnl(rig: Rig):
    core = rig.core
    assert "opened" in await open_now(core, f"/open {BTC} long 500")
    position = await core.trading.repo.get(1)
    now = (position.entry_price * Decimal("1.1")).quantize(CENT)
    rig.market.prices[BTC] = now
    ask = (await core.handle_text(ME, "/close 1"))[0]
    exit_price = slipped(now, buy=False)
    exit_fee = fee_on(position.quantity * exit_price)
    net = position.quantity * (exit_price - position.entry_price) - position.entry_fee - exit_fee
    assert f"now {now:,.2f}" in ask.text, ask.text
    assert f"est. net PnL {signed_money(net)}" in ask.text, ask.text
    assert f"at ≈{exit_price:,.2f}" in ask.text, ask.text
    assert texts(await core.handle_button(ME, button_data(ask, "Close")))
    assert (await core.trading.repo.get(1)).pnl_abs.quantize(CENT) == net.quantize(CENT)


async def test_a_pending_entry_that_failed_after_a_crash_tells_its_owner(rig: Rig):
    core = rig.core
    broker = FlakyBroker()
    core.trading.brokers["flaky"] = broker
    core.settings.brokers.default = "flaky"  # type: ignore[assignment]
    assert "pending" in await open_now(core, "/open ETH/USDT long 200")
    broker.placed.clear()  # as after a crash: the order never reached the broker
    assert await core.trading.reconcile(datetime.now(UTC) + timedelta(minutes=5)) == 1
    assert (await core.trading.repo.get(1)).status == "failed"
    alerts = await AlertRepository(core.storage.db).for_chat("console", "1")
    [failed] = [a for a in alerts if a.kind == "entry_failed"]
    told = Reply.model_validate(failed.payload).plain()
    assert "#1" in told and "not opened" in told and "ETH/USDT" in told
    assert await core.trading.reconcile(datetime.now(UTC) + timedelta(minutes=6)) == 0  # told once
