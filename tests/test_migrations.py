"""Migrations create the schema the models describe, and nothing drifts."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from db.migrate import upgrade
from db.models import Base
from db.session import get_engine


def test_upgrade_creates_every_table(db: str) -> None:
    tables = set(inspect(get_engine(db)).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_do_not_drift(db: str) -> None:
    with get_engine(db).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(db: str) -> None:
    upgrade(db)
    upgrade(db)
    assert "events" in inspect(get_engine(db)).get_table_names()
