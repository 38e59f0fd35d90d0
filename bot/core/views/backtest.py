"""The /backtest report: each figure on a line with its name, the random-entry baseline beside it, the
equity curve as a picture."""

from __future__ import annotations

import math

from bot.core.replies import Image, Reply
from bot.core.usecases.backtest import BacktestReport, BacktestStage
from engine.backtest.metrics import Metrics


def pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.2f}%" if signed else f"{value * 100:.0f}%"


def factor(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "∞ (no losing trade)" if math.isinf(value) else f"{value:.2f}"


def _figures(m: Metrics) -> list[str]:
    return [
        f"Trades: {m.trades} ({m.longs} long, {m.shorts} short) · TP {m.take_profits} · SL {m.stop_losses} · "
        f"expired {m.expiries}" + (f" · open at the end {m.ended}" if m.ended else ""),
        f"Hit rate: {pct(m.hit_rate)} (TP before SL)",
        f"Win rate: {pct(m.win_rate)}",
        f"Average return: {pct(m.average_return, True)} per trade",
        f"Total return: {pct(m.total_return, True)}",
        f"Profit factor: {factor(m.profit_factor)}",
        f"Expectancy: {pct(m.expectancy, True)} per trade",
        f"Max drawdown: {m.max_drawdown * 100:.2f}%",
        f"Sharpe: {'n/a' if m.sharpe is None else f'{m.sharpe:.2f}'} (per bar, annualised)",
        f"Exposure: {pct(m.exposure)} of the bars",
    ]


def _side(name: str, own: Metrics, chance: Metrics) -> str:
    return (f"{name}: {own.trades} trades, hit rate {pct(own.hit_rate)}, total {pct(own.total_return, True)} · "
            f"random entries: hit rate {pct(chance.hit_rate)}, total {pct(chance.total_return, True)}")


def backtest_reply(report: BacktestReport) -> Reply:
    r = report.result
    demo = " · DEMO" if r.demo else ""
    lines = [
        f"Period: {r.first_time:%Y-%m-%d} → {r.last_time:%Y-%m-%d} ({r.end - r.start + 1:,} bars of {r.source})",
        f"Strategy: {report.strategy} · "
        + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(report.params.items())),
        f"Tips: {r.signals_buy} BUY · {r.signals_sell} SELL bars; one position at a time, "
        f"expiry after {r.ttl_bars} bars, fee {r.fee_pct}% and slippage {r.slippage_pct}% per fill",
        "",
        *_figures(r.metrics),
        f"Buy & hold: {pct(r.buy_and_hold, True)}",
        "",
        _side("Long", r.long, r.baseline.long.metrics),
        _side("Short", r.short, r.baseline.short.metrics),
        f"Chance: {r.baseline.rule} (seed {r.baseline.seed}).",
        _sentiment_line(report),
    ]
    if report.note:
        lines.append(f"Timeframe:{report.note}")
    name = f"backtest-{r.symbol.replace('/', '-')}-{r.timeframe}.png"
    return Reply(title=f"🧪 Backtest {r.symbol} · {r.timeframe}{demo}", text="\n".join(lines),
                 image=Image(png=report.png, filename=name))


def _sentiment_line(report: BacktestReport) -> str:
    s = report.sentiment
    if s is None:
        return "Sentiment: not read (the strategy gives it no weight)."
    if s.bars_with_news == 0:
        return "Sentiment: no bundled dated headlines in this period: counted as 0."
    total = report.result.end - report.result.start + 1
    return (f"Sentiment: {s.model} over {s.texts:,} bundled dated headlines; news in the window of "
            f"{s.bars_with_news:,} bars (the others count 0; {total:,} bars tested).")


_STEPS = {
    "fetching": "fetching the candles",
    "deciding": "reading the strategy's decision at every bar",
    "replaying": "following each tip to its stop, target or expiry",
    "drawing": "drawing the equity curve",
}


def stage_line(stage: BacktestStage, elapsed: float) -> str:
    """The progress message of a running backtest (its [Cancel] button comes with it)."""
    if stage.step == "scoring":
        share = f" ({stage.done * 100 // stage.total}%)" if stage.total else ""
        step = f"scoring headlines {stage.done:,}/{stage.total:,}{share}"
    else:
        step = _STEPS[stage.step]
    return f"Backtest of {stage.symbol} {stage.timeframe}: {step} · {elapsed:.0f} s"


def finished_line(what: str, elapsed: float, outcome: str) -> str:
    """The progress message's last state: done, cancelled or stopped (the reason follows as its own reply)."""
    mark = {"done": "✅", "cancelled": "⏹", "stopped": "⚠️"}.get(outcome, "")
    return f"{mark} {what[:1].upper()}{what[1:]} {outcome} after {elapsed:.1f} s.".strip()
