"""Engines and sessions for the configured database (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from newswatch.pipeline.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: SQLite's page cache per connection (default 2 MB). A batch's inserts touch index pages all
#: over a big database; with 2 MB they are read and spilled again and again (store step at 100k
#: stored articles: 14.1 -> 12.9 ms per article, benchmarks/README.md). Filled only as used.
SQLITE_CACHE_KB = 32 * 1024


def redact_url(url: str) -> str:
    """Return the database URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine on `url`; the caller disposes it (`connect` does both).

    SQLite gets WAL and a busy timeout so a second writer waits instead of failing;
    PostgreSQL connections are checked before use so a restarted server is survived.
    Statement parameters are kept out of error messages: they hold channel URLs (secrets)
    and whole articles, and Prefect logs a failed task's exception chain.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
    return engine


@contextmanager
def connect(url: str) -> Iterator[Engine]:
    """Create the engine of one command or flow run; dispose it when the run ends.

    Disposing closes every pooled connection: a finished run leaves none open on the server.
    """
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def engine_for(bind: Engine | str) -> Iterator[Engine]:
    """Yield `bind` when it is an engine; for a URL, a one-off engine disposed on exit."""
    if isinstance(bind, Engine):
        yield bind
    else:
        with connect(bind) as engine:
            yield engine


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def open_session(bind: Engine | str) -> Iterator[Session]:
    """Open a session on the run's engine; the caller commits inside `with session.begin()`.

    Given a URL instead (a test, a script), the session gets a one-off engine, disposed with it.
    Connection failures become a StoreError naming the (redacted) URL.
    """
    with engine_for(bind) as engine:
        session = Session(engine, expire_on_commit=False)
        try:
            yield session
        except OperationalError as exc:
            raise StoreError(
                f"database {_shown(engine)} failed: {exc.orig or exc}. "
                "Check NEWSWATCH_DATABASE_URL and that the database is reachable and not locked."
            ) from exc
        finally:
            session.close()


def has_schema(engine: Engine) -> bool:
    """Tell whether the newswatch tables exist (read commands check before querying)."""
    try:
        return inspect(engine).has_table("events")
    except OperationalError as exc:
        raise StoreError(f"database {_shown(engine)} cannot be opened: {exc.orig or exc}") from exc
