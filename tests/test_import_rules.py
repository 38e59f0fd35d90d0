"""The house's one rule, checked on every import statement (ARCHITECTURE.md): arrows point down.

engine imports neither bot nor storage; storage imports no bot; bot/core imports no chat library; the chat
adapters (bot/telegram, bot/console) never import each other. Deferred imports inside functions count too.
"""

from __future__ import annotations

import ast
import re
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


# bot/core reaches storage through repositories only (issue 10): no SQL text and no calls on a `db` object.
DB_METHODS = ("execute", "fetchall", "fetchone", "scalar", "transaction")
# The statement's shape, not just its first word, so user-facing text such as "Delete my data" passes.
SQL_START = re.compile(
    r"^(select\s[\s\S]*\bfrom\b|select\s+(\d|\*|count\s*\(|coalesce\s*\()|insert\s+(or\s+\w+\s+)?into\s"
    r"|update\s+\w+\s+set\s|delete\s+from\s|with\s+(recursive\s+)?\w+\s*(\([^)]*\))?\s+as\s*\()",
    re.IGNORECASE)


def raw_sql_uses(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_START.match(node.value.strip()):
            found.append((node.lineno, "SQL " + " ".join(node.value.split())[:60]))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DB_METHODS
              and _named_db(node.func.value)):
            found.append((node.lineno, "call " + ast.unparse(node.func)))
    return found


def _named_db(node: ast.expr) -> bool:
    """`x.db` or a bare `db`: the Database object itself, not a repository."""
    return (isinstance(node, ast.Attribute) and node.attr == "db") or (isinstance(node, ast.Name) and node.id == "db")


def test_bot_core_runs_no_raw_sql() -> None:
    assert modules_of("bot.core")
    found = [f"{path.relative_to(ROOT)}:{line} {what}" for path in modules_of("bot.core")
             for line, what in raw_sql_uses(path)]
    assert found == []


def test_the_sql_check_sees_queries_and_db_calls(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        'Q = """\n  WITH wanted(a, b) AS (SELECT 1)\nSELECT * FROM wanted"""\n'
        'async def f(core, db):\n'
        '    await core.storage.db.scalar("SELECT 1 FROM alerts WHERE dedupe_key = ?", ("k",))\n'
        '    await db.fetchall("select status, count(*) from positions group by status")\n'
        '    async with core.repo.db.transaction() as conn:\n'
        '        await conn.execute(f"UPDATE alerts SET status = {1}")\n'
        '    await db.execute("insert into t(a) values (1)")\n'
        '    await db.execute("DELETE FROM t")\n'
        '    return ["Delete my data", "delete a user (asks to confirm)", " with no expiry.", "Select a market",\n'
        '            "Update your settings", "With signals"]\n',
        encoding="utf-8")
    assert sorted(raw_sql_uses(sample)) == sorted([
        (1, "SQL WITH wanted(a, b) AS (SELECT 1) SELECT * FROM wanted"),
        (5, "call core.storage.db.scalar"), (5, "SQL SELECT 1 FROM alerts WHERE dedupe_key = ?"),
        (6, "call db.fetchall"), (6, "SQL select status, count(*) from positions group by status"),
        (7, "call core.repo.db.transaction"), (8, "SQL UPDATE alerts SET status ="),
        (9, "call db.execute"), (9, "SQL insert into t(a) values (1)"),
        (10, "call db.execute"), (10, "SQL DELETE FROM t"),
    ])


# ---- no import circle in bot -------------------------------------------------------------------------------
# Every import counts: top-level, deferred inside a function, and those under `if TYPE_CHECKING:` (a circle a
# type checker needs is still a circle a reader has to untangle).


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str) -> dict[str, set[str]]:
    """module → the modules of `package` it imports (`from a import b` counts `a.b` when that is a module)."""
    modules = {module_name(p): p for p in modules_of(package)}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_bot_has_no_import_circle() -> None:
    graph = import_graph("bot")
    assert graph.get("bot.core.service"), "the graph found no imports"
    assert circles(graph) == []


def test_the_circle_check_finds_a_circle() -> None:
    # a → b → c → a is one circle; d → a is not part of it.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_package_imports_count_as_edges() -> None:
    # `from bot.core import cards` is an edge to the module bot.core.cards, as the circle check needs.
    graph = import_graph("bot")
    assert "bot.core.cards" in graph["bot.core.views.tips"]


def test_the_core_layers_point_down() -> None:
    # ARCHITECTURE.md: commands → use cases and views; views → models only; nothing imports commands back.
    graph = import_graph("bot")
    wrong = []
    for module, imports in graph.items():
        for target in imports:
            if target.startswith("bot.core.commands") and not module.startswith("bot.core.commands") \
                    and module not in ("bot.core.service", "bot.app"):
                wrong.append(f"{module} imports {target}")
            if module.startswith("bot.core.usecases") and target.startswith(("bot.core.views", "bot.core.jobs")):
                wrong.append(f"{module} imports {target}")
            if module.startswith("bot.core.views") and target.startswith(("bot.core.jobs", "bot.core.commands")):
                wrong.append(f"{module} imports {target}")
            if module == "bot.core.kernel" and target.startswith(("bot.core.usecases", "bot.core.views")):
                wrong.append(f"{module} imports {target}")
    assert wrong == []
