"""engine.charts: the PNG is a PNG of the promised size, each panel is there with its label and something drawn in
it, and a tip's levels are lines at their prices. Sizes are read from the file's own IHDR header and pixels from
the decoded image, not from matplotlib's idea of them."""

from __future__ import annotations

import io
import struct
import zlib
from decimal import Decimal

import numpy as np
import pytest

from engine.charts import (
    HEIGHT_PX,
    LEVEL_COLOURS,
    MIN_BARS,
    WIDTH_PX,
    ChartLevels,
    chart_figure,
    chart_title,
    render_chart,
)
from engine.market.replay import ReplayMarket
from engine.models import Candles

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def candles() -> Candles:
    import asyncio

    return asyncio.run(ReplayMarket(start=500, speed=0).fetch_ohlcv("BTC/USDT", "1h", 200))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG format puts first, right after the signature."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]  # the header chunk is intact
    return width, height


def pixels(figure) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The figure as an RGB array decoded from its PNG (row 0 at the top)."""
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).astype(int)


def near(area: np.ndarray, hex_colour: str, tolerance: int = 75) -> np.ndarray:
    """Which pixels show `hex_colour`, give or take antialiasing and the candles' 0.9 alpha over the background
    (the sum of the three channels' differences)."""
    colour = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.abs(area - colour).sum(axis=-1) < tolerance


def band(image: np.ndarray, ax) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The pixels inside one axes' box (figure fractions → pixel rows and columns, rows counted from the top)."""
    box = ax.get_position()
    height, width = image.shape[:2]
    top, bottom = int((1 - box.y1) * height) + 2, int((1 - box.y0) * height) - 2
    left, right = int(box.x0 * width) + 2, int(box.x1 * width) - 2
    return image[top:bottom, left:right]


def test_the_png_has_its_signature_and_at_least_800_by_600(candles: Candles) -> None:
    data = render_chart(candles)
    assert png_size(data) == (WIDTH_PX, HEIGHT_PX) == (1200, 900)
    assert data.endswith(b"IEND\xaeB`\x82")  # complete: the closing chunk with its CRC
    assert png_size(render_chart(candles, width_px=800, height_px=600)) == (800, 600)


def test_each_panel_is_labelled_and_drawn_on(candles: Candles) -> None:
    drawn = chart_figure(candles)
    try:
        panels = drawn.panels
        assert list(panels) == ["price", "volume", "rsi", "macd"]
        assert [ax.get_ylabel() for ax in panels.values()] == ["Price", "Volume", "RSI 14", "MACD 12/26/9"]
        # Stacked top to bottom, not overlapping.
        tops = [ax.get_position().y1 for ax in panels.values()]
        bottoms = [ax.get_position().y0 for ax in panels.values()]
        assert tops == sorted(tops, reverse=True)
        assert all(b >= t - 1e-9 for b, t in zip(bottoms[:-1], tops[1:], strict=True))
        assert drawn.figure.texts[0].get_text() == "BTC/USDT · 1h · " + candles.source + " · DEMO"
        legend = [t.get_text() for t in panels["price"].get_legend().get_texts()]
        assert legend == ["EMA 12", "EMA 26", "Bollinger 20/2"]
        image = pixels(drawn.figure)
        background = image[5, 5]
        for name, ax in panels.items():
            area = band(image, ax)
            inked = np.abs(area - background).sum(axis=2) > 60
            assert inked.mean() > 0.01, f"the {name} panel looks blank"
        # The RSI line's own colour is drawn in the RSI panel and nowhere else.
        for name, ax in panels.items():
            found = near(band(image, ax), "#CC79A7", 30).sum()
            assert (found > 50) if name == "rsi" else (found == 0), (name, found)
        # Up and down candles both show in the price panel (the replayed hours have both).
        price_band = band(image, panels["price"])
        for colour in ("#00B060", "#FE3032"):
            assert near(price_band, colour).sum() > 100
    finally:
        import matplotlib.pyplot as plt

        plt.close(drawn.figure)


def test_levels_are_lines_at_their_prices_even_far_from_the_candles(candles: Candles) -> None:
    last = Decimal(str(candles.close[-1]))
    high = float(candles.high[-120:].max())
    levels = ChartLevels(entry=last, stop_loss=last * Decimal("0.97"), take_profit=Decimal(str(round(high * 1.1))))
    drawn = chart_figure(candles, levels)
    try:
        price = drawn.panels["price"]
        low_limit, high_limit = price.get_ylim()
        assert low_limit < float(levels.stop_loss) and float(levels.take_profit) < high_limit  # nothing cut off
        image = pixels(drawn.figure)
        height = image.shape[0]
        box = price.get_position()
        left, right = int(box.x0 * image.shape[1]) + 2, int(box.x1 * image.shape[1]) - 2
        for name, value in (("entry", levels.entry), ("stop_loss", levels.stop_loss),
                            ("take_profit", levels.take_profit)):
            _, y = price.transData.transform((0, float(value)))
            row = height - round(float(y))
            rows = image[row - 2:row + 3, left:right]
            share = near(rows, LEVEL_COLOURS[name]).any(axis=0).mean()
            assert share > 0.3, f"{name} line not found at {value} ({share:.0%} of the width)"
        labels = [t.get_text() for t in price.get_legend().get_texts()]
        assert labels[3:] == [f"Entry {float(last):,.2f}", f"SL {float(levels.stop_loss):,.2f}",
                              f"TP {float(levels.take_profit):,.2f}"]
    finally:
        import matplotlib.pyplot as plt

        plt.close(drawn.figure)


def test_a_hold_tip_draws_only_its_entry(candles: Candles) -> None:
    drawn = chart_figure(candles, ChartLevels(entry=Decimal("58000")))
    try:
        gids = [line.get_gid() for line in drawn.panels["price"].get_lines() if line.get_gid()]
        assert gids == ["level:entry"]
    finally:
        import matplotlib.pyplot as plt

        plt.close(drawn.figure)


def test_title_says_demo_only_for_bundled_data(candles: Candles) -> None:
    live = candles.model_copy(update={"demo": False, "source": "Binance spot (ccxt)"})
    assert chart_title(live) == "BTC/USDT · 1h · Binance spot (ccxt)"
    assert chart_title(candles).endswith(" · DEMO")


def test_too_few_bars_are_refused(candles: Candles) -> None:
    short = candles.model_copy(update={name: getattr(candles, name)[:MIN_BARS - 1] for name in
                                       ("timestamps", "open", "high", "low", "close", "volume")})
    with pytest.raises(ValueError, match=f"at least {MIN_BARS} bars"):
        render_chart(short)


def test_matplotlib_draws_without_a_display(candles: Candles) -> None:
    render_chart(candles)
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"
