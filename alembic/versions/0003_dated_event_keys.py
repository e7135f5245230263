"""event keys begin with the event's date

An event key was a SHA-256 of the event's identity: random, so every event stored wrote to a
page anywhere in the unique index, a cost that grew with the database. Keys are now
`YYYY-MM-DD/` and the hash's first 40 hex digits, so one day's keys sit together in the index.
The hash is unchanged, so upgrading rewrites each key in place, and the store step, which
computes the same key for the same event on the same date, still finds it on a rerun.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:40:00
"""
import hashlib
from typing import Any, Sequence, Union

from alembic import op

import sqlalchemy as sa


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_DIGITS = 40  # pipeline.dedup.EVENT_KEY_DIGITS when this was written


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        day = "to_char(event_date, 'YYYY-MM-DD')"
    else:  # SQLite stores a date as YYYY-MM-DD text
        day = "event_date"
    op.execute(
        f"UPDATE events SET event_key = COALESCE({day}, '-') || '/' || substr(event_key, 1, {_DIGITS}) "
        "WHERE event_key NOT LIKE '%/%'"
    )


def _old_key(row: sa.Row[Any]) -> str:
    """The key as the code before this revision computed it (a frozen copy of its rule)."""
    parts = [
        row.type,
        row.source_code or row.source_name or "",
        row.target_code or row.target_name or "",
        " ".join(row.content.lower().split()),
        row.event_date.isoformat() if row.event_date else "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def downgrade() -> None:
    events = sa.table(
        "events", sa.column("id", sa.Integer), sa.column("event_key", sa.String), sa.column("type", sa.String),
        sa.column("source_code", sa.String), sa.column("source_name", sa.String),
        sa.column("target_code", sa.String), sa.column("target_name", sa.String),
        sa.column("content", sa.Text), sa.column("event_date", sa.Date),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(events).where(events.c.event_key.like("%/%"))).all()
    if rows:
        bind.execute(
            events.update().where(events.c.id == sa.bindparam("row_id")).values(event_key=sa.bindparam("key")),
            [{"row_id": row.id, "key": _old_key(row)} for row in rows],
        )
