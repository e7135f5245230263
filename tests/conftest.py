"""Shared fixtures: databases (SQLite file and PostgreSQL schema), settings, Prefect harness."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._http import LocalServer

# Prefect must never touch the user's ~/.prefect; set before anything imports prefect.
_PREFECT_HOME = tempfile.mkdtemp(prefix="newswatch-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Every PostgreSQL connection this test run opens (and its `newswatch` subprocesses, which
# inherit the environment) carries this name, unless a test names its own: the connection
# check below counts them, and other test runs on the same server do not disturb the count.
TEST_RUN_APP = f"newswatch-tests-{os.getpid()}"
os.environ["PGAPPNAME"] = TEST_RUN_APP

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "seeds" / "000_30228fdb78730024.txt"
POSTGRES_URL = os.environ.get(
    "NEWSWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server URL; CI must have one (CI=true fails instead of skipping)."""
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} (required in CI)")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    return POSTGRES_URL


def _fresh_postgres_schema(server: str) -> Iterator[str]:
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = server.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file in a temporary folder, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newswatch.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        yield from _fresh_postgres_schema(server)


@pytest.fixture
def db(database_url: str) -> Iterator[str]:
    """A migrated database (URL) with the newswatch schema."""
    from newswatch.db.migrate import upgrade

    upgrade(database_url)
    yield database_url


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """Point NEWSWATCH_DATABASE_URL at a fresh database (read by each command and flow run)."""

    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", database_url)
    monkeypatch.delenv("NEWSWATCH_NOTIFY", raising=False)
    monkeypatch.delenv("NEWSWATCH_FEEDS", raising=False)
    return database_url


def _test_run_connections(conn: object) -> int:
    """This test run's connections to the test database, the counting one left out."""
    row = conn.execute(  # type: ignore[attr-defined]
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = %s AND pid <> pg_backend_pid()",
        (TEST_RUN_APP,),
    ).fetchone()
    return int(row[0])


@pytest.fixture(scope="session", autouse=True)
def postgres_connections_are_closed() -> Iterator[None]:
    """Fail the run if its database tests leave PostgreSQL connections open.

    Regression: every engine was cached per URL for the life of the process, and every test
    schema is a new URL, so one pytest process held 70+ idle connections and a fresh clone's
    `make test` failed with "too many clients already". Engines now belong to one command or
    flow run and are disposed when it ends. Counted before the first test and after the last
    one (session fixtures such as the Prefect harness are torn down first).
    """
    if not _postgres_available():
        yield
        return
    import psycopg

    plain = POSTGRES_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain, autocommit=True, application_name="newswatch-connection-check") as conn:
        before = _test_run_connections(conn)
        yield
        deadline = time.monotonic() + 10  # a backend whose client just exited may linger a moment
        while (after := _test_run_connections(conn)) > before and time.monotonic() < deadline:
            time.sleep(0.2)
    if after > before:
        pytest.fail(f"the test run left {after - before} PostgreSQL connection(s) open "
                    f"({before} before the first test, {after} after the last)")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole test run (starting one takes ~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def nlp():  # type: ignore[no-untyped-def]
    """The real packaged spaCy pipeline with the newswatch components, loaded once."""
    from newswatch.pipeline.analysis import load_nlp
    from newswatch.pipeline.settings import Settings

    s = Settings()
    return load_nlp(s.spacy_model, str(s.actors), str(s.triggers))


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The real configured sentence-embedding model (all-MiniLM-L6-v2), loaded once."""
    from newswatch.pipeline.embed import make_embedder
    from newswatch.pipeline.settings import Settings

    made = make_embedder(Settings().embedding_model)
    assert made is not None, "tests need the meaning model (NEWSWATCH_EMBEDDING_MODEL is none)"
    return made


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 (any free port) whose routes a test sets."""
    srv = LocalServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def web_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, nlp, embedder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database (SQLite file, PostgreSQL schema) holding the seed article and a markup article,
    stored by real ingests (tests/_web.py), for the web view's tests."""
    from tests._web import fill_database

    folder = tmp_path_factory.mktemp(f"web-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'newswatch.db'}"
        fill_database(url, folder, nlp, embedder)
        yield url
    else:
        for url in _fresh_postgres_schema(request.getfixturevalue("postgres_server")):
            fill_database(url, folder, nlp, embedder)
            yield url


@pytest.fixture(scope="session")
def site(web_db: str) -> Iterator[str]:
    """The base URL of `newswatch web`'s app served by uvicorn on 127.0.0.1 over `web_db`."""
    from tests._web import serve

    with serve(web_db) as base:
        yield base
