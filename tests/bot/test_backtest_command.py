"""/backtest in chat: each figure on its own named line, the period never past the replay clock, buy & hold
from the candles themselves, strategies chosen by name with their own parameters, bad input in one line,
and the same report from typed text and from Discord's named options."""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime

import pytest

from bot.core.replies import Reply
from bot.core.service import TipsterCore
from tests.conftest import user_ctx

ME = user_ctx(1)
FIGURES = [r"Hit rate: \d+%", r"Win rate: \d+%", r"Max drawdown: \d+\.\d\d%", r"Profit factor: (\d+\.\d\d|∞)",
           r"Buy & hold: [+-]\d+\.\d\d%", r"Total return: [+-]\d+\.\d\d%", r"Expectancy: [+-]\d+\.\d\d% per trade",
           r"random entries: hit rate (\d+%|n/a), total [+-]\d+\.\d\d%", r"Chance: .*\(seed \d+\)\."]


async def report(core: TipsterCore, text: str) -> Reply:
    [reply] = await core.handle_text(ME, text)
    return reply


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


async def test_the_report_names_every_figure_and_stops_at_the_replay_clock(core: TipsterCore):
    reply = await report(core, "/backtest BTC/USDT 1h")
    assert reply.title == "🧪 Backtest BTC/USDT · 1h · DEMO"
    for figure in FIGURES:
        assert re.search(figure, reply.text, re.M), (figure, reply.text)
    start, end = re.search(r"Period: (\d{4}-\d\d-\d\d) → (\d{4}-\d\d-\d\d)", reply.text).groups()
    clock = await core.services.market.as_of("BTC/USDT")
    assert datetime.fromisoformat(end).date() <= clock.astimezone(UTC).date()
    # Buy & hold from the candles: the first tested bar's close to the last one's.
    candles = await core.services.market.fetch_ohlcv("BTC/USDT", "1h", 100_000)
    days = [datetime.fromtimestamp(int(t), UTC).date().isoformat() for t in candles.timestamps]
    assert start in days and end in days
    assert reply.image is not None and png_size(reply.image.png) >= (800, 600)


async def test_buy_and_hold_matches_the_closes_of_the_stated_period(core: TipsterCore):
    reply = await report(core, "/backtest BTC/USDT 1h 30d")
    candles = await core.services.market.fetch_ohlcv("BTC/USDT", "1h", 100_000)
    last = len(candles) - (2 if candles.forming else 1)
    first = next(i for i, t in enumerate(candles.timestamps) if t >= candles.timestamps[last] - 30 * 86_400)
    expected = candles.close[last] / candles.close[first] - 1
    shown = float(re.search(r"Buy & hold: ([+-]\d+\.\d\d)%", reply.text).group(1))
    assert shown == pytest.approx(expected * 100, abs=0.005)
    assert re.search(r"\((\d[\d,]*) bars", reply.text).group(1).replace(",", "") == str(last - first + 1)


async def test_a_period_without_timeframe_and_another_strategy_with_its_own_parameters(core: TipsterCore):
    reply = await report(core, "/backtest BTC/USDT 90d strategy=hyperrsi rsi_length=10")
    assert "Strategy: hyperrsi" in reply.text and "rsi_length=10" in reply.text
    assert "Sentiment: not read" in reply.text
    fused = await report(core, "/backtest BTC/USDT 90d")
    assert "Strategy: fused" in fused.text and "Sentiment: offline over" in fused.text


@pytest.mark.parametrize(("text", "expected"), [
    ("/backtest", "Give SYMBOL"),
    ("/backtest BTC/USDT strategy=nope", "strategy must be one of fused, hyperrsi, grid, options, not 'nope'."),
    ("/backtest BTC/USDT 1h buy_threshold=0.3", "fused has no parameter 'buy_threshold'"),
    ("/backtest BTC/USDT 1h strategy=grid rsi_length=3", "grid has no parameter 'rsi_length'"),
    ("/backtest BTC/USDT 1h 0d", "PERIOD must be a number of days like 90d"),
    ("/backtest BTC/USDT 1h 99999d", "PERIOD must be a number of days like 90d"),
    ("/backtest BTC/USDT 7m", "Unknown timeframe '7m'"),
    ("/backtest NOPE/USDT", "NOPE/USDT"),
    ("/backtest BTC/USDT 1h strategy=hyperrsi rsi_length=1e9", "rsi_length"),
    ("/backtest BTC/USDT 1h x=", "is not a parameter"),
])
async def test_bad_input_is_one_line_and_the_usage(core: TipsterCore, text: str, expected: str):
    [reply] = await core.handle_text(ME, text)
    first, *rest = reply.text.split("\n")
    assert expected in first, reply.text
    assert rest == [] or rest[0].startswith("Usage: /backtest SYMBOL [TIMEFRAME] [PERIOD] [strategy=NAME]")


async def test_named_options_give_the_typed_report(core: TipsterCore):
    typed = await report(core, "/backtest BTC/USDT 1h 60d strategy=hyperrsi rsi_length=12")
    [named] = await core.handle_command(ME, "backtest", {"symbol": "BTC/USDT", "timeframe": "1h", "period": "60d",
                                                          "strategy": "hyperrsi", "params": "rsi_length=12"})
    assert named.text == typed.text
