"""/settings: a user's defaults for tips (timeframe, thresholds, weights), their timezone, and the chat's
daily summary time (a setting of the chat, like a group's timezone)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.core.args import parse_number, parse_timeframe, parse_timezone, shorten, split_key_values
from bot.core.errors import Refused, UserError
from bot.core.formatting import money
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from engine.scoring import validate_params

if TYPE_CHECKING:
    from bot.core.kernel import Core

USAGE = ("/settings [timeframe=1h] [buy=0.3] [sell=-0.3] [tw=0.6] [sw=0.4] [tz=Europe/Berlin] "
         "[summary=HH:MM|off] [size=500] [reset]")

# Accepted keys → stored setting name.
KEYS = {
    "timeframe": "timeframe", "tf": "timeframe",
    "buy": "buy_threshold", "buy_threshold": "buy_threshold",
    "sell": "sell_threshold", "sell_threshold": "sell_threshold",
    "tw": "technical_weight", "technical_weight": "technical_weight",
    "sw": "sentiment_weight", "sentiment_weight": "sentiment_weight",
    "tz": "timezone", "timezone": "timezone",
    "summary": "summary",
    "size": "size",
}
# Settings of the chat rather than of the user: in a group only the group's administrators change them.
CHAT_KEYS = ("timezone", "summary")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_summary(raw: str) -> str:
    """`off`, or a time of day HH:MM (in the chat's timezone) normalised to two-digit hours."""
    text = raw.strip().lower()
    if text == "off":
        return "off"
    match = _HHMM.match(text)
    if match is None:
        raise UserError(f"summary must be a time HH:MM (e.g. 21:00) or off, not {shorten(raw)!r}.", USAGE)
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _describe(core: Core, settings: dict[str, Any], chat: dict[str, Any] | None = None) -> str:
    params = core.user_params_from(settings)
    summary = (chat or {}).get("summary")
    tf = settings.get("timeframe", core.settings.market.default_timeframe)
    tz = settings.get("timezone", "UTC")

    def mark(key: str) -> str:
        return "" if key in settings else " (default)"

    return "\n".join([
        f"timeframe = {tf}{mark('timeframe')}",
        f"buy = {params.buy_threshold:+.2f}{mark('buy_threshold')}",
        f"sell = {params.sell_threshold:+.2f}{mark('sell_threshold')}",
        f"tw = {params.technical_weight:g}{mark('technical_weight')}",
        f"sw = {params.sentiment_weight:g}{mark('sentiment_weight')}",
        f"tz = {tz}{mark('timezone')}",
        f"size = {money(settings['size'], cents=False) if 'size' in settings else 'none'}"
        " (default position size for [Open position])",
        f"summary = {summary or core.settings.summary.time}{'' if summary else ' (default)'}"
        f" (this chat's daily summary{'' if summary == 'off' else ', in its local time'})",
        "",
        f"Change with: {USAGE}",
    ])


@registry.command("settings", USAGE, "show or change your defaults", group="Settings")
async def settings_cmd(core: Core, req: Request) -> list[Reply]:
    current = dict(req.user.settings)
    chat = await core.storage.chat_settings.get(req.ctx.platform, req.ctx.chat_id)
    if not req.args:
        return [Reply(title="Your settings", text=_describe(core, current, chat))]
    positional, pairs = split_key_values(req.args, USAGE)
    if positional == ["reset"] and not pairs:
        await core.storage.users.update_settings(req.user.id, {})
        if req.ctx.is_private and chat.get("summary"):  # a private chat's settings are its user's own
            chat = await core.storage.chat_settings.update(req.ctx.platform, req.ctx.chat_id, {"summary": None})
        await core.storage.activity.log(req.user.id, "settings_changed", "Reset settings to defaults")
        return [Reply(title="Settings reset to defaults", text=_describe(core, {}, chat))]
    if positional:
        raise UserError(f"Unexpected {shorten(positional[0])!r}: give settings as key=value.", USAGE)
    changed = _parse_changes(pairs)
    # The summary time is always the chat's; in a group the timezone is the group's too.
    chat_changes = {k: changed.pop(k) for k in CHAT_KEYS
                    if k in changed and (k == "summary" or not req.ctx.is_private)}
    updated = {**current, **changed}
    params = core.user_params_from(updated)
    try:
        validate_params(params.technical_weight, params.sentiment_weight, params.buy_threshold,
                        params.sell_threshold)
    except ValueError as exc:
        raise UserError(f"Not saved: {exc}.", USAGE) from None
    if chat_changes:
        chat = await _save_chat_settings(core, req, chat_changes)
    if changed:
        await core.storage.users.update_settings(req.user.id, updated)
        await core.storage.activity.log(req.user.id, "settings_changed", "Changed settings", **changed)
    elif not req.ctx.is_private:
        return [Reply(text=_group_change_text(chat_changes))]
    return [Reply(title="Settings saved", text=_describe(core, updated, chat))]


def _parse_changes(pairs: dict[str, str]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for key, raw in pairs.items():
        field = KEYS.get(key)
        if field is None:
            raise UserError(f"Unknown setting {shorten(key)!r}.", USAGE)
        if field == "timeframe":
            value: Any = parse_timeframe(raw, USAGE)
        elif field == "timezone":
            value = parse_timezone(raw, USAGE)
        elif field == "summary":
            value = parse_summary(raw)
        elif field == "size":
            value = int(parse_number(raw.lstrip("$"), "size", 1, 1_000_000, USAGE))
        elif field.endswith("weight"):
            value = parse_number(raw, key, 0.0, 1.0, USAGE)
        else:
            value = parse_number(raw, key, -1.0, 1.0, USAGE)
        if field in changed:
            raise UserError(f"{field} is given twice.", USAGE)
        changed[field] = value
    # One weight alone sets the other, as in /signal.
    if "technical_weight" in changed and "sentiment_weight" not in changed:
        changed["sentiment_weight"] = round(1.0 - changed["technical_weight"], 10)
    elif "sentiment_weight" in changed and "technical_weight" not in changed:
        changed["technical_weight"] = round(1.0 - changed["sentiment_weight"], 10)
    return changed


async def _save_chat_settings(core: Core, req: Request, changes: dict[str, Any]) -> dict[str, Any]:
    """Store the chat's own settings; in a group only its administrators may change them."""
    if not req.ctx.is_private:
        if not await core.is_chat_admin(req.ctx):
            raise Refused(f"Changing this group's {' and '.join(changes)} needs the group's admin rights.",
                          reason="not chat admin")
        await core.audit(req.user, "chat_settings", req.ctx.chat_key, "ok", **changes)
    else:
        await core.storage.activity.log(req.user.id, "settings_changed", "Changed chat settings", **changes)
    return await core.storage.chat_settings.update(req.ctx.platform, req.ctx.chat_id, changes)


def _group_change_text(changes: dict[str, Any]) -> str:
    lines = []
    if "timezone" in changes:
        lines.append(f"This group's timezone is now {changes['timezone']}.")
    if changes.get("summary") == "off":
        lines.append("This group's daily summary is now off.")
    elif "summary" in changes:
        lines.append(f"This group's daily summary is now at {changes['summary']} (its local time).")
    return "\n".join(lines)
