"""/track's report and the tip card's record line. Nobody is named: tips are counted, not attributed."""

from __future__ import annotations

from bot.core.replies import Reply
from bot.core.usecases.track import TipRecord, TrackGroup, TrackReport


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.2f}%" if signed else f"{value * 100:.0f}%"


def _figures(g: TrackGroup) -> str:
    opened = f" · open {g.open}" if g.open else ""
    return (f"{g.tips} {g.side} tip{'s' if g.tips != 1 else ''}: TP {g.take_profits} · SL {g.stop_losses} · "
            f"expired {g.expiries}{opened} · hit rate {_pct(g.hit_rate)} · average {_pct(g.average_return, True)}")


def track_reply(report: TrackReport) -> Reply:
    scope = " ".join(part for part in (report.symbol, report.timeframe) if part) or "every market"
    title = f"📒 Tips' record · {scope} · past {report.days} days"
    if not report.tips:
        lines = [f"No BUY or SELL tips in the past {report.days} days."]
    else:
        lines = [_figures(g) for g in report.sides if g.tips]
        lines.append("")
    for hold in report.markets:
        market = f"{hold.symbol} {hold.timeframe}{' (demo)' if hold.demo else ''}"
        lines.append(f"{market}:")
        lines += [f"  {_figures(g)}" for g in report.groups
                  if (g.symbol, g.timeframe) == (hold.symbol, hold.timeframe)]
        shown = _pct(hold.buy_and_hold, True) if hold.unavailable is None else f"n/a ({hold.unavailable})"
        lines.append(f"  Buy & hold: {shown}")
    lines.append("")
    lines.append("Each tip followed from the bar after its own to its stop, target or expiry by the backtest's "
                 "rules (paper fills and fees); hit rate = TP before SL; open tips are in neither figure.")
    return Reply(title=title, text="\n".join(lines))


def record_line(record: TipRecord) -> str:
    """"Past 30 days on BTC/USDT 1h: 14 BUY tips, 57% hit TP first"."""
    head = f"Past {record.days} days on {record.symbol} {record.timeframe}: "
    if not record.tips:
        return head + f"no {record.side} tips yet"
    count = f"{record.tips} {record.side} tip{'s' if record.tips != 1 else ''}"
    if record.hit_rate is None:
        return head + f"{count}, none at TP or SL yet"
    return head + f"{count}, {record.hit_rate * 100:.0f}% hit TP first"
