"""The tip card (SPEC §2 step 7): everything a trader needs to judge a tip, in a few dense lines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from bot.core import formatting as fmt
from engine.market.base import age_text
from engine.models import Recommendation, Signal
from engine.options.chain import Selection, contract_line
from engine.strategies import registry
from engine.strategies.base import Strategy

ICONS = {Recommendation.BUY: "🟢", Recommendation.SELL: "🔴", Recommendation.HOLD: "⚪"}
DISCLAIMER = "Not financial advice: tips are computed, not guaranteed. Trade at your own risk."


def tip_title(signal: Signal) -> str:
    demo = " · DEMO" if signal.demo else ""
    return f"{ICONS[signal.recommendation]} {signal.recommendation.value} {signal.symbol} · {signal.timeframe}{demo}"


TONES = {Recommendation.BUY: "buy", Recommendation.SELL: "sell", Recommendation.HOLD: "hold"}


def tip_card(signal: Signal, tz: str = "UTC") -> str:
    sections, footer = tip_sections(signal, tz)
    return "\n".join([line for _, lines in sections for line in lines] + footer)


def tip_sections(signal: Signal, tz: str = "UTC") -> tuple[list[tuple[str, list[str]]], list[str]]:
    """The card as named sections (Discord shows them as embed fields) and a footer; `tip_card` is their lines
    in order, so every platform shows the same numbers."""
    d = signal.price_decimals
    ind = signal.indicators
    p = signal.params
    # The fused score and the thresholds it was compared with, at the decimals that show which side it is on.
    k = fmt.decisive_decimals(signal.fused_score, p.buy_threshold, p.sell_threshold)
    levels = [f"Confidence {fmt.pct(signal.confidence)} · price {fmt.price(signal.price, d)}"]
    if signal.recommendation is not Recommendation.HOLD:
        levels.append(f"Stop-loss {fmt.price(signal.stop_loss, d)} · take-profit {fmt.price(signal.take_profit, d)}")
    else:
        levels.append("No stop-loss / take-profit: HOLD means stay out or keep what you have.")
    scores = [
        f"Scores: technical {fmt.score(signal.technical_score)} (RSI {fmt.score(signal.rsi_score)}, "
        f"MACD {fmt.score(signal.macd_score)}) · sentiment {fmt.score(signal.sentiment_score)} · "
        f"fused {fmt.score(signal.fused_score, k)}",
    ]
    indicators = [
        f"RSI {ind.rsi:.1f}{rsi_note(ind.rsi)} · MACD hist {ind.macd_hist:,.{d}f} · ATR {fmt.price(signal.atr, d)}",
        f"EMA12 {ind.ema_fast:,.{d}f} · EMA26 {ind.ema_slow:,.{d}f} · SMA20 {ind.sma_20:,.{d}f} · "
        f"SMA50 {ind.sma_50:,.{d}f}",
        f"Bollinger {ind.bb_lower:,.{d}f} – {ind.bb_upper:,.{d}f} · volume ×{ind.volume_ratio:.2f} of 20-bar mean",
    ]
    reasoning = [
        f"Reasoning: {signal.reasoning}",
        f"Applied: buy ≥ {fmt.score(p.buy_threshold, k)}, sell ≤ {fmt.score(p.sell_threshold, k)}; weights technical "
        f"{p.technical_weight:g} / sentiment {p.sentiment_weight:g}; MACD scale {p.macd_scale}",
    ]
    if not builds_on_fused(signal):
        reasoning.pop()  # the thresholds and weights are fused's; this strategy decided by its own keys
    status = "" if signal.status == "active" else f" · {signal.status}"
    ident = f"Tip #{signal.id}" if signal.id else "Tip"
    footer = [f"{ident} · {fmt.local_time(signal.created_at, tz)}{status}", DISCLAIMER]
    sections = [("Levels", levels), ("Scores", scores), ("Indicators", indicators), ("Reasoning", reasoning),
                ("Sentiment", [sentiment_line(signal)]), ("Data", data_lines(signal, tz))]
    strategy = strategy_lines(signal)
    if strategy:
        sections.insert(1, ("Strategy", strategy))
    return sections, footer


_FUSED_KEYS = ("buy", "sell", "tw", "sw", "macd_scale", "sl_atr", "tp_atr")


def _strategy(name: str) -> Strategy | None:
    try:
        return registry.get(name)
    except ValueError:  # a strategy no longer available: the card still shows the tip
        return None


def builds_on_fused(signal: Signal) -> bool:
    name = str(signal.extra.get("strategy") or "fused")
    return name == "fused" or getattr(_strategy(name), "extends", None) == "fused"


def strategy_lines(signal: Signal) -> list[str]:
    """A tip made by another strategy than fused names it with its parameters, and shows what it adds: the
    options strategy's contract (or why there is none), the grid's levels."""
    name = str(signal.extra.get("strategy") or "fused")
    if name == "fused":
        return []
    given = signal.extra.get("strategy_params") or {}
    defaults = getattr(_strategy(name), "defaults", {})
    # Only what differs from the strategy's defaults: fused's thresholds are on the "Applied" line already.
    shown = " ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in given.items() if defaults.get(key) != value and key not in _FUSED_KEYS)
    lines = [f"Strategy: {name}" + (f" ({shown})" if shown else " (its defaults)")]
    option = signal.extra.get("option")
    if isinstance(option, dict):
        lines.append(contract_line(Selection.model_validate(option)))
    grid = signal.extra.get("grid")
    if isinstance(grid, dict):
        levels = grid.get("levels") or []
        filled = sum(bool(level.get("filled")) for level in levels)
        d = signal.price_decimals
        anchor = fmt.price(Decimal(str(grid.get("anchor"))), d)
        lines.append(f"Grid: {len(levels)} levels around {anchor}, {grid.get('spacing'):g}% apart, {filled} filled")
        lines += [f"{level['side']:<4} {fmt.price(Decimal(str(level['price'])), d)} · "
                  f"{'filled' if level.get('filled') else 'open'}" for level in levels]
    return lines


def rsi_note(rsi: float) -> str:
    """What follows the RSI on the card: overbought above 70, oversold below 30, judged on the value as shown
    (one decimal). The default technical score reads a high RSI as bullish momentum; the note keeps the usual
    reading beside it."""
    shown = round(rsi, 1)
    return " (overbought)" if shown > 70 else " (oversold)" if shown < 30 else ""


def sentiment_line(signal: Signal) -> str:
    """How many texts were scored, from where, and the newest one's age; or why there was no sentiment."""
    window = f"{signal.sentiment_window_hours:g} h"
    before = "before the bar" if signal.demo else "before now"
    failed = f" ({'; '.join(signal.sentiment_unavailable)} unavailable)" if signal.sentiment_unavailable else ""
    if not signal.sentiment_available:
        reason = signal.extra.get("sentiment_error") or "no source answered"
        return f"Sentiment: unavailable ({reason}), counted as 0.00"
    if signal.sentiment_texts == 0:
        return f"Sentiment: no news in the {window} {before}, counted as 0.00{failed}"
    age = ""
    if signal.sentiment_newest is not None and signal.sentiment_as_of is not None:
        age = f" · newest {age_text(signal.sentiment_as_of - signal.sentiment_newest)} old"
    sources = ", ".join(signal.sentiment_sources) or "news"
    only = ""
    if signal.sentiment_unavailable:
        kinds = {item.kind for item in signal.news}
        only = " · from RSS alone" if kinds == {"news"} else ""
    texts = "1 text" if signal.sentiment_texts == 1 else f"{signal.sentiment_texts} texts"
    return (f"Sentiment: {signal.sentiment_model} over {texts} from {sources}"
            f"{age}{only}{failed}")


def data_lines(signal: Signal, tz: str) -> list[str]:
    """Where the prices come from and which bar the indicators used (live: the last closed one)."""
    forming = " (forming)" if signal.extra.get("forming_bar") else ""
    if signal.demo:
        return [f"Data: {signal.data_source} · bar {fmt.local_time(signal.bar_time, tz)}{forming}"
                " · DEMO data, not live prices"]
    end = ""
    if signal.bar_seconds:
        end = f" – {fmt.clock(signal.bar_time + timedelta(seconds=signal.bar_seconds), tz)}"
    bar = f"last closed bar {fmt.local_time(signal.bar_time, tz)}{end}"
    close = f" (close {fmt.price(signal.bar_close, signal.price_decimals)})" if signal.bar_close is not None else ""
    lines = [f"Data: {signal.data_source} · {bar}{close}"]
    if signal.session_note:
        lines.append(signal.session_note)
    return lines


NEWS_TEXT_LEN = 160  # a headline longer than this is cut: the list must stay one message


def news_list(signal: Signal, tz: str = "UTC") -> str:
    """Every scored text, newest first: score, age at the tip's time, source, headline."""
    if not signal.news:
        return sentiment_line(signal)
    lines = [f"{signal.sentiment_texts} texts, mean score {fmt.score(signal.sentiment_score)} "
             f"(each: p(positive) − p(negative) under {signal.sentiment_model})"]
    anchor = signal.sentiment_as_of
    for item in signal.news:
        when = age_text(anchor - item.published) + " old" if anchor else fmt.local_time(item.published, tz)
        text = item.text if len(item.text) <= NEWS_TEXT_LEN else item.text[: NEWS_TEXT_LEN - 1] + "…"
        lines.append(f"{fmt.score(item.score)} · {when} · {item.source} · {text}")
    if signal.sentiment_unavailable:
        lines.append(f"Unavailable: {'; '.join(signal.sentiment_unavailable)}")
    if signal.demo:
        lines.append("DEMO: bundled historical headlines, dated before the replayed bar.")
    return "\n".join(lines)


def tip_line(signal: Signal, tz: str = "UTC") -> str:
    """One line per tip, for lists."""
    demo = " DEMO" if signal.demo else ""
    return (f"#{signal.id} {ICONS[signal.recommendation]} {signal.recommendation.value} {signal.symbol} "
            f"{signal.timeframe} · {fmt.pct(signal.confidence)} · {fmt.price(signal.price, signal.price_decimals)}"
            f" · {fmt.local_time(signal.created_at, tz)} · {signal.status}{demo}")
