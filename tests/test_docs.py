"""Docs stay honest: every command has help and an example, and is in docs/cli.md."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import newswatch.pipeline.errors
from newswatch.cli import app

REPO = Path(__file__).resolve().parent.parent


def _commands(command=None, path=()):  # type: ignore[no-untyped-def]
    command = command or typer.main.get_command(app)
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands())


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_commands_have_help_and_an_example(path: tuple[str, ...], command) -> None:  # type: ignore[no-untyped-def]
    assert command.help, f"newswatch {' '.join(path)} has no help"
    if not getattr(command, "commands", None):
        assert "Example:" in command.help, f"newswatch {' '.join(path)} has no Example: line"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_is_in_cli_md(path: tuple[str, ...]) -> None:
    assert f"## newswatch {' '.join(path)}\n" in (REPO / "docs" / "cli.md").read_text()


def test_cli_reference_is_current() -> None:
    """docs/cli.md is generated from --help; regenerate with `cog -r docs/cli.md`."""
    result = subprocess.run([sys.executable, "-m", "cogapp", "--check", "docs/cli.md"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


ERRORS = [
    name for name, obj in inspect.getmembers(newswatch.pipeline.errors, inspect.isclass)
    if issubclass(obj, newswatch.pipeline.errors.NewswatchError)
]


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_is_documented(name: str) -> None:
    assert f"`{name}`" in (REPO / "docs" / "errors.md").read_text()


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_has_a_docstring(name: str) -> None:
    assert getattr(newswatch.pipeline.errors, name).__doc__
