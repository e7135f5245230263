"""Dialect-specific INSERT ... ON CONFLICT statements, shared by the writing modules."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_function(dialect: str) -> Any:
    """Return the dialect's `insert`, the one that offers ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@cache
def insert_ignoring(dialect: str, table: Any, keys: tuple[str, ...], returning: Any = None) -> Any:
    """Return INSERT ... ON CONFLICT (keys) DO NOTHING [RETURNING column(s)], built once per table.

    Executed with the row as parameters: building a statement per row costs more than
    running it (the store step writes a few dozen rows per article).
    """
    stmt = insert_function(dialect)(table).on_conflict_do_nothing(index_elements=list(keys))
    if returning is None:
        return stmt
    return stmt.returning(*returning) if isinstance(returning, tuple) else stmt.returning(returning)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_for(session: Session, table: Any) -> Any:
    """Return an INSERT for the session's dialect that supports ON CONFLICT.

    Writers run it on `session.connection()` (Core, same transaction): these rows need no
    identity map, and the ORM's bulk-insert path costs about twice as much per statement.
    """
    return insert_function(dialect_of(session))(table)
