"""Replies about settings: the user's settings as they apply in this chat, and a group's own changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.args import size_text
from bot.core.replies import Reply
from bot.core.usecases.settings import SettingsSaved, SettingsState


def settings_text(state: SettingsState, usage: str) -> str:
    saved, params = state.saved, state.params

    def mark(key: str) -> str:
        return "" if key in saved else " (default)"

    summary_note = "" if state.summary == "off" else ", in its local time"
    return "\n".join([
        f"timeframe = {state.timeframe}{mark('timeframe')}",
        f"buy = {params.buy_threshold:+.2f}{mark('buy_threshold')}",
        f"sell = {params.sell_threshold:+.2f}{mark('sell_threshold')}",
        f"tw = {params.technical_weight:g}{mark('technical_weight')}",
        f"sw = {params.sentiment_weight:g}{mark('sentiment_weight')}",
        f"tz = {saved.get('timezone', 'UTC')}{mark('timezone')}",
        f"strategy = {state.strategy}{mark('strategy')}",
        f"size = {size_text(Decimal(str(saved['size']))) if 'size' in saved else 'none'}"
        " (default position size for [Open position])",
        f"summary = {state.summary}{' (default)' if state.summary_is_default else ''}"
        f" (this chat's daily summary{summary_note})",
        "",
        f"Change with: {usage}",
    ])


def settings_reply(state: SettingsState, usage: str, title: str = "Your settings") -> Reply:
    return Reply(title=title, text=settings_text(state, usage))


def saved_reply(saved: SettingsSaved, usage: str) -> Reply:
    if saved.group_changes:
        return Reply(text=group_change_text(saved.group_changes))
    return settings_reply(saved.state, usage, "Settings saved")


def group_change_text(changes: dict[str, Any]) -> str:
    lines = []
    if "timezone" in changes:
        lines.append(f"This group's timezone is now {changes['timezone']}.")
    if changes.get("summary") == "off":
        lines.append("This group's daily summary is now off.")
    elif "summary" in changes:
        lines.append(f"This group's daily summary is now at {changes['summary']} (its local time).")
    return "\n".join(lines)
