"""Price charts as PNG images: candles with EMA 12/26 and Bollinger 20/2, then volume, RSI 14 and MACD 12/26/9
panels (mplfinance), optionally a tip's entry, stop-loss and take-profit levels.

The indicators are engine.indicators.compute_all's, computed over every bar given (so the warm-up lies before
the window shown) — the same values a tip is scored on, never a second implementation.

Rendering is CPU work of about a second on two cores: callers on an event loop run `render_chart` in a thread
(asyncio.to_thread). matplotlib's pyplot keeps global state that is not thread-safe, so one lock serialises the
renders. The Agg backend draws without a display.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.indicators import IndicatorSet, compute_all
from engine.models import Candles

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_PX = 1200
HEIGHT_PX = 900
DPI = 100
WINDOW_BARS = 120  # bars shown: enough to read a trend, few enough that each candle stays visible at 1200 px
MIN_BARS = 35  # MACD 12/26/9 needs 33 bars before its first value; fewer would leave its panel empty
PANELS = ("price", "volume", "rsi", "macd")
PANEL_LABELS = {"price": "Price", "volume": "Volume", "rsi": "RSI 14", "macd": "MACD 12/26/9"}
PANEL_RATIOS = (5, 1.4, 1.6, 1.6)
PADDING = {"left": 0.4, "right": 1.0, "top": 0.6, "bottom": 0.35}  # room for the right-hand labels and title

# Colours a colour-blind reader can still tell apart (the Okabe-Ito palette), one per line.
EMA_FAST, EMA_SLOW, BANDS = "#E69F00", "#0072B2", "#999999"
UP, DOWN = "#00B060", "#FE3032"  # the candles' own up and down colours (mplfinance's "yahoo" style)
BAR_WIDTH = 3.5  # points: a bar of volume or histogram per candle, with a gap at WINDOW_BARS across 1200 px
LEVEL_COLOURS = {"entry": "#000000", "stop_loss": "#D55E00", "take_profit": "#009E73"}
LEVEL_NAMES = {"entry": "Entry", "stop_loss": "SL", "take_profit": "TP"}

# pyplot's figure registry is global and not thread-safe: every render in this process (charts here, the
# backtest's equity curve) holds this lock while it has a pyplot figure open.
PYPLOT_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class ChartLevels:
    """A tip's levels to draw across the price panel (a HOLD tip may have no SL/TP)."""

    entry: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None

    def items(self) -> list[tuple[str, float]]:
        """(name, value) of the levels that are set, in the order entry, SL, TP."""
        named = (("entry", self.entry), ("stop_loss", self.stop_loss), ("take_profit", self.take_profit))
        return [(name, float(value)) for name, value in named if value is not None]


@dataclass(frozen=True)
class ChartFigure:
    """A drawn chart before it is encoded: the figure and its panels' primary axes by name (see PANELS)."""

    figure: Figure
    panels: dict[str, Axes]


def _pyplot() -> tuple[ModuleType, ModuleType]:
    """matplotlib's pyplot on the Agg backend and mplfinance, imported on first use: both take a while to import
    and only charts need them."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a server draws into memory
    import matplotlib.pyplot as plt
    import mplfinance as mpf

    return plt, mpf


def chart_title(candles: Candles) -> str:
    """Symbol, timeframe, data source, and DEMO when the candles are bundled."""
    demo = " · DEMO" if candles.demo else ""
    return f"{candles.symbol} · {candles.timeframe} · {candles.source}{demo}"


def _frame(candles: Candles, start: int) -> Any:
    import pandas as pd

    index = pd.DatetimeIndex(pd.to_datetime(candles.timestamps[start:], unit="s", utc=True)).tz_localize(None)
    return pd.DataFrame({
        "Open": candles.open[start:], "High": candles.high[start:], "Low": candles.low[start:],
        "Close": candles.close[start:], "Volume": candles.volume[start:],
    }, index=index)


def _price_limits(candles: Candles, ind: IndicatorSet, start: int, levels: ChartLevels | None
                  ) -> tuple[float, float]:
    """The price panel's range: the window's lows and highs, the Bollinger bands and every level, with a margin,
    so neither a band nor a target far from the price is cut off."""
    values = [float(np.nanmin(candles.low[start:])), float(np.nanmax(candles.high[start:]))]
    for band in (ind.bb_lower[start:], ind.bb_upper[start:]):
        if np.isfinite(band).any():
            values += [float(np.nanmin(band)), float(np.nanmax(band))]
    values += [value for _, value in (levels.items() if levels else [])]
    low, high = min(values), max(values)
    margin = (high - low) * 0.04 or abs(high) * 0.01 or 1.0
    return low - margin, high + margin


def _addplots(mpf: ModuleType, candles: Candles, ind: IndicatorSet, start: int) -> list[dict[str, Any]]:
    window = slice(start, None)
    volume = candles.volume[window]
    top = float(np.nanmax(volume)) if len(volume) and np.nanmax(volume) > 0 else 1.0
    return [
        mpf.make_addplot(ind.ema12[window], panel=0, secondary_y=False, color=EMA_FAST, width=1.2),
        mpf.make_addplot(ind.ema26[window], panel=0, secondary_y=False, color=EMA_SLOW, width=1.2),
        mpf.make_addplot(ind.bb_upper[window], panel=0, secondary_y=False, color=BANDS, width=0.8, linestyle="--"),
        mpf.make_addplot(ind.bb_middle[window], panel=0, secondary_y=False, color=BANDS, width=0.6, linestyle=":"),
        mpf.make_addplot(ind.bb_lower[window], panel=0, secondary_y=False, color=BANDS, width=0.8, linestyle="--"),
        # The volume panel is made by an invisible line; its bars are drawn in _bars (see there).
        mpf.make_addplot(volume, panel=1, secondary_y=False, color="none", width=0, ylim=(0, top * 1.1),
                         ylabel=PANEL_LABELS["volume"]),
        mpf.make_addplot(ind.rsi14[window], panel=2, secondary_y=False, color="#CC79A7", width=1.1, ylim=(0, 100),
                         ylabel=PANEL_LABELS["rsi"]),
        mpf.make_addplot(ind.macd[window], panel=3, secondary_y=False, color=EMA_SLOW, width=1.1,
                         ylabel=PANEL_LABELS["macd"]),
        mpf.make_addplot(ind.macd_signal[window], panel=3, secondary_y=False, color=EMA_FAST, width=1.0),
    ]


def _bars(panels: dict[str, Axes], candles: Candles, ind: IndicatorSet, start: int) -> None:
    """Volume and the MACD histogram as one line collection each: matplotlib's bar() adds a patch per bar, about
    twenty times slower for the same picture."""
    x = np.arange(len(candles) - start)
    up = candles.close[start:] >= candles.open[start:]
    panels["volume"].vlines(x, 0, candles.volume[start:], colors=np.where(up, UP, DOWN), linewidth=BAR_WIDTH,
                            alpha=0.7)
    hist = np.nan_to_num(ind.macd_hist[start:])
    panels["macd"].vlines(x, 0, hist, colors=np.where(hist >= 0, UP, DOWN), linewidth=BAR_WIDTH, alpha=0.6)


def chart_figure(candles: Candles, levels: ChartLevels | None = None, *, window: int = WINDOW_BARS,
                 width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> ChartFigure:
    """Draw the chart of the last `window` bars (indicators computed over all of `candles`). The caller closes
    the figure and holds the render lock when other threads draw too (`render_chart` does both); CPU work, so
    never on an event loop."""
    if len(candles) < MIN_BARS:
        raise ValueError(f"a chart needs at least {MIN_BARS} bars, got {len(candles)}")
    if window < 2:
        raise ValueError(f"window must be at least 2 bars, got {window}")
    _, mpf = _pyplot()
    ind = compute_all(candles)
    start = max(0, len(candles) - window)
    style = mpf.make_mpf_style(base_mpf_style="yahoo", gridstyle=":", rc={"font.size": 9})
    fig, axes = mpf.plot(
        _frame(candles, start), type="candle", style=style, addplot=_addplots(mpf, candles, ind, start),
        panel_ratios=PANEL_RATIOS, ylabel=PANEL_LABELS["price"], ylim=_price_limits(candles, ind, start, levels),
        figsize=(width_px / DPI, height_px / DPI), returnfig=True, tight_layout=False, scale_padding=PADDING,
        datetime_format="%m-%d %H:%M" if candles.timeframe != "1d" else "%Y-%m-%d", xrotation=0,
        warn_too_much_data=10 * window,
    )
    # mplfinance returns each panel's primary axes followed by its secondary (twin) axes.
    panels = {name: axes[2 * i] for i, name in enumerate(PANELS)}
    fig.suptitle(chart_title(candles), fontsize=12, fontweight="bold", y=0.985)
    _bars(panels, candles, ind, start)
    _decorate(panels, levels, candles.price_decimals)
    return ChartFigure(fig, panels)


def _decorate(panels: dict[str, Axes], levels: ChartLevels | None, decimals: int) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter

    price = panels["price"]
    handles = [Line2D([], [], color=EMA_FAST, label="EMA 12"), Line2D([], [], color=EMA_SLOW, label="EMA 26"),
               Line2D([], [], color=BANDS, linestyle="--", label="Bollinger 20/2")]
    for name, value in levels.items() if levels else []:
        colour, style = LEVEL_COLOURS[name], "-." if name == "entry" else "--"
        label = f"{LEVEL_NAMES[name]} {value:,.{decimals}f}"
        price.axhline(value, color=colour, linestyle=style, linewidth=1.3, label=label, gid=f"level:{name}")
        # Inside the panel, just above its line at the right end: the price ticks own the space beside it.
        price.annotate(label, xy=(1.0, value), xycoords=("axes fraction", "data"), xytext=(-4, 2),
                       textcoords="offset points", ha="right", va="bottom", fontsize=8, color=colour,
                       bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.7})
        handles.append(Line2D([], [], color=colour, linestyle=style, label=label))
    price.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.8)
    rsi = panels["rsi"]
    for bound in (70, 30):  # the overbought and oversold lines a trader reads RSI against
        rsi.axhline(bound, color=BANDS, linestyle=":", linewidth=0.8)
    # Only the levels RSI is read against: ticks at 0 and 100 would sit on the neighbouring panels' edges.
    rsi.set_yticks([30, 50, 70])
    panels["volume"].yaxis.set_major_formatter(EngFormatter(sep=""))  # 1.2M, not 1200000
    panels["macd"].axhline(0, color=BANDS, linewidth=0.6)


def render_chart(candles: Candles, levels: ChartLevels | None = None, *, window: int = WINDOW_BARS,
                 width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> bytes:
    """The chart as PNG bytes of exactly `width_px` × `height_px` pixels. Blocking: run it in a thread."""
    with PYPLOT_LOCK:
        plt, _ = _pyplot()
        drawn = chart_figure(candles, levels, window=window, width_px=width_px, height_px=height_px)
        try:
            buffer = io.BytesIO()
            # No bbox_inches="tight": that would crop the figure to another size than the one asked for.
            drawn.figure.savefig(buffer, format="png", dpi=DPI)
            return buffer.getvalue()
        finally:
            plt.close(drawn.figure)
