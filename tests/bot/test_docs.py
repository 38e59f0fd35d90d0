"""README and config.yaml describe what exists: every command in a table, no command that is not there, no
promises of features to come, no settings for an adapter that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import bot.app  # noqa: F401  - registers every handler
from bot.core.permissions import Permission
from bot.core.registry import registry

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CONSOLE_ONLY = {"as", "wait"}  # the console chat's own commands (bot/console/chat.py)


def table_commands(text: str) -> set[str]:
    """Commands named in the first cell of a Markdown table row: | `/open SYMBOL …` | or | `/a`, `/b` |."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `/"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`/([a-z]+)", first_cell))
    return names


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def test_every_command_is_in_a_readme_table() -> None:
    assert set(registry.commands) - table_commands(README) == set()


def test_every_admin_command_is_in_the_admin_table() -> None:
    admin = {c.name for c in registry.commands.values() if c.permission is Permission.ADMIN}
    assert admin - table_commands(section("Users, roles and access")) == set()


def test_the_readme_names_no_command_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"`/([a-z]+)", README))
    assert mentioned - set(registry.commands) - CONSOLE_ONLY == set()


def test_no_promises_of_what_is_not_built() -> None:
    for text, name in ((README, "README.md"), ((ROOT / "config.yaml").read_text(), "config.yaml")):
        for phrase in ("soon", "later issue", "coming", "not yet", "planned", "for now"):
            assert phrase not in text.lower(), f"{name} says {phrase!r}"


def test_config_has_no_settings_for_an_adapter_that_does_not_exist() -> None:
    config = (ROOT / "config.yaml").read_text().lower()
    if not (ROOT / "bot" / "discord").exists():
        assert "discord" not in config
        assert "discord" not in README.lower()
