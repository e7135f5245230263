"""The layering rules of STYLE.md: pipeline/ knows nothing of Prefect, SQLAlchemy or Typer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "pipeline": {"prefect", "sqlalchemy", "typer", "alembic", "db", "flows", "cli"},
    "db": {"prefect", "typer", "flows", "cli", "spacy"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_in_their_layer(package: str) -> None:
    bad = {
        f"{path.relative_to(REPO)}: {name}"
        for path in (REPO / package).rglob("*.py")
        for name in _imports(path) & FORBIDDEN[package]
    }
    assert not bad, f"forbidden imports: {sorted(bad)}"


@pytest.mark.parametrize("command", [["events"], ["articles"], ["alerts"], ["topics"]])
def test_read_commands_import_neither_prefect_nor_spacy(command: list[str], tmp_path: Path) -> None:
    """Read commands must start fast: importing Prefect alone costs about two seconds."""
    code = (
        "import sys\nfrom newswatch import cli\n"
        "try:\n"
        f"    cli.app({command!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('prefect', 'spacy') if m in sys.modules))\n"
    )
    env = {"NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


# ---- the import graph of the installed package ---------------------------------------------

#: Where each module of the `newswatch` package lives in the checkout (newswatch/ links the
#: others in; the migrations are loaded by Alembic, not imported).
PACKAGES = {"newswatch": REPO / "newswatch", "newswatch.pipeline": REPO / "pipeline",
            "newswatch.db": REPO / "db", "newswatch.flows": REPO / "flows"}


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def _module_level_imports(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """Return (newswatch modules, outside top-level names) imported when `name` is imported.

    Only statements that run at import time count: the module body and the blocks of its
    top-level `if`/`try`/`with` statements, not function bodies and not `if TYPE_CHECKING:`.
    """
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    inside: set[str] = set()
    outside: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "newswatch":
                        inside.add(alias.name)
                    else:
                        outside.add(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                if base.split(".")[0] != "newswatch":
                    outside.add(base.split(".")[0])
                    continue
                for alias in node.names:
                    inside.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With):
                visit(node.body)

    visit(ast.parse(path.read_text(), filename=str(path)).body)
    return {m for m in inside if m in known and m != name}, outside


def _import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    outside: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name], outside[name] = _module_level_imports(name, path, set(modules))
    return graph, outside


def test_the_package_has_no_import_cycle() -> None:
    """Data moves one way, and so do imports: no module imports, at import time, a module that
    imports it back (flows/feeds.py and flows/ingest.py once did, through function-level
    imports that hid the circle)."""
    graph, _ = _import_graph()
    assert "newswatch.flows.ingest" in graph and graph["newswatch.flows.ingest"], "graph not built"
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            cycle = path[path.index(module):] + [module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_flows_feeds_and_ingest_do_not_import_each_other_anywhere() -> None:
    """Not even inside a function: the feed steps know nothing of the flow that calls them."""
    tree = ast.parse((REPO / "flows" / "feeds.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "newswatch.flows.ingest" not in imported


def test_nothing_in_db_imports_spacy_even_indirectly() -> None:
    """db/ stores and reads rows: importing it (a read command) must not load spaCy."""
    graph, outside = _import_graph()
    for module in (m for m in graph if m.startswith("newswatch.db")):
        seen, todo = set(), [module]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            assert "spacy" not in outside[current], f"{module} imports spacy through {current}"
            todo.extend(graph[current])
