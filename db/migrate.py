"""Applying the Alembic migrations to the configured database."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from newswatch.db.session import engine_for
from newswatch.pipeline.errors import StoreError

#: The migration scripts: the repository's `alembic/`, installed as `newswatch/migrations/`.
MIGRATIONS = Path(str(resources.files("newswatch") / "migrations"))
#: PostgreSQL advisory lock key held while migrating ("nwmigrat" as an integer).
MIGRATION_LOCK = 0x6E776D6967726174


def alembic_config(url: str) -> Config:
    """Return an Alembic config for `url` that needs no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _at_head(connection: Connection, config: Config) -> bool:
    current = set(MigrationContext.configure(connection).get_current_heads())
    return current == set(ScriptDirectory.from_config(config).get_heads())


def upgrade(bind: Engine | str) -> None:
    """Bring the database to the newest schema (idempotent).

    `bind` is the run's engine, or a URL (a one-off engine, disposed at the end). A database
    already at the newest schema is only read: no lock is taken, so a run starting while
    another writes is not held up here.
    """
    with engine_for(bind) as engine:
        _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.connect() as connection:
            if _at_head(connection, config):
                return
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # two ingests starting at once on a fresh database must not both create the
                # tables: the second waits here, then finds the schema at head
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            elif connection.dialect.name == "sqlite":
                # the same on SQLite: take the write lock before Alembic reads the version (the
                # driver would begin the transaction only at the first INSERT, after the DDL)
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise StoreError(
            f"cannot migrate database {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig or exc}. Check NEWSWATCH_DATABASE_URL and that the database is reachable."
        ) from exc


def schema_is_current(bind: Engine | str) -> bool:
    """Tell whether the database is at the newest revision (a reader needs its columns)."""
    with engine_for(bind) as engine, engine.connect() as connection:
        return _at_head(connection, alembic_config(engine.url.render_as_string(hide_password=False)))


def current_revision(bind: Engine | str) -> str | None:
    """The schema revision the database is at (None before the first migration)."""
    with engine_for(bind) as engine, engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None
