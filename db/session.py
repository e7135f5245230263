"""Engines and sessions for the configured database (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session

from newswatch.pipeline.errors import SettingsError, StoreError

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
        # no URL, so no password field: a bare name ("newswatch.db") is shown as typed
        return url if "@" not in url and ":" not in url else "<unparseable database URL>"


def _reason(exc: DBAPIError) -> str:
    """The driver's first line (libpq adds hints on further lines)."""
    text = str(exc.orig or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: The backends newswatch's migrations and queries are written and tested for.
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_DRIVER_PACKAGES = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pysqlite": "sqlite3",
                    "asyncpg": "asyncpg", "pg8000": "pg8000"}
URL_HELP = ("use sqlite:///newswatch.db (a file in the working folder), sqlite:////abs/path.db, "
            "or postgresql+psycopg://user@host:5432/dbname")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other backends and in-memory databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def check_url(url: str) -> None:
    """Refuse, in one line, a database URL newswatch cannot use, before anything connects.

    A bare file name, an unsupported backend or a missing driver would otherwise surface as a
    traceback from deep inside SQLAlchemy; a SQLite file in a folder that does not exist fails
    only at the first write, with "unable to open database file".
    """
    name = "NEWSWATCH_DATABASE_URL"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(f"{name}={redact_url(url)!r} is not a database URL; {URL_HELP}") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise SettingsError(
            f"{name}: the {backend!r} backend is not supported (SQLite or PostgreSQL); {URL_HELP}"
        )
    driver = parsed.get_driver_name()
    if driver in ("asyncpg", "aiosqlite", "psycopg_async"):
        raise SettingsError(f"{name}: {driver!r} is an asyncio driver; use postgresql+psycopg://")
    package = _DRIVER_PACKAGES.get(driver, driver)
    if importlib.util.find_spec(package) is None:
        raise SettingsError(
            f"{name}: the driver {driver!r} is not installed; use postgresql+psycopg:// "
            "(psycopg 3 comes with newswatch)"
        )
    path = sqlite_path(url)
    if path is not None and not path.parent.is_dir():
        hint = f" (for the absolute path /{parsed.database} write sqlite:////{parsed.database})" \
            if not path.is_absolute() else ""
        raise SettingsError(f"{name}: the folder {path.parent} does not exist{hint}")


def check_reachable(url: str) -> None:
    """Open one connection now, so an unreachable or foreign database is one line, not a run."""
    check_url(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return  # a new file: its folder is there (check_url), and the run will create it
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            if engine.dialect.name == "sqlite":
                # a file that is not a database is only found when a page is read
                connection.exec_driver_sql("PRAGMA schema_version")
    except DBAPIError as exc:
        raise StoreError(
            f"database {_shown(engine)} cannot be used: {_reason(exc)}. "
            "Check NEWSWATCH_DATABASE_URL and that the database is reachable and not locked."
        ) from None
    finally:
        engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
    cursor.close()


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _postgres_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """Create an engine on `url`; the caller disposes it (`connect` does both).

    SQLite gets WAL and a busy timeout so a second writer waits instead of failing;
    PostgreSQL connections are checked before use so a restarted server is survived.
    Statement parameters are kept out of error messages: they hold channel URLs (secrets)
    and whole articles, and Prefect logs a failed task's exception chain. `read_only` (the web
    view) makes the database itself refuse any write on the engine's connections.
    """
    check_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        if read_only:
            event.listen(engine, "connect", _sqlite_read_only)
    else:
        # a server that does not answer is reported after 10 s instead of hanging the run
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True,
                               connect_args={"connect_timeout": 10})
        if read_only:
            event.listen(engine, "connect", _postgres_read_only)
    return engine


@contextmanager
def connect(url: str, *, read_only: bool = False) -> Iterator[Engine]:
    """Create the engine of one command or flow run; dispose it when the run ends.

    Disposing closes every pooled connection: a finished run leaves none open on the server.
    """
    engine = make_engine(url, read_only=read_only)
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
                f"database {_shown(engine)} failed: {_reason(exc)}. "
                "Check NEWSWATCH_DATABASE_URL and that the database is reachable and not locked."
            ) from exc
        finally:
            session.close()


def has_schema(engine: Engine) -> bool:
    """Tell whether the newswatch tables exist (read commands check before querying)."""
    try:
        return inspect(engine).has_table("events")
    except DBAPIError as exc:  # unreachable, locked, or a file that is not a database
        raise StoreError(f"database {_shown(engine)} cannot be opened: {_reason(exc)}") from exc
