"""The /market overview: one line per symbol, then the data source (and the DEMO label on bundled data)."""

from __future__ import annotations

from bot.core import cards
from bot.core import formatting as fmt
from bot.core.replies import Reply
from bot.core.usecases.market_overview import MarketOverview, MarketRow


def row_line(row: MarketRow, tz: str) -> str:
    if row.error:
        return f"{row.symbol}: {row.error}"
    change = "24h —" if row.change_24h is None else f"24h {row.change_24h * 100:+.2f}%"
    rsi = "RSI —" if row.rsi is None else f"RSI {row.rsi:.1f}"
    tip = "no tip yet"
    if row.last_tip is not None:
        t = row.last_tip
        tip = f"last tip #{t.id} {cards.ICONS[t.recommendation]} {t.recommendation.value} {t.timeframe} " \
              f"{fmt.local_time(t.created_at, tz)}"
    return f"{row.symbol} {fmt.price(row.price, row.decimals)} · {change} · {rsi} ({row.timeframe}) · {tip}"


def market_reply(overview: MarketOverview, tz: str) -> Reply:
    demo = overview.demo
    lines = [row_line(r, tz) for r in overview.rows]
    lines.append("")
    lines.append(f"Source: {overview.source}" + (" · DEMO: bundled historical data, not live prices" if demo else ""))
    lines.append("/signal SYMBOL for a full tip.")
    return Reply(title="Market overview" + (" · DEMO" if demo else ""), text="\n".join(lines))
