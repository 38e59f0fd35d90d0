"""The tip card (SPEC §2 step 7): everything a trader needs to judge a tip, in a few dense lines."""

from __future__ import annotations

from bot.core import formatting as fmt
from engine.models import Recommendation, Signal

ICONS = {Recommendation.BUY: "🟢", Recommendation.SELL: "🔴", Recommendation.HOLD: "⚪"}
DISCLAIMER = "Not financial advice: tips are computed, not guaranteed. Trade at your own risk."


def tip_title(signal: Signal) -> str:
    demo = " · DEMO" if signal.demo else ""
    return f"{ICONS[signal.recommendation]} {signal.recommendation.value} {signal.symbol} · {signal.timeframe}{demo}"


def tip_card(signal: Signal, tz: str = "UTC") -> str:
    d = signal.price_decimals
    ind = signal.indicators
    p = signal.params
    lines = [f"Confidence {fmt.pct(signal.confidence)} · price {fmt.price(signal.price, d)}"]
    if signal.recommendation is not Recommendation.HOLD:
        lines.append(f"Stop-loss {fmt.price(signal.stop_loss, d)} · take-profit {fmt.price(signal.take_profit, d)}")
    else:
        lines.append("No stop-loss / take-profit: HOLD means stay out or keep what you have.")
    lines += [
        f"Scores: technical {fmt.score(signal.technical_score)} (RSI {fmt.score(signal.rsi_score)}, "
        f"MACD {fmt.score(signal.macd_score)}) · sentiment {fmt.score(signal.sentiment_score)} · "
        f"fused {fmt.score(signal.fused_score)}",
        f"RSI {ind.rsi:.1f} · MACD hist {ind.macd_hist:,.{d}f} · ATR {fmt.price(signal.atr, d)}",
        f"EMA12 {ind.ema_fast:,.{d}f} · EMA26 {ind.ema_slow:,.{d}f} · SMA20 {ind.sma_20:,.{d}f} · "
        f"SMA50 {ind.sma_50:,.{d}f}",
        f"Bollinger {ind.bb_lower:,.{d}f} – {ind.bb_upper:,.{d}f} · volume ×{ind.volume_ratio:.2f} of 20-bar mean",
        f"Reasoning: {signal.reasoning}",
        f"Applied: buy ≥ {p.buy_threshold:+.2f}, sell ≤ {p.sell_threshold:+.2f}; weights technical "
        f"{p.technical_weight:g} / sentiment {p.sentiment_weight:g}; MACD scale {p.macd_scale}",
    ]
    if signal.sentiment_available:
        lines.append(f"Sentiment: {signal.sentiment_model} over {signal.sentiment_texts} texts"
                     f"{' (bundled DEMO headlines)' if signal.demo else ''}")
    else:
        lines.append("Sentiment: unavailable, counted as 0.00")
    forming = " (forming)" if signal.extra.get("forming_bar") else ""
    demo = " · DEMO data, not live prices" if signal.demo else ""
    lines.append(f"Data: {signal.data_source} · bar {fmt.local_time(signal.bar_time, tz)}{forming}{demo}")
    status = "" if signal.status == "active" else f" · {signal.status}"
    ident = f"Tip #{signal.id}" if signal.id else "Tip"
    lines.append(f"{ident} · {fmt.local_time(signal.created_at, tz)}{status}")
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def tip_line(signal: Signal, tz: str = "UTC") -> str:
    """One line per tip, for lists."""
    demo = " DEMO" if signal.demo else ""
    return (f"#{signal.id} {ICONS[signal.recommendation]} {signal.recommendation.value} {signal.symbol} "
            f"{signal.timeframe} · {fmt.pct(signal.confidence)} · {fmt.price(signal.price, signal.price_decimals)}"
            f" · {fmt.local_time(signal.created_at, tz)} · {signal.status}{demo}")
