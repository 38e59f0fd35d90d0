"""The core's commands as Discord slash commands, generated from their declared arguments.

Every command of the registry becomes a slash command of the same name; each declared argument an option of
the same name, typed (string, integer, number), bounded, with choices where the declaration has them and
autocomplete for symbols and timezones. Admin commands are hidden by default permissions from members who
cannot manage the server — and, like everything, still checked by role in the core. What a user gives is
turned back into text and parsed by the declaration, exactly as if typed on Telegram.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from zoneinfo import available_timezones

import discord
from discord import app_commands

from bot.core.permissions import Permission
from bot.core.registry import Command, Registry
from bot.core.signature import Arg, Kind
from bot.discord.render import cut

DESCRIPTION_MAX = 100  # Discord's limit for command, option and choice descriptions
AUTOCOMPLETE_MAX = 25  # choices Discord shows for an autocomplete answer

# What the client does with an invocation: (interaction, command name, option name → text).
Invoke = Callable[[discord.Interaction, str, dict[str, str]], Awaitable[None]]


def option_annotation(arg: Arg) -> Any:
    """The type discord.py turns into the option's Discord type, bounds and choices."""
    choices = arg.option_choices
    if choices:
        return typing.Literal[choices]  # type: ignore[valid-type]
    kind = arg.option_type
    low, high = arg.option_range
    if kind == "integer":
        return app_commands.Range[int, low, high] if (low, high) != (None, None) else int
    if kind == "number":
        return app_commands.Range[float, low, high] if (low, high) != (None, None) else float
    if arg.kind is Kind.TEXT:
        return app_commands.Range[str, 1, 1000]
    return str


def option_text(value: object) -> str:
    """An option's value as the text a user would have typed (floats without exponent: 1e-07 → 0.0000001)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def _description(text: str) -> str:
    return cut(text, DESCRIPTION_MAX) or "…"


def slash_command(command: Command, invoke: Invoke, symbols: Callable[[], list[str]]) -> app_commands.Command[
        Any, ..., None]:
    signature = command.signature
    # Discord wants required options first; the core's declaration already has them first per kind.
    ordered = [a for a in signature.args if a.required] + [a for a in signature.args if not a.required]
    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=discord.Interaction)]
    for arg in ordered:
        params.append(inspect.Parameter(arg.name, inspect.Parameter.KEYWORD_ONLY, annotation=option_annotation(arg),
                                        default=inspect.Parameter.empty if arg.required else None))
    name = command.name

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await invoke(interaction, name, {k: option_text(v) for k, v in values.items() if v is not None})

    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_description__ = {  # type: ignore[attr-defined]
        a.name: _description(a.help) for a in ordered}
    callback.__discord_app_commands_param_autocomplete__ = {  # type: ignore[attr-defined]
        a.name: _autocomplete(a, symbols) for a in ordered if a.autocomplete and not a.option_choices}
    slash = app_commands.Command(name=name, description=_description(command.summary), callback=callback)
    if command.permission is Permission.ADMIN:
        slash.default_permissions = discord.Permissions(administrator=True)
    return slash


def _autocomplete(arg: Arg, symbols: Callable[[], list[str]]) -> Callable[..., Awaitable[list[Any]]]:
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        pool = symbols() if arg.kind is Kind.SYMBOL else sorted(available_timezones() | {"UTC"})
        typed = current.strip().upper() if arg.kind is Kind.SYMBOL else current.strip().lower()
        if arg.kind is Kind.SYMBOL:
            found = [s for s in pool if s.upper().startswith(typed)] + [
                s for s in pool if typed and typed in s.upper() and not s.upper().startswith(typed)]
        else:
            found = [z for z in pool if typed in z.lower()]
        return [app_commands.Choice(name=v, value=v) for v in found[:AUTOCOMPLETE_MAX]]
    return complete


def build_tree(tree: app_commands.CommandTree[Any], registry: Registry, invoke: Invoke,
               symbols: Callable[[], list[str]]) -> None:
    """Every command of the registry on `tree` (global commands: they work in guilds and DMs)."""
    for command in registry.commands.values():
        tree.add_command(slash_command(command, invoke, symbols))
