"""event search on PostgreSQL by trigrams: `--search` and the web view's search box

`events --search ceasefire` is `lower(content) LIKE '%ceasefire%'`, which no B-tree index can
serve: on PostgreSQL with 100k stored articles (450k events) the search took 436 ms at p95 in
the web view. A GIN trigram index on `lower(content)` (extension pg_trgm, a trusted extension
since PostgreSQL 13: the database owner may create it) serves such LIKE patterns directly.
SQLite has no such index; its scan of the same events stays within 60 ms.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:40:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.execute('CREATE INDEX IF NOT EXISTS ix_events_content_trgm ON events '
               'USING gin (lower(content) gin_trgm_ops)')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP INDEX IF EXISTS ix_events_content_trgm')
