"""The house's one rule, checked on every import statement (ARCHITECTURE.md): arrows point down.

engine imports neither bot nor storage; storage imports no bot; bot/core imports no chat library; the chat
adapters (bot/telegram, bot/console) never import each other. Deferred imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAT_LIBRARIES = ("telegram", "discord")
ADAPTERS = ("bot.telegram", "bot.console", "bot.discord")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in modules_of(package):
        for line, module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


@pytest.mark.parametrize(("package", "forbidden"), [
    ("engine", ("bot", "storage")),
    ("storage", ("bot",)),
    ("bot.core", CHAT_LIBRARIES + ADAPTERS),
    ("bot.telegram", ("bot.console", "bot.discord", "discord")),
    ("bot.console", ("bot.telegram", "bot.discord", "telegram", "discord")),
])
def test_arrows_point_down(package: str, forbidden: tuple[str, ...]) -> None:
    assert modules_of(package), f"no modules found under {package}"
    assert violations(package, forbidden) == []


def test_the_check_sees_deferred_imports(tmp_path: Path) -> None:
    # The checker itself must catch an import hidden inside a function (the kind that hides circles).
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from storage.db import Database\n    import bot.app\n", encoding="utf-8")
    assert imported_modules(sample) == [(2, "storage.db"), (3, "bot.app")]
