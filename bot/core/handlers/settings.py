"""/settings: a user's defaults for tips (timeframe, thresholds, weights) and their timezone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core.args import parse_number, parse_timeframe, parse_timezone, shorten, split_key_values
from bot.core.errors import Refused, UserError
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from engine.scoring import validate_params

if TYPE_CHECKING:
    from bot.core.service import TipsterCore

USAGE = "/settings [timeframe=1h] [buy=0.3] [sell=-0.3] [tw=0.6] [sw=0.4] [tz=Europe/Berlin] [reset]"

# Accepted keys → stored setting name.
KEYS = {
    "timeframe": "timeframe", "tf": "timeframe",
    "buy": "buy_threshold", "buy_threshold": "buy_threshold",
    "sell": "sell_threshold", "sell_threshold": "sell_threshold",
    "tw": "technical_weight", "technical_weight": "technical_weight",
    "sw": "sentiment_weight", "sentiment_weight": "sentiment_weight",
    "tz": "timezone", "timezone": "timezone",
}


def _describe(core: TipsterCore, settings: dict[str, Any]) -> str:
    params = core.user_params_from(settings)
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
        "",
        f"Change with: {USAGE}",
    ])


@registry.command("settings", USAGE, "show or change your defaults", group="Settings")
async def settings_cmd(core: TipsterCore, req: Request) -> list[Reply]:
    current = dict(req.user.settings)
    if not req.args:
        return [Reply(title="Your settings", text=_describe(core, current))]
    positional, pairs = split_key_values(req.args, USAGE)
    if positional == ["reset"] and not pairs:
        await core.services.users.update_settings(req.user.id, {})
        await core.services.activity.log(req.user.id, "settings_changed", "Reset settings to defaults")
        return [Reply(title="Settings reset to defaults", text=_describe(core, {}))]
    if positional:
        raise UserError(f"Unexpected {shorten(positional[0])!r}: give settings as key=value.", USAGE)
    updated = dict(current)
    changed: dict[str, Any] = {}
    for key, raw in pairs.items():
        field = KEYS.get(key)
        if field is None:
            raise UserError(f"Unknown setting {shorten(key)!r}.", USAGE)
        if field == "timeframe":
            value: Any = parse_timeframe(raw, USAGE)
        elif field == "timezone":
            value = parse_timezone(raw, USAGE)
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
    if not req.ctx.is_private and "timezone" in changed:
        # In a group, the timezone is the group's own setting: only its administrators may change it.
        if not await core.is_chat_admin(req.ctx):
            raise Refused("Changing this group's timezone needs the group's admin rights.",
                          reason="not chat admin")
        tz = changed.pop("timezone")
        await core.services.chat_settings.update(req.ctx.platform, req.ctx.chat_id, {"timezone": tz})
        await core.audit(req.user, "chat_settings", req.ctx.chat_key, "ok", timezone=tz)
        if not changed:
            return [Reply(text=f"This group's timezone is now {tz}.")]
    updated.update(changed)
    params = core.user_params_from(updated)
    try:
        validate_params(params.technical_weight, params.sentiment_weight, params.buy_threshold,
                        params.sell_threshold)
    except ValueError as exc:
        raise UserError(f"Not saved: {exc}.", USAGE) from None
    await core.services.users.update_settings(req.user.id, updated)
    await core.services.activity.log(req.user.id, "settings_changed", "Changed settings", **changed)
    return [Reply(title="Settings saved", text=_describe(core, updated))]
