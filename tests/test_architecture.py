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
