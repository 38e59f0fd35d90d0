"""Every core command has its Discord twin (a slash command of the same name with an option per declared
argument) and, unless it is for admins, an entry in the Telegram menu. A command added to the core without
them fails here."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands

import bot.core.service  # noqa: F401  (registers every command)
from bot.core.permissions import Permission
from bot.core.registry import Command, registry
from bot.core.signature import Arg, Kind, Signature
from bot.discord.commands import build_tree, option_text, slash_command
from bot.telegram.runner import bot_commands

COMMANDS = sorted(registry.commands)


async def _noop(interaction: discord.Interaction, name: str, options: dict[str, str]) -> None:
    return None


def _symbols() -> list[str]:
    return ["BTC/USDT"]


def test_the_registry_has_the_commands_the_issue_names() -> None:
    named = {"signal", "help", "signals", "history", "settings", "status", "watch", "unwatch", "watchlist",
             "subscribe", "unsubscribe", "open", "positions", "close", "pnl", "trades", "contact", "forgetme",
             "admin", "users", "user", "grant", "activate", "deactivate", "broadcast", "inbox", "reply", "stats",
             "health", "monitor"}
    assert named <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_declares_its_arguments_and_has_a_slash_twin(name: str) -> None:
    command = registry.commands[name]
    slash = slash_command(command, _noop, _symbols)
    payload = slash.to_dict(app_commands.CommandTree(discord.Client(intents=discord.Intents.none())))
    assert payload["name"] == name
    declared = {a.name for a in command.signature.args}
    assert {o["name"] for o in payload.get("options", [])} == declared
    required = {a.name for a in command.signature.args if a.required}
    assert {o["name"] for o in payload.get("options", []) if o["required"]} == required
    admin = command.permission is Permission.ADMIN
    assert (str(payload["default_member_permissions"]) == "8") is admin


def test_every_user_command_is_in_the_telegram_menu_and_no_admin_one() -> None:
    menu = {c.command for c in bot_commands()}
    users = {n for n, c in registry.commands.items() if c.permission is not Permission.ADMIN}
    assert menu == users


def test_the_whole_tree_builds() -> None:
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(
        discord.Client(intents=discord.Intents.none()))
    build_tree(tree, registry, _noop, _symbols)
    assert sorted(c.name for c in tree.get_commands()) == COMMANDS


def test_option_types_follow_the_declaration() -> None:
    async def handler(core: object, req: object) -> list[object]:
        return []

    signature = Signature((Arg("id", Kind.ID, "an id", required=True, words=("all",)),
                           Arg("page", Kind.PAGE, "a page"), Arg("size", Kind.MONEY, "dollars", low=1, high=100),
                           Arg("mode", Kind.CHOICE, "how", choices=("fast", "slow"))))
    command = Command("probe", "probe", handler, signature)  # type: ignore[arg-type]
    payload = slash_command(command, _noop, _symbols).to_dict(
        app_commands.CommandTree(discord.Client(intents=discord.Intents.none())))
    options = {o["name"]: o for o in payload["options"]}
    assert options["id"]["type"] == 3  # an id or the word "all": a string
    assert (options["page"]["type"], options["page"]["min_value"], options["page"]["max_value"]) == (4, 1, 100_000)
    assert (options["size"]["type"], options["size"]["min_value"], options["size"]["max_value"]) == (10, 1, 100)
    assert [c["value"] for c in options["mode"]["choices"]] == ["fast", "slow"]


@pytest.mark.parametrize(("value", "typed"), [(0.3, "0.3"), (1e-07, "0.0000001"), (-0.25, "-0.25"), (12, "12"),
                                              (2.0, "2.0"), ("BTC/USDT", "BTC/USDT")])
def test_option_values_become_the_text_a_user_would_type(value: object, typed: str) -> None:
    assert option_text(value) == typed
