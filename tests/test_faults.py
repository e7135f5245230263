"""Faults: an ingest killed mid-batch, a locked SQLite database, a PostgreSQL connection killed
mid-run, a delivery cut off in flight. (A channel down for a whole run, then back: see
test_alerts.py, `test_ingest_flow_delivers_once_across_a_failing_then_recovering_channel`.)

Each test runs the real `newswatch ingest` (a subprocess, or in-process through the CLI where
a setting has to be shortened), disturbs it at a known point, and then checks that the
database holds exactly what an undisturbed run leaves (`clean_run`) and that every alert
reached the channel exactly once.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests._faults import (
    SECRET,
    Webhook,
    assert_same,
    count,
    ingest_env,
    kill,
    postgres_schema,
    prefect_api_url,  # noqa: F401 (fixture)
    run_ingest,
    snapshot,
    start_ingest,
    wait_for,
    write_articles,
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_articles(tmp_path_factory.mktemp("corpus"))


class CleanRun:
    """What one undisturbed ingest of the corpus stores and delivers."""

    def __init__(self, snap: dict[str, list[Any]], messages: list[str]) -> None:
        self.snapshot = snap
        self.messages = messages


@pytest.fixture(scope="session")
def clean_run(corpus: list[str], prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    """The corpus ingested once, undisturbed, on SQLite, with a working channel."""
    hook = Webhook().start()
    url = f"sqlite:///{tmp_path_factory.mktemp('clean') / 'newswatch.db'}"
    try:
        result = run_ingest(corpus, ingest_env(url, api_url=prefect_api_url, notify=hook.url))
    finally:
        hook.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    snap = snapshot(url)
    # The corpus must exercise everything the faults could lose or double.
    assert snap["events"] and snap["mentions"] and snap["alerts"], snap
    assert any(a[-1] for a in snap["articles"]), "the syndicated copy is not a duplicate"
    assert len(snap["mentions"]) > len(snap["events"]), "no event was reported twice"
    assert sorted(hook.messages()) and len(hook.messages()) == len(snap["alerts"])
    return CleanRun(snap, sorted(hook.messages()))


@contextlib.contextmanager
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path, app: str) -> Iterator[str]:
    """An empty database; PostgreSQL connections from it carry `application_name=app`."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'newswatch.db'}"
    else:
        with postgres_schema(request.getfixturevalue("postgres_server"), app) as url:
            yield url


def _pg(url: str) -> psycopg.Connection[Any]:
    """A plain psycopg connection (no application_name: not mistaken for the ingest)."""
    base, _, query = url.partition("?")
    options = [p for p in query.split("&") if p.startswith("options=")]
    conninfo = base.replace("postgresql+psycopg", "postgresql") + ("?" + options[0] if options else "")
    return psycopg.connect(conninfo)


def blocked_backend(url: str, app: str) -> int | None:
    """The pid of the ingest's PostgreSQL backend while it waits for a lock, else None."""
    with _pg(url) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (app,),
        ).fetchone()
    return row[0] if row else None


@contextlib.contextmanager
def write_lock(backend: str, url: str, app: str) -> Iterator[int | None]:
    """Hold a lock that stops the ingest in the middle of storing an article; yield when it waits.

    PostgreSQL: `LOCK TABLE alerts`, so the ingest stops inside an article's transaction after
    the article, its actors, events, mentions and topics are written and before its alerts
    are; yields the pid of its waiting backend. SQLite: an IMMEDIATE transaction, so the next
    write of the ingest waits on the busy timeout (given 4 s to get there).
    """
    if backend == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=60, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            time.sleep(4)
            yield None
        finally:
            conn.rollback()
            conn.close()
        return
    with _pg(url) as conn:
        conn.execute("LOCK TABLE alerts IN EXCLUSIVE MODE")
        pid: list[int] = []

        def waiting() -> bool:
            found = blocked_backend(url, app)
            pid[:] = [found] if found else []
            return bool(found)

        wait_for(waiting, 120, "the ingest to wait on the alerts lock")
        try:
            yield pid[0]
        finally:
            conn.rollback()


# ---------------------------------------------------------------------------------------------
# kill -9


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_mid_batch_then_rerun_equals_a_clean_run(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, corpus: list[str],
    clean_run: CleanRun, prefect_api_url: str,
) -> None:
    """kill -9 while a batch's transaction is open, one batch into the run; rerun.

    Protection: one transaction per batch (articles, actors, events, mentions, topics and
    alert outbox rows commit together), and an article is skipped on rerun only if committed.
    """
    app = f"nw_kill_{backend}"
    hook = Webhook().start()
    try:
        with database(backend, request, tmp_path, app) as url:
            env = ingest_env(url, api_url=prefect_api_url, notify=hook.url, batch_size=3)
            proc = start_ingest(corpus, env)
            wait_for(lambda: count(url, "articles") >= 1, 180, "the first batch stored", proc)
            with write_lock(backend, url, app):
                kill(proc)
            stored = count(url, "articles")
            assert 1 <= stored < len(corpus), "the kill did not land in the middle of the run"
            assert hook.received == [], "alerts went out before the run was killed"

            result = run_ingest(corpus, env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"{stored} already stored" in result.stdout
            assert_same(snapshot(url), clean_run.snapshot)
            assert sorted(hook.messages()) == clean_run.messages
    finally:
        hook.stop()


@pytest.mark.slow
def test_kill_9_while_an_alert_is_in_flight_resends_only_that_one(
    request: pytest.FixtureRequest, tmp_path: Path, corpus: list[str],
    clean_run: CleanRun, prefect_api_url: str,
) -> None:
    """kill -9 while the channel holds the third delivery unanswered; rerun.

    Protection: each alert is recorded as sent right after the channel accepted it, in the
    transaction that claimed it, so the two accepted before the kill are not sent again and
    the one cut off in flight is still undelivered and goes out on the rerun: the channel
    sees each alert once (delivery is at least once only for a request in flight at a kill).
    """
    hook = Webhook().start()
    hook.hold.set()
    hook.hold_from = 2
    try:
        with database("sqlite", request, tmp_path, "nw_inflight") as url:
            env = ingest_env(url, api_url=prefect_api_url, notify=hook.url)
            proc = start_ingest(corpus, env)
            wait_for(hook.arrived.is_set, 240, "the third alert to reach the channel", proc)
            kill(proc)
            hook.hold.clear()
            hook.release.set()
            assert len(hook.received) == 2

            result = run_ingest(corpus, env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert_same(snapshot(url), clean_run.snapshot)
            assert sorted(hook.messages()) == clean_run.messages
    finally:
        hook.stop()


# ---------------------------------------------------------------------------------------------
# A locked SQLite database


@pytest.mark.slow
def test_sqlite_locked_by_another_writer_waits_and_completes(
    tmp_path: Path, corpus: list[str], clean_run: CleanRun, prefect_api_url: str,
) -> None:
    """Another process holds the write lock for 10 s in the middle of the run.

    Protection: SQLite's busy timeout (the run waits for the lock, up to 30 s a statement)
    with the store task's retries behind it. The run ends as an undisturbed one.
    """
    hook = Webhook().start()
    url = f"sqlite:///{tmp_path / 'newswatch.db'}"
    try:
        env = ingest_env(url, api_url=prefect_api_url, notify=hook.url, batch_size=3)
        proc = start_ingest(corpus, env)
        wait_for(lambda: count(url, "articles") >= 1, 180, "the first batch stored", proc)
        conn = sqlite3.connect(tmp_path / "newswatch.db", timeout=60, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held_at = count(url, "articles")
        time.sleep(10)
        assert count(url, "articles") == held_at, "the ingest wrote through the lock"
        conn.rollback()
        conn.close()
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, out + err
        assert_same(snapshot(url), clean_run.snapshot)
        assert sorted(hook.messages()) == clean_run.messages
    finally:
        hook.stop()


@pytest.mark.slow
def test_sqlite_locked_for_too_long_fails_clearly_without_damage(
    tmp_path: Path, corpus: list[str], clean_run: CleanRun, prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch, prefect_api_url: str,
) -> None:
    """The write lock is held for the whole run: the run gives up within its bound.

    The bound is the busy timeout (30 s; shortened here to 0.2 s) on each of the store task's
    four attempts (retries after 1, 2 and 4 s). The user sees one `Error:` line naming the
    database, the database passes `PRAGMA integrity_check`, and a rerun completes normally.
    """
    from typer.testing import CliRunner

    import newswatch.db.session
    from newswatch.cli import app
    from newswatch.db.migrate import upgrade

    path = tmp_path / "newswatch.db"
    url = f"sqlite:///{path}"
    monkeypatch.setattr(newswatch.db.session, "SQLITE_BUSY_TIMEOUT_MS", 200)
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", url)
    monkeypatch.delenv("NEWSWATCH_NOTIFY", raising=False)
    upgrade(url)
    lock = sqlite3.connect(path, timeout=60, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        result = CliRunner().invoke(app, ["ingest", *corpus[:2], "--published", "2021-12-17"])
        elapsed = time.monotonic() - started
    finally:
        lock.rollback()
        lock.close()
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        f"Error: database {url} failed: database is locked. "
        "Check NEWSWATCH_DATABASE_URL and that the database is reachable and not locked."
    )
    assert "[parameters:" not in result.output, "statement parameters were logged"
    assert 7 <= elapsed < 60, f"gave up after {elapsed:.1f} s"

    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert check.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    rerun = run_ingest(corpus, ingest_env(url, api_url=prefect_api_url))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    expected = {k: v for k, v in clean_run.snapshot.items() if k != "alerts"}
    assert_same({k: v for k, v in snapshot(url).items() if k != "alerts"}, expected)


# ---------------------------------------------------------------------------------------------
# PostgreSQL connections killed


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_connection_killed_mid_run_is_retried(
    postgres_server: str, corpus: list[str], clean_run: CleanRun, prefect_api_url: str,
) -> None:
    """pg_terminate_backend on the ingest's connection inside a batch's transaction.

    Protection: the store task's retries (the failed batch is stored again; articles the
    batch had already committed are recognised and skipped) and `pool_pre_ping` (the pool
    replaces the dead connection). The INSERT that failed carried the channel URL as a
    parameter: it must not appear in the error logged for the retry.
    """
    app = "nw_terminate"
    hook = Webhook().start()
    try:
        with postgres_schema(postgres_server, app) as url:
            env = ingest_env(url, api_url=prefect_api_url, notify=hook.url, batch_size=3,
                             PREFECT_LOGGING_LEVEL="INFO")
            proc = start_ingest(corpus, env, "--verbose")  # Prefect's retry lines
            wait_for(lambda: count(url, "articles") >= 1, 180, "the first batch stored", proc)
            with write_lock("postgresql", url, app) as pid, _pg(url) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, out + err
            assert "terminat" in err.lower(), "the connection was not killed mid-run"
            assert SECRET not in out + err
            assert_same(snapshot(url), clean_run.snapshot)
            assert sorted(hook.messages()) == clean_run.messages
    finally:
        hook.stop()


@pytest.mark.postgres
def test_postgres_pool_replaces_connections_the_server_dropped(postgres_server: str) -> None:
    """A pooled connection the server dropped (restart, idle kill) is replaced before use.

    Protection: `pool_pre_ping=True` on the PostgreSQL engine; without it the next query
    on the dead pooled connection fails.
    """
    from sqlalchemy import text

    from newswatch.db.session import connect, open_session

    with postgres_schema(postgres_server, "nw_preping") as url, connect(url) as engine:
        with open_session(engine) as session:
            first = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with _pg(url) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        with open_session(engine) as session:
            second = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
