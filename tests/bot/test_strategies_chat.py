"""Strategies in chat: /signal strategy=NAME with the strategy's own key=values, the card naming it (and the
options contract, the grid's levels), refresh keeping it, /settings strategy= as the user's default, and the
same tip from Discord's named options as from typed text."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pytest

from bot.core.jobs.monitor import SignalMonitor
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from engine.models import Recommendation, Signal, SignalParams
from engine.signals import generate_signal
from engine.strategies import registry
from tests.conftest import user_ctx

ME = user_ctx(1)
CODES = {Recommendation.BUY: 1, Recommendation.SELL: -1, Recommendation.HOLD: 0}


async def say(core: TipsterCore, text: str) -> Reply:
    [reply] = await core.handle_text(ME, text)
    return reply


async def newest_tip(core: TipsterCore) -> Signal:
    [signal] = await core.storage.signals.for_user(1, 1, 0)
    return signal


def button_data(reply: Reply, label_part: str) -> str:
    found = [b.data for row in reply.buttons for b in row if label_part in b.label]
    assert found, [b.label for row in reply.buttons for b in row]
    return found[0]


@pytest.mark.parametrize("name", ["fused", "hyperrsi", "grid", "options"])
async def test_each_strategy_makes_the_tip_and_the_card_names_it(core: TipsterCore, name: str):
    reply = await say(core, f"/signal BTC/USDT 1h strategy={name}")
    signal = await newest_tip(core)
    assert signal.extra["strategy"] == name
    assert reply.title.endswith("BTC/USDT · 1h · DEMO")
    if name == "fused":
        assert "Strategy:" not in reply.text
    else:
        assert re.search(rf"^Strategy: {name} ", reply.text, re.M), reply.text
    if name in ("hyperrsi", "grid"):
        # Neither reads sentiment: the tip is the strategy's own reading of the newest bar of the same candles.
        candles = await core.services.market.fetch_ohlcv("BTC/USDT", "1h", core.settings.market.bars)
        assert candles.last_time == signal.bar_time
        strategy = registry.get(name)
        decisions = strategy.decide(candles, np.zeros(len(candles)), strategy.check_params({}))
        assert signal.fused_score == pytest.approx(float(decisions.score[-1]))
        assert CODES[signal.recommendation] == int(decisions.side[-1])


async def test_own_parameters_are_used_and_kept_by_refresh(core: TipsterCore):
    card = await say(core, "/signal BTC/USDT 1h strategy=hyperrsi rsi_length=10 rsi_oversold=25")
    first = await newest_tip(core)
    assert first.extra["strategy_params"]["rsi_length"] == 10
    assert first.extra["strategy_params"]["rsi_oversold"] == 25
    assert "Strategy: hyperrsi (" in card.text and "rsi_length=10" in card.text
    [refreshed] = await core.handle_button(ME, button_data(card, "Refresh"))
    again = await newest_tip(core)
    assert again.id != first.id
    assert again.extra["strategy"] == "hyperrsi"
    assert again.extra["strategy_params"] == first.extra["strategy_params"]
    assert "rsi_length=10" in refreshed.text


async def test_an_unknown_strategy_is_refused_with_the_list(core: TipsterCore):
    reply = await say(core, "/signal BTC/USDT 1h strategy=nope")
    assert "fused, hyperrsi, grid, options" in reply.text
    assert await core.storage.signals.count_for_user(1) == 0


@pytest.mark.parametrize(("text", "strategy", "own"), [
    ("/signal BTC/USDT 1h strategy=grid rsi_length=3", "grid", "grid_num"),
    ("/signal BTC/USDT 1h strategy=hyperrsi grid_num=5", "hyperrsi", "rsi_length"),
    ("/signal BTC/USDT 1h strategy=hyperrsi buy=0.2", "hyperrsi", "rsi_length"),
    ("/signal BTC/USDT 1h rsi_length=10", "fused", "macd_scale"),
])
async def test_another_strategys_key_is_one_line_naming_the_strategys_own(core: TipsterCore, text: str,
                                                                             strategy: str, own: str):
    reply = await say(core, text)
    first = reply.text.splitlines()[0]
    assert first.startswith(f"{strategy} has no parameter"), reply.text
    assert "its parameters:" in first and own in first
    assert await core.storage.signals.count_for_user(1) == 0


async def test_options_tip_shows_a_synthetic_contract_30_to_45_days_out_on_a_friday(core: TipsterCore):
    reply = await say(core, "/signal AAPL 1d strategy=options buy=-0.9 sell=-0.95")
    signal = await newest_tip(core)
    # The usual overrides apply: a fused score above -0.9 is a BUY, so a call is picked.
    assert signal.params.buy_threshold == -0.9 and signal.params.sell_threshold == -0.95
    assert signal.recommendation is Recommendation.BUY
    line = next(x for x in reply.text.splitlines() if x.startswith("Option: "))
    match = re.search(r"Option: AAPL (\d+(?:\.\d\d)?) call, expires (\d{4}-\d\d-\d\d) \((\d+) days\) · "
                      r"delta (0\.\d\d)", line)
    assert match, line
    strike, expiry, days, delta = float(match[1]), date.fromisoformat(match[2]), int(match[3]), float(match[4])
    assert line.endswith("SYNTHETIC")
    bar_day = signal.bar_time.date()
    assert expiry.weekday() == 4  # a Friday (no exchange holiday falls on these dates)
    assert (expiry - bar_day).days == days and 30 <= days <= 45
    assert 0.50 <= delta <= 0.70
    assert abs(strike - float(signal.price)) / float(signal.price) < 0.30
    # Stored with the tip, so a later view of it shows the same line.
    assert signal.extra["option"]["contract"]["expiry"] == expiry.isoformat()


async def test_options_on_crypto_says_why_there_is_no_contract(core: TipsterCore):
    reply = await say(core, "/signal BTC/USDT 1h strategy=options")
    line = next(x for x in reply.text.splitlines() if x.startswith("Option: "))
    assert "crypto" in line and "US stocks and ETFs only" in line


async def test_grid_tip_shows_its_level_table(core: TipsterCore):
    reply = await say(core, "/signal BTC/USDT 1h strategy=grid grid_num=4 grid_spacing=1")
    signal = await newest_tip(core)
    anchor = float(signal.extra["grid"]["anchor"])
    rows = re.findall(r"^(buy|sell) +([\d,.]+) · (filled|open)$", reply.text, re.M)  # prices as the card shows them
    # Four levels 1% apart around the anchor, two sells above and two buys below, highest first.
    assert [side for side, _, _ in rows] == ["sell", "sell", "buy", "buy"]
    expected = [anchor * (1 + k / 100) for k in (2, 1, -1, -2)]
    assert [float(price.replace(",", "")) for _, price, _ in rows] == pytest.approx(expected, abs=0.02)
    assert "Grid: 4 levels around" in reply.text


async def test_settings_strategy_is_the_default_of_a_plain_signal(core: TipsterCore):
    saved = await say(core, "/settings strategy=hyperrsi")
    assert "strategy = hyperrsi" in saved.text and "strategy = hyperrsi (default)" not in saved.text
    shown = await say(core, "/settings")
    assert "strategy = hyperrsi" in shown.text
    reply = await say(core, "/signal BTC/USDT 1h")
    assert (await newest_tip(core)).extra["strategy"] == "hyperrsi"
    assert "Strategy: hyperrsi" in reply.text
    # The request's own choice still wins.
    await say(core, "/signal BTC/USDT 1h strategy=fused")
    assert (await newest_tip(core)).extra["strategy"] == "fused"
    refused = await say(core, "/settings strategy=nope")
    assert "fused, hyperrsi, grid, options" in refused.text


def _without_tip_line(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("Tip #"))


async def test_named_options_give_the_typed_tip(core: TipsterCore):
    typed = await say(core, "/signal AAPL 1d strategy=options buy=-0.9 sell=-0.95 max_days=40")
    typed_tip = await newest_tip(core)
    [named] = await core.handle_command(ME, "signal", {"symbol": "AAPL", "timeframe": "1d", "strategy": "options",
                                                      "buy": "-0.9", "sell": "-0.95", "params": "max_days=40"})
    named_tip = await newest_tip(core)
    assert named_tip.id != typed_tip.id
    assert _without_tip_line(named.text) == _without_tip_line(typed.text)
    assert named_tip.extra["strategy_params"] == typed_tip.extra["strategy_params"]
    assert named_tip.extra["strategy_params"]["max_days"] == 40
    assert "Option: AAPL" in named.text



async def test_the_monitor_rereads_a_hyperrsi_tip_by_hyperrsi(still_core: TipsterCore):
    core = still_core
    services = core.services
    user, _ = await core.storage.users.register("console:7", "trader")
    candles = await services.market.fetch_ohlcv("BTC/USDT", "1h", core.settings.market.bars)
    hyperrsi = registry.get("hyperrsi")
    decisions = hyperrsi.decide(candles, np.zeros(len(candles)), hyperrsi.check_params({}))
    own_code, own_score = int(decisions.side[-1]), float(decisions.score[-1])
    by_code = {code: rec for rec, code in CODES.items()}
    # Thresholds under which the fused rule reads another side than hyperrsi does: the fast path would move
    # the first tip and leave the second; by its own strategy the first stays and the second moves.
    params = SignalParams(buy_threshold=1.0, sell_threshold=0.99) if own_code == 1 else \
        SignalParams(buy_threshold=-0.99, sell_threshold=-1.0)
    fused_reading = await generate_signal("BTC/USDT", "1h", params, services.market, services.sentiment)
    assert CODES[fused_reading.recommendation] != own_code
    made = await generate_signal("BTC/USDT", "1h", params, services.market, services.sentiment, strategy="hyperrsi",
                                 strategy_params={})
    assert made.extra["strategy"] == "hyperrsi" and CODES[made.recommendation] == own_code
    staying = await core.storage.signals.create(made, user.id, "console", "7", supersede=False)
    moving = await core.storage.signals.create(made.model_copy(update={"recommendation": fused_reading.recommendation}),
                                               user.id, "console", "7", supersede=False)
    fused_tip = await core.storage.signals.create(fused_reading.model_copy(update={
        "recommendation": by_code[own_code]}), user.id, "console", "7", supersede=False)

    result = await SignalMonitor(core).run_cycle()
    assert result.monitored == 3 and result.errors == 0
    assert (await core.storage.signals.get(staying.id)).recommendation is by_code[own_code]
    moved = await core.storage.signals.get(moving.id)
    assert moved.recommendation is by_code[own_code]
    assert moved.fused_score == pytest.approx(own_score)
    assert moved.extra["strategy"] == "hyperrsi"
    # The fused tip beside them still goes the fast way, to the fused reading.
    assert (await core.storage.signals.get(fused_tip.id)).recommendation is fused_reading.recommendation
    assert result.changed == 2
