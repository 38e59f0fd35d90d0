"""The reports a trader expects (issue 11): /pnl with freqtrade's figures, /daily, /weekly, /monthly in the user's
timezone, /performance per symbol, paged with ‹ › buttons; and the tip card's RSI note.

A scripted paper history: closed positions written to storage with chosen net PnL and close times (one closed
through the real trading path), on a market whose clock a test sets. Every expected figure is computed by hand
in the comments beside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.app import open_core
from bot.core import cards
from bot.core.registry import registry
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.brokers.base import Side
from storage.db import to_db_time
from tests.bot.test_core_signals import button_data, texts
from tests.bot.test_formatting import make_signal
from tests.bot.test_positions_trust import SteeredMarket, configured
from tests.conftest import user_ctx

ME = user_ctx(1)
NOW = datetime(2024, 3, 12, 15, 0, tzinfo=UTC)  # 11:00 in New York (EDT since 2024-03-10 02:00 local)


class ClockedMarket(SteeredMarket):
    """The steerable replay whose market clock is `now` for every symbol."""

    def __init__(self) -> None:
        super().__init__()
        self.now = NOW

    async def as_of(self, symbol: str) -> datetime | None:
        return self.now


@pytest.fixture
async def rcore(settings: Settings) -> AsyncIterator[TipsterCore]:
    market = ClockedMarket()
    market.prices["BTC/USDT"] = Decimal("50000.00")
    async with open_core(configured(settings), market=market) as core:
        yield core


async def closed_position(core: TipsterCore, symbol: str, pnl: str, closed_at: datetime,
                          reason: str = "manual") -> None:
    """A closed paper position of user 1 with net PnL `pnl`, closed at `closed_at` (UTC)."""
    user = await core.ensure_user(ME)
    at = to_db_time(closed_at)
    await core.storage.db.execute(
        "INSERT INTO positions(user_id, platform, chat_id, symbol, side, broker, status, notional, quantity,"
        " entry_price, entry_fee, exit_price, exit_fee, exit_reason, pnl_abs, pnl_pct, created_at, opened_at,"
        " closed_at, updated_at) VALUES (?, 'console', '1', ?, 'long', 'paper', 'closed', '1000', '1', '1000',"
        " '0', '1000', '0', ?, ?, 0.0, ?, ?, ?, ?)",
        (user.id, symbol, reason, pnl, at, at, at, at))


def lines_of(reply: Reply) -> list[str]:
    return reply.text.splitlines()


def labels(reply: Reply) -> list[str]:
    return [b.label for row in reply.buttons for b in row]


# ---- /pnl ----------------------------------------------------------------------------------------------

# In close order (inserted out of order: the ids do not follow the closes).
HISTORY = [  # (close time, symbol, net PnL)
    (datetime(2024, 3, 1, 10, tzinfo=UTC), "BTC/USDT", "200"),
    (datetime(2024, 3, 2, 10, tzinfo=UTC), "ETH/USDT", "-100"),
    (datetime(2024, 3, 3, 10, tzinfo=UTC), "BTC/USDT", "-300"),
    (datetime(2024, 3, 4, 10, tzinfo=UTC), "AAPL", "500"),
    (datetime(2024, 3, 12, 10, tzinfo=UTC), "ETH/USDT", "-50"),
    (datetime(2024, 3, 12, 12, tzinfo=UTC), "SOL/USDT", "0"),
]


async def script_history(core: TipsterCore) -> None:
    for i in (3, 0, 5, 2, 4, 1):
        at, symbol, pnl = HISTORY[i]
        await closed_position(core, symbol, pnl, at)


async def test_pnl_gives_freqtrades_figures(rcore: TipsterCore) -> None:
    await script_history(rcore)
    reply = (await rcore.handle_text(ME, "/pnl"))[0]
    assert reply.title == "Performance (all)"
    lines = lines_of(reply)
    # 6 trades, 2 wins (200, 500); total 200 − 100 − 300 + 500 − 50 + 0 = 250; average 250 / 6 = 41.666…
    assert lines[0] == "Trades 6 · win rate 33% · total $250.00 · average $41.67"
    # 250 / 10,000 = 2.50 %
    assert lines[1] == "Profit: +$250.00 (+2.50% of $10,000.00 starting equity)"
    # gross profit 700 / gross loss 450 = 1.5555…
    assert lines[2] == "Profit factor: 1.56"
    # average win 350, average loss 150, win rate 2/6, loss rate 3/6: 350/3 − 150/2 = 41.666…;
    # ratio (1 + 350/150) × 1/3 − 1 = 10/9 − 1 = 0.111…
    assert lines[3] == "Expectancy: +$41.67 per trade (ratio +0.11)"
    # Curve 10,000 → 10,200 → 10,100 → 9,800 → 10,300 → 10,250 → 10,250: deepest fall 10,200 → 9,800 = 400,
    # 400 / 10,200 = 3.9215… % (in id order it would be 450 from 10,700; newest first 400 from 10,450).
    assert lines[4] == "Max drawdown: 3.92% ($400.00) from a peak of $10,200.00"
    # The lines /pnl showed before stay.
    assert lines[5].startswith("Best #1 AAPL $500.00 · worst #4 BTC/USDT −$300.00")
    assert "By symbol: AAPL 1 · $500.00, BTC/USDT 2 · −$100.00, ETH/USDT 2 · −$150.00, SOL/USDT 1 · $0.00" \
        in reply.text


async def test_pnl_keeps_its_periods(rcore: TipsterCore) -> None:
    await script_history(rcore)
    # The last 24 market hours (from 2024-03-11 15:00): −50 and 0 only.
    lines = lines_of((await rcore.handle_text(ME, "/pnl today"))[0])
    assert lines[0] == "Trades 2 · win rate 0% · total −$50.00 · average −$25.00"
    assert lines[1] == "Profit: −$50.00 (-0.50% of $10,000.00 starting equity)"  # −50 / 10,000
    assert lines[2] == "Profit factor: 0.00"  # no gross profit over a gross loss of 50
    # no win, one loss of 50 in 2 trades: 0 − 1/2 × 50 = −25; ratio (1 + 0/50) × 0 − 1 = −1
    assert lines[3] == "Expectancy: −$25.00 per trade (ratio -1.00)"
    assert lines[4] == "Max drawdown: 0.50% ($50.00) from a peak of $10,000.00"  # 10,000 → 9,950
    # 7 days back from 2024-03-12 15:00 reaches 2024-03-05 15:00: still the same two.
    assert "Trades 2 ·" in texts(await rcore.handle_text(ME, "/pnl 7d"))
    # 30 days: all six.
    assert "Trades 6 ·" in texts(await rcore.handle_text(ME, "/pnl 30d"))


async def test_profit_percent_is_of_what_the_paper_account_started_with(rcore: TipsterCore) -> None:
    """After a reset to a new starting equity, past trades stay in /pnl and its base is the new start."""
    await script_history(rcore)
    rcore.settings.paper.starting_equity = 20000
    ask = (await rcore.handle_text(ME, "/resetpaper"))[0]
    assert "reset" in texts(await rcore.handle_button(ME, button_data(ask, "Reset")))
    lines = lines_of((await rcore.handle_text(ME, "/pnl"))[0])
    assert lines[1] == "Profit: +$250.00 (+1.25% of $20,000.00 starting equity)"  # 250 / 20,000
    # 20,000 → 20,200 → 20,100 → 19,800: 400 / 20,200 = 1.980… %
    assert lines[4] == "Max drawdown: 1.98% ($400.00) from a peak of $20,200.00"


async def test_pnl_of_a_position_closed_through_trading(rcore: TipsterCore) -> None:
    core = rcore
    user = await core.ensure_user(ME)
    quote = await core.trading.quote(user, "BTC/USDT", Side.LONG, Decimal(1000), None, None, 2, None)
    opened = await core.trading.open(user, "console", "1", quote)
    core.services.market.prices["BTC/USDT"] = Decimal("51000.00")
    await core.trading.close(opened.position, "manual", announce=False)
    # As in test_positions_args: 0.02 BTC bought at 50,025.00 and sold at 50,974.50, 2.01999 of fees: +16.9700.
    lines = lines_of((await core.handle_text(ME, "/pnl"))[0])
    assert lines[0] == "Trades 1 · win rate 100% · total $16.97 · average $16.97"
    assert lines[1] == "Profit: +$16.97 (+0.17% of $10,000.00 starting equity)"  # 16.97 / 10,000 = 0.1697 %
    assert lines[2] == "Profit factor: ∞ (no losing trade)"
    assert lines[3] == "Expectancy: +$16.97 per trade"  # no loss: freqtrade's ratio has no value
    assert lines[4] == "Max drawdown: 0.00% ($0.00)"
    assert "No closed positions (all)." == texts(await core.handle_text(user_ctx(2), "/pnl"))


# ---- /daily, /weekly, /monthly -------------------------------------------------------------------------

NY = "America/New_York"
DATED = [  # (close time in UTC, net PnL): where each falls in New York
    (datetime(2024, 3, 9, 12, 0, tzinfo=UTC), "10"),   # Sat 03-09 07:00 EST
    (datetime(2024, 3, 10, 4, 30, tzinfo=UTC), "-4"),  # Sat 03-09 23:30 EST (UTC: already the 10th)
    (datetime(2024, 3, 10, 5, 30, tzinfo=UTC), "20"),  # Sun 03-10 00:30 EST
    (datetime(2024, 3, 11, 3, 30, tzinfo=UTC), "-6"),  # Sun 03-10 23:30 EDT (UTC: Monday, the next week)
    (datetime(2024, 3, 11, 4, 30, tzinfo=UTC), "30"),  # Mon 03-11 00:30 EDT (a fixed −5 h would say the 10th)
    (datetime(2024, 3, 12, 14, 0, tzinfo=UTC), "-8"),  # Tue 03-12 10:00 EDT
    (datetime(2024, 3, 1, 3, 0, tzinfo=UTC), "40"),    # Thu 02-29 22:00 EST (UTC: March)
    (datetime(2024, 1, 15, 12, 0, tzinfo=UTC), "-12"),  # January
    (datetime(2023, 9, 15, 12, 0, tzinfo=UTC), "1000"),  # September 2023: before six months back
]


async def dated_history(core: TipsterCore, tz: str = NY) -> None:
    for at, pnl in DATED:
        await closed_position(core, "BTC/USDT", pnl, at)
    assert "America/New_York" in texts(await core.handle_text(ME, f"/settings tz={tz}"))


async def test_daily_buckets_by_local_day_across_midnight_and_dst(rcore: TipsterCore) -> None:
    await dated_history(rcore)
    reply = (await rcore.handle_text(ME, "/daily"))[0]
    assert reply.title == "Daily PnL"
    assert lines_of(reply) == [
        "Last 7 days in America/New_York, newest first · 6 trades · +$42.00 in all",  # 10 − 4 + 20 − 6 + 30 − 8
        "2024-03-12 · −$8.00 · 1 trade · win rate 0%",
        "2024-03-11 · +$30.00 · 1 trade · win rate 100%",
        "2024-03-10 · +$14.00 · 2 trades · win rate 50%",  # 20 − 6
        "2024-03-09 · +$6.00 · 2 trades · win rate 50%",  # 10 − 4
        "2024-03-08 · $0.00 · 0 trades · win rate —",
        "2024-03-07 · $0.00 · 0 trades · win rate —",
        "2024-03-06 · $0.00 · 0 trades · win rate —",
    ]
    assert reply.buttons == []  # one page: nothing to turn
    # In UTC the same closes fall on other days: 03-11 has −6 and 30, 03-10 has −4 and 20.
    await rcore.handle_text(ME, "/settings tz=UTC")
    assert lines_of((await rcore.handle_text(ME, "/daily 3"))[0]) == [
        "Last 3 days in UTC, newest first · 5 trades · +$32.00 in all",
        "2024-03-12 · −$8.00 · 1 trade · win rate 0%",
        "2024-03-11 · +$24.00 · 2 trades · win rate 50%",
        "2024-03-10 · +$16.00 · 2 trades · win rate 50%",
    ]


async def test_weekly_weeks_start_on_local_monday(rcore: TipsterCore) -> None:
    await dated_history(rcore)
    reply = (await rcore.handle_text(ME, "/weekly"))[0]
    assert reply.title == "Weekly PnL"
    assert lines_of(reply) == [
        "Last 4 weeks in America/New_York, newest first · 7 trades · +$82.00 in all",
        "Week of 2024-03-11 · +$22.00 · 2 trades · win rate 50%",  # 30 − 8
        "Week of 2024-03-04 · +$20.00 · 4 trades · win rate 50%",  # 10 − 4 + 20 − 6 (Sunday 23:30 EDT included)
        "Week of 2024-02-26 · +$40.00 · 1 trade · win rate 100%",  # Thursday 02-29 evening
        "Week of 2024-02-19 · $0.00 · 0 trades · win rate —",
        "Weeks start on Monday.",
    ]


async def test_monthly_in_the_users_timezone(rcore: TipsterCore) -> None:
    await dated_history(rcore)
    reply = (await rcore.handle_text(ME, "/monthly"))[0]
    assert reply.title == "Monthly PnL"
    assert lines_of(reply) == [
        "Last 6 months in America/New_York, newest first · 8 trades · +$70.00 in all",  # 42 + 40 − 12
        "2024-03 · +$42.00 · 6 trades · win rate 50%",
        "2024-02 · +$40.00 · 1 trade · win rate 100%",  # 03-01 03:00 UTC is still February in New York
        "2024-01 · −$12.00 · 1 trade · win rate 0%",
        "2023-12 · $0.00 · 0 trades · win rate —",
        "2023-11 · $0.00 · 0 trades · win rate —",
        "2023-10 · $0.00 · 0 trades · win rate —",
    ]
    # Seven months back reaches September 2023 and its +1,000.
    assert "2023-09 · +$1,000.00 · 1 trade · win rate 100%" in texts(await rcore.handle_text(ME, "/monthly 7"))


async def test_long_period_tables_are_paged_with_buttons(rcore: TipsterCore) -> None:
    await dated_history(rcore)
    first = (await rcore.handle_text(ME, "/daily 12"))[0]
    # 12 days, 10 a page: 03-12 … 03-03, then 03-02 and 03-01.
    rows = [line for line in lines_of(first) if line.startswith("2024-")]
    assert [r[:10] for r in rows] == [f"2024-03-{d:02d}" for d in range(12, 2, -1)]
    assert lines_of(first)[-1] == "Page 1 of 2" and labels(first) == ["Older ›"]
    second = (await rcore.handle_button(ME, button_data(first, "Older")))[0]
    assert second.edit
    assert lines_of(second)[1:3] == ["2024-03-02 · $0.00 · 0 trades · win rate —",
                                     "2024-03-01 · $0.00 · 0 trades · win rate —"]
    assert lines_of(second)[-1] == "Page 2 of 2" and labels(second) == ["‹ Newer"]
    # The header counts all 12 days, whatever page shows: 6 trades, +$42.00.
    assert lines_of(second)[0] == "Last 12 days in America/New_York, newest first · 6 trades · +$42.00 in all"
    back = (await rcore.handle_button(ME, button_data(second, "Newer")))[0]
    assert back.text == first.text
    # Typed pages give the same; one past the end shows the last.
    assert (await rcore.handle_text(ME, "/daily 12 2"))[0].text == second.text
    assert (await rcore.handle_text(ME, "/daily 12 9"))[0].text == second.text
    # A button the bot never made for these bounds is refused, not obeyed.
    forged = rcore.button("x", "rep", "day", 366, 1).data
    assert texts(await rcore.handle_button(ME, forged)) == "This button is not valid."


# ---- /performance --------------------------------------------------------------------------------------

async def test_performance_per_symbol_sorted_by_total_and_paged(rcore: TipsterCore) -> None:
    at = datetime(2024, 3, 5, tzinfo=UTC)
    for pnl in ("100", "-40"):
        await closed_position(rcore, "BTC/USDT", pnl, at)
    for pnl in ("10", "20", "30"):
        await closed_position(rcore, "AAPL", pnl, at)
    await closed_position(rcore, "ETH/USDT", "-25", at)
    for n in range(1, 10):
        await closed_position(rcore, f"X{n}/USDT", str(n), at)
    first = (await rcore.handle_text(ME, "/performance"))[0]
    assert first.title == "Performance by symbol"
    # 12 symbols, 2 + 3 + 1 + 9 = 15 trades; 60 + 60 − 25 + (1 + … + 9 = 45) = 140.
    assert lines_of(first)[:4] == [
        "12 symbol(s) · 15 trades · +$140.00 in all, best total first",
        "AAPL · 3 trades · total +$60.00 · average +$20.00 · win rate 100%",  # ties with BTC: by symbol
        "BTC/USDT · 2 trades · total +$60.00 · average +$30.00 · win rate 50%",
        "X9/USDT · 1 trade · total +$9.00 · average +$9.00 · win rate 100%",
    ]
    assert lines_of(first)[10].startswith("X2/USDT · ") and lines_of(first)[-1] == "Page 1 of 2"
    assert labels(first) == ["Next ›"]
    second = (await rcore.handle_button(ME, button_data(first, "Next")))[0]
    assert lines_of(second)[1:] == [
        "X1/USDT · 1 trade · total +$1.00 · average +$1.00 · win rate 100%",
        "ETH/USDT · 1 trade · total −$25.00 · average −$25.00 · win rate 0%",
        "",
        "Page 2 of 2",
    ]
    assert labels(second) == ["‹ Prev"] and second.edit
    assert (await rcore.handle_text(ME, "/performance 2"))[0].text == second.text
    assert texts(await rcore.handle_text(user_ctx(2), "/performance")) == "No closed positions yet."


# ---- declarations and bad input ------------------------------------------------------------------------

def test_report_commands_declare_their_arguments() -> None:
    commands = registry.commands
    assert commands["daily"].usage == "/daily [DAYS] [PAGE]"
    assert commands["weekly"].usage == "/weekly [WEEKS] [PAGE]"
    assert commands["monthly"].usage == "/monthly [MONTHS] [PAGE]"
    assert commands["performance"].usage == "/performance [PAGE]"
    assert commands["pnl"].usage == "/pnl [today|7d|30d|all]"
    for name, noun, default, high in (("daily", "days", 7, 365), ("weekly", "weeks", 4, 104),
                                      ("monthly", "months", 6, 60)):
        count, page = commands[name].signature.args
        assert (count.name, count.option_type, count.option_range, count.default) == (noun, "integer", (1, high),
                                                                                     default)
        assert page.name == "page" and page.option_type == "integer"
    for name in ("pnl", "daily", "weekly", "monthly", "performance"):
        assert commands[name].private and commands[name].group == "Positions", name


@pytest.mark.parametrize(("command", "reason"), [
    ("/daily 0", "days must be between 1 and 365."),
    ("/daily 366", "days must be between 1 and 365."),
    ("/daily -1", "days must be between 1 and 365."),
    ("/daily week", "days must be a whole number, not 'week'."),
    ("/weekly 105", "weeks must be between 1 and 104."),
    ("/monthly 61", "months must be between 1 and 60."),
    ("/monthly 6 0", "Give a page number: a whole number from 1 to 100,000, not '0'."),
    ("/performance x", "Give a page number: a whole number from 1 to 100,000, not 'x'."),
    ("/daily 3 1 1", "Too many arguments ('1'); this command takes at most 2 (DAYS PAGE)."),
])
async def test_bad_report_input_is_one_line_and_the_usage(rcore: TipsterCore, command: str, reason: str) -> None:
    [reply] = await rcore.handle_text(ME, command)
    name = command.split()[0]
    assert lines_of(reply) == [reason, f"Usage: {registry.commands[name[1:]].usage}"]


async def test_slash_options_give_the_same_table(rcore: TipsterCore) -> None:
    await dated_history(rcore)
    typed = (await rcore.handle_text(ME, "/weekly 2"))[0]
    named = (await rcore.handle_command(ME, "weekly", {"weeks": "2"}))[0]
    assert named.text == typed.text and "Week of 2024-03-04" in named.text


# ---- the tip card's RSI note ---------------------------------------------------------------------------

@pytest.mark.parametrize(("rsi", "shown"), [
    (70.1, "RSI 70.1 (overbought) · "),
    (29.9, "RSI 29.9 (oversold) · "),
    (50.0, "RSI 50.0 · "),
    (70.0, "RSI 70.0 · "),  # above 70, not at it
    (30.0, "RSI 30.0 · "),
    (70.04, "RSI 70.0 · "),  # judged as shown: "70.0 (overbought)" would read wrong
    (99.96, "RSI 100.0 (overbought) · "),
    (0.0, "RSI 0.0 (oversold) · "),
])
def test_card_notes_overbought_and_oversold(rsi: float, shown: str) -> None:
    signal = make_signal(0.1)
    signal = signal.model_copy(update={"indicators": signal.indicators.model_copy(update={"rsi": rsi})})
    sections, _ = cards.tip_sections(signal)
    indicators = dict(sections)["Indicators"]
    assert indicators[0].startswith(shown), indicators[0]
    assert indicators[0] in cards.tip_card(signal)
