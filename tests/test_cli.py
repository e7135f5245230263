"""The command line through Typer's CliRunner: output shows stored text verbatim."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.db.migrate import upgrade
from newswatch.db.models import ArticleRow

MARKUP_TITLES = [
    "[UPDATE 2] Russia demands guarantees",
    "Talks resume [/corrected]",
    "[bold]not bold[/bold] and [the] word",
    "[link=https://evil.example]click[/link]",
]


@pytest.fixture
def markup_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'markup.db'}"
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", url)
    upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        for i, title in enumerate(MARKUP_TITLES):
            session.add(ArticleRow(
                url=f"file:///a{i}.txt", canonical_url=f"file:///a{i}.txt", title=title, text="body",
                text_hash=f"{i:064d}", published=dt.date(2021, 12, 17), source="wire",
            ))
    engine.dispose()
    return url


def test_articles_table_shows_bracketed_titles_verbatim(markup_db: str) -> None:
    """Bug: titles went through Rich markup, so "[UPDATE 2]" vanished and "[/corrected]"
    raised MarkupError for the whole table."""
    result = CliRunner().invoke(app, ["articles"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    for title in MARKUP_TITLES:
        assert title in result.output


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"newswatch {version('newswatch')}\n"
    for args in (["-h"], ["events", "-h"], ["db", "upgrade", "-h"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, args
        assert "Usage:" in result.output, args


def test_ingest_reports_a_broken_topics_file_before_starting_prefect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bug: a broken topics file was found only inside the flow's store task, after a Prefect
    server had started (15-30 s), with retries and a traceback. Prefect is pointed at a closed
    port here: reaching it would fail differently."""
    topics = tmp_path / "topics.toml"
    topics.write_text('[topics.x]\nname = "X"\npatterns = ["{actor}"]\nactors = 3\n')
    article = tmp_path / "a.txt"
    article.write_text("Russia demands guarantees\n\nRussia demanded that NATO stop.\n")
    monkeypatch.setenv("NEWSWATCH_TOPICS", str(topics))
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    result = CliRunner().invoke(app, ["ingest", str(article)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: invalid topics file:"], result.output
    assert f"{topics}:" in result.output  # each problem as file:line: what
    assert not (tmp_path / "x.db").exists()


# ---------------------------------------------------------------------------------------------
# Filters say what they did: case, unknown values, truncation

from tests.test_hostile_input import stored_events  # noqa: E402,F401  (fixture)


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})


def test_filters_ignore_case_of_codes_and_slugs(stored_events: str) -> None:  # noqa: F811
    """Bug: --topic NATO-enlargement found nothing while --actor rus worked."""
    for args in (["--topic", "NATO-Enlargement"], ["--actor", "rus"], ["--type", "demand"]):
        result = _run("events", "--json", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip(), args


def test_unknown_filter_values_get_a_hint(stored_events: str) -> None:  # noqa: F811
    result = _run("events", "--actor", "XYZ")
    assert result.exit_code == 0
    assert "no events match: no stored event has actor 'XYZ' (stored codes: NATO, RUS)" in result.stderr
    result = _run("events", "--topic", "nato")
    assert "no topic 'nato' in the topics file (topics: nato-enlargement," in result.stderr
    result = _run("events", "--type", "DEMANDS")
    assert result.exit_code == 2 and "unknown event type 'DEMANDS'" in " ".join(result.output.split())


def test_a_listing_cut_by_limit_says_so_beside_the_json(stored_events: str) -> None:  # noqa: F811
    """Bug: `events` stopped at 50 rows without saying so."""
    result = _run("events", "--json", "--limit", "1")
    assert len(result.stdout.splitlines()) == 1
    assert "showing the newest 1 events; more match" in result.stderr
    assert "more match" not in _run("events", "--json", "--limit", "2").stderr
    alerts = _run("alerts", "--json", "--since", "2000-01-01", "--topic", "NATO-enlargement", "--limit", "5")
    assert alerts.exit_code == 0 and len(alerts.stdout.splitlines()) == 1


def test_every_command_has_json(tmp_path: Path) -> None:
    """Bug: ingest, topics and db upgrade had no --json although docs/cli.md said all had."""
    import json

    env = {"NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}"}
    upgraded = CliRunner().invoke(app, ["db", "upgrade", "--json"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    row = json.loads(upgraded.stdout)
    assert row["up_to_date"] is True and row["revision"]
    listed = [json.loads(line) for line in CliRunner().invoke(app, ["topics", "--json"]).stdout.splitlines()]
    assert "nato-enlargement" in {t["slug"] for t in listed}
    refused = CliRunner().invoke(app, ["ingest", str(tmp_path / "missing.txt"), "--json"], env=env)
    assert refused.exit_code == 1
    summary = json.loads(refused.stdout)
    assert summary["articles"]["failed"] == 1
    assert summary["failures"] == [f"{tmp_path / 'missing.txt'}: no such file; check the path"]
