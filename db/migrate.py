"""Applying the Alembic migrations to the configured database."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from newswatch.db.session import get_engine, redact_url
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


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema (idempotent).

    A database already at the newest schema is only read: no lock is taken, so a run starting
    while another writes is not held up here.
    """
    config = alembic_config(url)
    try:
        with get_engine(url).connect() as connection:
            if _at_head(connection, config):
                return
        with get_engine(url).begin() as connection:
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
            f"cannot migrate database {redact_url(url)}: {exc.orig or exc}. "
            "Check NEWSWATCH_DATABASE_URL and that the database is reachable."
        ) from exc
