"""A user's settings and a chat's: show, change, reset.

The user's own are defaults for tips (timeframe, thresholds, weights), their timezone and their default
position size. The daily summary time is always the chat's; in a group the timezone is the group's too, and
only the group's administrators change the group's settings (asked live)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.core.args import shorten, size_arg
from bot.core.context import ChatContext
from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.usecases.chats import may_change
from engine.models import SignalParams
from engine.scoring import validate_params
from storage.models import User

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_summary(raw: str) -> str:
    """`off`, or a time of day HH:MM (in the chat's timezone) normalised to two-digit hours."""
    text = raw.strip().lower()
    if text == "off":
        return "off"
    match = _HHMM.match(text)
    if match is None:
        raise UserError(f"summary must be a time HH:MM (e.g. 21:00) or off, not {shorten(raw)!r}.")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


@dataclass(frozen=True)
class SettingsChange:
    """What a user asked to change; None (or no overrides) leaves a setting as it is."""

    timeframe: str | None = None
    overrides: dict[str, float] = field(default_factory=dict)  # buy_threshold, ..., by parameter name
    timezone: str | None = None
    summary: str | None = None  # HH:MM or off
    size: Decimal | None = None  # to the cent
    strategy: str | None = None  # a name of engine.strategies.registry

    def fields(self) -> dict[str, Any]:
        """The change by stored setting name."""
        out: dict[str, Any] = dict(self.overrides)
        if self.timeframe is not None:
            out["timeframe"] = self.timeframe
        if self.timezone is not None:
            out["timezone"] = self.timezone
        if self.summary is not None:
            out["summary"] = self.summary
        if self.size is not None:
            out["size"] = size_arg(self.size.quantize(Decimal("0.01")))  # a string: JSON keeps it exact
        if self.strategy is not None:
            out["strategy"] = self.strategy
        return out


@dataclass(frozen=True)
class SettingsState:
    """A user's settings as they apply in one chat."""

    saved: dict[str, Any]  # the user's own choices; every setting not here is a default
    chat: dict[str, Any]  # the chat's own settings (its summary time; a group's timezone)
    params: SignalParams  # the thresholds and weights that apply
    timeframe: str  # the default timeframe that applies
    summary: str  # the chat's summary time, or "off"
    summary_is_default: bool
    strategy: str = "fused"  # the strategy a plain /signal uses


@dataclass(frozen=True)
class SettingsSaved:
    state: SettingsState
    # A group member changing only the group's own settings hears about those alone.
    group_changes: dict[str, Any] = field(default_factory=dict)


# Settings of the chat rather than of the user.
CHAT_KEYS = ("timezone", "summary")


def _state(core: Core, saved: dict[str, Any], chat: dict[str, Any]) -> SettingsState:
    summary = chat.get("summary")
    return SettingsState(
        saved=saved, chat=chat, params=core.user_params_from(saved),
        timeframe=str(saved.get("timeframe", core.settings.market.default_timeframe)),
        summary=str(summary or core.settings.summary.time), summary_is_default=not summary,
        strategy=str(saved.get("strategy") or core.settings.strategies.default))


async def show_settings(core: Core, ctx: ChatContext, user: User) -> SettingsState:
    chat = await core.storage.chat_settings.get(ctx.platform, ctx.chat_id)
    return _state(core, dict(user.settings), chat)


async def reset_settings(core: Core, ctx: ChatContext, user: User) -> SettingsState:
    """Every setting of the user back to its default; in their private chat its summary time too (a private
    chat's settings are its user's own)."""
    chat = await core.storage.chat_settings.get(ctx.platform, ctx.chat_id)
    await core.storage.users.update_settings(user.id, {})
    if ctx.is_private and chat.get("summary"):
        chat = await core.storage.chat_settings.update(ctx.platform, ctx.chat_id, {"summary": None})
    await core.storage.activity.log(user.id, "settings_changed", "Reset settings to defaults")
    return _state(core, {}, chat)


async def change_settings(core: Core, ctx: ChatContext, user: User, change: SettingsChange) -> SettingsSaved:
    """Save a change; thresholds and weights that do not fit together save nothing."""
    chat = await core.storage.chat_settings.get(ctx.platform, ctx.chat_id)
    changed = change.fields()
    # The summary time is always the chat's; in a group the timezone is the group's too.
    chat_changes = {k: changed.pop(k) for k in CHAT_KEYS
                    if k in changed and (k == "summary" or not ctx.is_private)}
    updated = {**user.settings, **changed}
    params = core.user_params_from(updated)
    try:
        validate_params(params.technical_weight, params.sentiment_weight, params.buy_threshold,
                        params.sell_threshold)
    except ValueError as exc:
        raise UserError(f"Not saved: {exc}.") from None
    if chat_changes:
        chat = await _save_chat_settings(core, ctx, user, chat_changes)
    if changed:
        await core.storage.users.update_settings(user.id, updated)
        await core.storage.activity.log(user.id, "settings_changed", "Changed settings", **changed)
    state = _state(core, updated, chat)
    if not changed and not ctx.is_private:
        return SettingsSaved(state, chat_changes)
    return SettingsSaved(state)


async def _save_chat_settings(core: Core, ctx: ChatContext, user: User, changes: dict[str, Any]) -> dict[str, Any]:
    """Store the chat's own settings; a group's are changed by its administrators only, and audited."""
    if not ctx.is_private:
        await may_change(core, ctx, " and ".join(changes))
        await core.audit(user, "chat_settings", ctx.chat_key, "ok", **changes)
    else:
        await core.storage.activity.log(user.id, "settings_changed", "Changed chat settings", **changes)
    return await core.storage.chat_settings.update(ctx.platform, ctx.chat_id, changes)
