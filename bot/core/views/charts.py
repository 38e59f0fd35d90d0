"""A chart reply: the PNG as its image, and a caption saying what is drawn, over which bars, from which source."""

from __future__ import annotations

import re

from bot.core import cards
from bot.core import formatting as fmt
from bot.core.kernel import Core
from bot.core.replies import Image, Reply
from bot.core.usecases.charts import Chart
from storage.models import User

DRAWN = "Candles, EMA 12/26, Bollinger 20/2 · volume · RSI 14 (30/70 lines) · MACD 12/26/9"


def chart_filename(chart: Chart) -> str:
    """`BTC-USDT-1h-202408151300.png` (`tip-12-…` for a tip's): safe on every platform, and a new name per bar."""
    market = re.sub(r"[^A-Za-z0-9]+", "-", chart.symbol).strip("-") or "chart"
    prefix = f"tip-{chart.tip.id}-" if chart.tip is not None and chart.tip.id is not None else ""
    return f"{prefix}{market}-{chart.timeframe}-{chart.last_bar:%Y%m%d%H%M}.png"


def chart_reply(core: Core, chart: Chart, user: User) -> Reply:
    tz = core.user_tz(user)
    d = chart.price_decimals
    demo = " · DEMO" if chart.demo else ""
    lines = [f"{chart.bars} bars, {fmt.local_time(chart.first_bar, tz)} → {fmt.local_time(chart.last_bar, tz)}"
             f"{chart.note}", DRAWN]
    tip = chart.tip
    if tip is not None:
        levels = f"entry {fmt.price(tip.price, d)}"
        if tip.stop_loss is not None or tip.take_profit is not None:
            levels += f" · SL {fmt.price(tip.stop_loss, d)} · TP {fmt.price(tip.take_profit, d)}"
        lines.append(f"Tip #{tip.id} {cards.ICONS[tip.recommendation]} {tip.recommendation.value}: {levels}")
    lines.append(f"Source: {chart.source}" + (" · DEMO: bundled historical data, not live prices" if chart.demo
                                               else ""))
    return Reply(title=f"📈 {chart.symbol} · {chart.timeframe} chart{demo}", text="\n".join(lines),
                 image=Image(png=chart.png, filename=chart_filename(chart)))
