"""What `newswatch ingest` prints: one line per problem, Prefect's lines only with --verbose,
nothing but errors with --quiet, a progress bar on a terminal. Real subprocesses of the CLI
against the test run's Prefect server."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests._faults import NEWSWATCH, ingest_env, prefect_api_url, run_ingest  # noqa: F401 (fixture)

SEED = Path(__file__).resolve().parents[1] / "seeds" / "000_30228fdb78730024.txt"
pytestmark = pytest.mark.slow


def _inputs(tmp_path: Path) -> list[str]:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    return [str(SEED), str(empty)]


def _env(tmp_path: Path, api: str, **extra: str) -> dict[str, str]:
    env = ingest_env(f"sqlite:///{tmp_path / 'out.db'}", api_url=api, **extra)
    env.pop("PREFECT_LOGGING_LEVEL")  # the user's default: Prefect logs at INFO
    return env


def test_default_output_is_the_summary_and_one_line_per_failure(
    tmp_path: Path, prefect_api_url: str  # noqa: F811
) -> None:
    """Bug: each ingest printed a dozen Prefect INFO lines, the summary as a Python list repr,
    and a feed's error twice."""
    feed = "http://127.0.0.1:9/feed.xml"  # nothing listens on the discard port
    result = run_ingest(_inputs(tmp_path), _env(tmp_path, prefect_api_url), "--feed", feed)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == "articles: 1 new, 0 duplicate, 0 already stored, 2 failed"
    lines = result.stderr.splitlines()
    assert "| INFO" not in result.stderr and "Finished in state" not in result.stderr
    assert [line.split(":")[0] for line in lines] == ["Error", "Error"], lines
    assert sum(feed in line for line in lines) == 1
    assert sum("empty.txt" in line for line in lines) == 1


def test_verbose_shows_prefects_lines_and_quiet_only_errors(
    tmp_path: Path, prefect_api_url: str  # noqa: F811
) -> None:
    verbose = run_ingest([str(SEED)], _env(tmp_path, prefect_api_url), "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert "Finished in state Completed()" in verbose.stderr
    assert "articles: 1 new" in verbose.stdout

    quiet = run_ingest(_inputs(tmp_path), _env(tmp_path, prefect_api_url), "-q")
    assert quiet.returncode == 1
    assert quiet.stdout == ""  # the seed is already stored: no summary, only the failure
    (line,) = [line for line in quiet.stderr.splitlines() if line]
    assert line.startswith("Error:") and "empty.txt" in line


def test_a_terminal_shows_a_progress_bar(tmp_path: Path, prefect_api_url: str) -> None:  # noqa: F811
    """Many inputs on a terminal: a bar counting inputs done, gone when the summary prints."""
    paths = []
    for i in range(3):
        path = tmp_path / f"a{i}.txt"
        path.write_text(f"Talks {i} resume\n\nRussia demanded on Monday that NATO halt drills {i}.\n")
        paths.append(str(path))
    env = _env(tmp_path, prefect_api_url, batch_size=1, COLUMNS="100", TERM="xterm")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([NEWSWATCH, "ingest", *paths, "--published", "2021-12-17"],
                            env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(30) == 0, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    assert "ingest" in text and "3/3" in text, text
    assert "articles: 3 new" in text
