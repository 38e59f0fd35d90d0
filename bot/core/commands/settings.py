"""/settings: parse, call the settings use cases, render the view. No arguments shows the settings, `reset`
restores the defaults, `key=value` options change them."""

from __future__ import annotations

from decimal import Decimal

from bot.core.args import parse_decimal, shorten
from bot.core.errors import UserError
from bot.core.kernel import Core
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases.params import OVERRIDE_ARGS, overrides_of
from bot.core.usecases.settings import (
    SettingsChange,
    change_settings,
    parse_summary,
    reset_settings,
    show_settings,
)
from bot.core.views.settings import saved_reply, settings_reply
from engine.strategies import registry as strategies

MAX_SIZE = 1_000_000  # dollars: a default position size above this is a typo


def _reset_word(raw: str) -> str:
    if raw.lower() != "reset":
        raise UserError(f"Unexpected {shorten(raw)!r}: give settings as key=value, or reset.")
    return "reset"


def _size(raw: str) -> Decimal:
    """Dollars, as typed or with their sign ($500)."""
    return parse_decimal(raw.strip().removeprefix("$"), "size", Decimal(1), Decimal(MAX_SIZE))


CHANGES = ("timeframe", "buy", "sell", "tw", "sw", "tz", "summary", "size", "strategy")


@registry.command("settings", "show or change your defaults", group="Settings", private=True, args=(
    Arg("reset", Kind.WORD, "the word reset: every setting back to its default", metavar="reset", parser=_reset_word),
    Arg("timeframe", Kind.TIMEFRAME, "your default bar length", keyed=True, aliases=("tf",), example="1h"),
    *OVERRIDE_ARGS,
    Arg("tz", Kind.TIMEZONE, "your timezone (a group's own in a group), e.g. Europe/Berlin", keyed=True,
        aliases=("timezone",), example="Europe/Berlin"),
    Arg("summary", Kind.WORD, "this chat's daily summary time HH:MM (its local time), or off", keyed=True,
        parser=parse_summary, example="HH:MM|off"),
    Arg("size", Kind.MONEY, "your default position size in dollars for [Open position]", keyed=True, low=1,
        high=MAX_SIZE, example="500", parser=_size),
    Arg("strategy", Kind.CHOICE, "your default strategy for tips (see /backtest)", keyed=True,
        choices=tuple(strategies.names()), example="NAME"),
))
async def settings_cmd(core: Core, req: Request) -> list[Reply]:
    usage = registry.commands["settings"].usage
    values = req.values
    given = [name for name in CHANGES if values[name] is not None]
    if values["reset"] is not None:
        if given:
            raise UserError("reset takes no other settings: send /settings reset alone.")
        return [settings_reply(await reset_settings(core, req.ctx, req.user), usage, "Settings reset to defaults")]
    if not given:
        return [settings_reply(await show_settings(core, req.ctx, req.user), usage)]
    change = SettingsChange(timeframe=values["timeframe"], overrides=overrides_of(values), timezone=values["tz"],
                            summary=values["summary"], size=values["size"], strategy=values["strategy"])
    return [saved_reply(await change_settings(core, req.ctx, req.user, change), usage)]
