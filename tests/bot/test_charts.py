"""/chart and the tip card's [📈 Chart] through the core (a console user), and the console printing where it saved
the PNG. Sizes are read from the PNG header; a tip's levels are compared with the stored tip."""

from __future__ import annotations

import json
import re
import struct
import threading
from pathlib import Path

import pytest

from bot.core.replies import Image, Reply
from bot.core.service import TipsterCore
from tests.bot.test_console import run_demo
from tests.conftest import user_ctx

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def button_data(reply: Reply, label: str) -> str:
    return next(b.data for row in reply.buttons for b in row if label in b.label)


async def test_chart_through_the_core_is_an_image_reply(core: TipsterCore) -> None:
    [reply] = await core.handle_text(user_ctx(), "/chart btc/usdt 4h")
    assert reply.image is not None
    width, height = png_size(reply.image.png)
    assert width >= 800 and height >= 600
    assert re.fullmatch(r"BTC-USDT-4h-\d{12}\.png", reply.image.filename)
    assert reply.title == "📈 BTC/USDT · 4h chart · DEMO"
    lines = reply.text.splitlines()
    assert re.fullmatch(r"120 bars, \d{4}-\d\d-\d\d \d\d:\d\d UTC → \d{4}-\d\d-\d\d \d\d:\d\d UTC", lines[0])
    assert "EMA 12/26" in lines[1] and "Bollinger 20/2" in lines[1] and "RSI 14" in lines[1] and "MACD" in lines[1]
    assert lines[-1] == ("Source: replay of Binance spot candles (2024) · DEMO: bundled historical data, "
                         "not live prices")
    assert reply.buttons == [] and not reply.edit


async def test_chart_timeframe_defaults_like_a_tip(core: TipsterCore) -> None:
    [btc] = await core.handle_text(user_ctx(), "/chart BTC/USDT")
    assert btc.title == "📈 BTC/USDT · 1h chart · DEMO"  # the default timeframe (config: 1h)
    [goog] = await core.handle_text(user_ctx(), "/chart GOOG")
    assert goog.title == "📈 GOOG · 1d chart · DEMO"
    assert "(GOOG has no 1h data, so 1d)" in goog.text.splitlines()[0]


@pytest.mark.parametrize(("command", "reason"), [
    ("/chart NOPE/USDT", "Unknown symbol NOPE/USDT. Available: AAPL, BTC/USDT, ETH/USDT"),
    ("/chart BTC/USDT 2h", "Unknown timeframe '2h'; use one of 15m, 1h, 4h, 1d."),
    ("/chart GOOG 1h", "GOOG has no 1h data; available: 1d."),
    ("/chart", "Give SYMBOL: the market, e.g. BTC/USDT or AAPL."),
    ("/chart <b>x</b>", "is not a market symbol"),
    ("/chart BTC/USDT 1h 4h", "Too many arguments"),
])
async def test_bad_input_is_one_line_and_the_usage(core: TipsterCore, command: str, reason: str) -> None:
    [reply] = await core.handle_text(user_ctx(), command)
    assert reply.image is None
    first, usage = reply.text.split("\n")
    assert reason in first
    assert usage == "Usage: /chart SYMBOL [TIMEFRAME]"


async def test_the_chart_button_draws_the_tips_levels_off_the_event_loop(
        core: TipsterCore, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.core.usecases.charts as charts

    calls: list[tuple[object, str]] = []
    real = charts.render_chart

    def spy(candles, levels=None):  # type: ignore[no-untyped-def]
        calls.append((levels, threading.current_thread().name))
        return real(candles, levels)

    monkeypatch.setattr(charts, "render_chart", spy)
    # Thresholds at the bottom make any score a BUY: a tip with a stop-loss and a take-profit.
    [card] = await core.handle_text(user_ctx(), "/signal ETH/USDT 1h buy=-0.99 sell=-1")
    assert [b.label for b in card.buttons[-1]] == ["📈 Chart"]  # trader: Open, Watch, News fill the second row
    [chart] = await core.handle_button(user_ctx(), button_data(card, "Chart"))
    tip = await core.storage.signals.get(1)
    assert tip is not None and tip.stop_loss is not None and tip.take_profit is not None
    [(levels, thread)] = calls
    assert (levels.entry, levels.stop_loss, levels.take_profit) == (tip.price, tip.stop_loss, tip.take_profit)
    assert thread != threading.main_thread().name  # rendered in a worker thread, not on the loop
    assert chart.notice == "Chart" and chart.image is not None and not chart.edit
    assert chart.image.filename.startswith("tip-1-ETH-USDT-1h-")
    assert f"Tip #1 🟢 BUY: entry {tip.price:,.2f} · SL {tip.stop_loss:,.2f} · TP {tip.take_profit:,.2f}" \
        in chart.text
    assert png_size(chart.image.png) == (1200, 900)
    # Another user's press on that card is refused without drawing anything.
    [refused] = await core.handle_button(user_ctx(2), button_data(card, "Chart"))
    assert "not yours" in (refused.notice or refused.text) and refused.image is None
    assert len(calls) == 1


async def test_a_dismissed_tip_offers_no_chart(core: TipsterCore) -> None:
    [card] = await core.handle_text(user_ctx(), "/signal BTC/USDT 1h")
    [dismissed] = await core.handle_button(user_ctx(), button_data(card, "Dismiss"))
    assert all("Chart" not in b.label for row in dismissed.buttons for b in row)


def test_an_image_survives_the_outbox_json() -> None:
    png = PNG_SIGNATURE + bytes(range(256))  # not UTF-8: JSON must carry it as base64
    reply = Reply(title="t", text="x", image=Image(png=png, filename="a-b_1.png"))
    payload = json.loads(json.dumps(reply.model_dump(mode="json")))
    assert isinstance(payload["image"]["png"], str)
    assert Reply.model_validate(payload).image == Image(png=png, filename="a-b_1.png")
    assert "png=" not in repr(reply.image)  # the bytes never flood a log line
    for bad in ("../x.png", "a b.png", "x.jpg", ""):
        with pytest.raises(ValueError):
            Image(png=png, filename=bad)


def test_the_console_prints_the_path_of_the_png_it_saved(tmp_path: Path) -> None:
    script = "\n".join([
        "/chart SOL/USDT 1h",
        "/signal ETH/USDT 1h buy=-0.99 sell=-1",
        "7",  # [📈 Chart]: Refresh History Dismiss / Open Watch News / Chart (as in the core test above)
        "/chart SOL/USDT 3h",
    ]) + "\n"
    result = run_demo(tmp_path, script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[7] 📈 Chart" in out
    saved = re.findall(r"^🖼 Chart saved: (.+\.png)$", out, flags=re.MULTILINE)
    assert len(saved) == 2, out
    for shown in saved:
        path = Path(shown)
        assert path.is_absolute() and path.parent == tmp_path / "charts"  # beside the --db file
        width, height = png_size(path.read_bytes())
        assert width >= 800 and height >= 600
    assert Path(saved[0]).name.startswith("SOL-USDT-1h-") and Path(saved[1]).name.startswith("tip-1-ETH-USDT-1h-")
    assert "📈 SOL/USDT · 1h chart · DEMO" in out
    assert re.search(r"Tip #1 🟢 BUY: entry [\d,.]+ · SL [\d,.]+ · TP [\d,.]+", out)
    assert "Unknown timeframe '3h'" in out and "Traceback" not in out + result.stderr
