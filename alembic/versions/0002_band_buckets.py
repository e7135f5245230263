"""LSH band keys stored by week

The band index was ordered by band key alone: every article stored wrote 40 keys onto pages
scattered over the whole index, a cost that grew with the database. Keys are now stored under
the week of the article's date (its `published` date, else the day it was ingested), ordered by
week first, and SQLite keeps them in the primary key itself (WITHOUT ROWID).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 18:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: pipeline.dedup.BUCKET_DAYS when this migration was written (the rule is frozen here).
_BUCKET_DAYS = 7


def _bucket_sql(dialect: str) -> str:
    """SQL for pipeline.dedup.band_bucket of article `a`'s date: date.toordinal() // 7."""
    if dialect == "postgresql":
        day = "COALESCE(a.published, (a.ingested_at AT TIME ZONE 'UTC')::date)"
        return f"(({day} - DATE '0001-01-01') + 1) / {_BUCKET_DAYS}"
    # SQLite stores dates as text: julianday('0001-01-01') is 1721425.5 and toordinal() there is 1
    day = "COALESCE(a.published, substr(a.ingested_at, 1, 10))"
    return f"CAST(julianday({day}) - 1721424.5 AS INTEGER) / {_BUCKET_DAYS}"


def _set_aside(dialect: str) -> None:
    """Rename the current table out of the way, freeing the names the new one takes."""
    op.drop_index('ix_article_bands_article_id', table_name='article_bands')
    op.rename_table('article_bands', 'article_bands_old')
    if dialect == "postgresql":  # a primary key's name is an index name there: it must be free
        op.execute("ALTER TABLE article_bands_old RENAME CONSTRAINT pk_article_bands TO pk_article_bands_old")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _set_aside(dialect)
    op.create_table('article_bands',
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('band', sa.BigInteger(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_article_bands_article_id_articles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bucket', 'band', 'article_id', name=op.f('pk_article_bands')),
    sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO article_bands (bucket, band, article_id) "
        f"SELECT {_bucket_sql(dialect)}, b.band, b.article_id "
        "FROM article_bands_old b JOIN articles a ON a.id = b.article_id "
        "ORDER BY 1, 2, 3"
    )
    op.drop_table('article_bands_old')
    op.create_index('ix_article_bands_article_id', 'article_bands', ['article_id'], unique=False)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _set_aside(dialect)
    op.create_table('article_bands',
    sa.Column('band', sa.BigInteger(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_article_bands_article_id_articles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('band', 'article_id', name=op.f('pk_article_bands'))
    )
    op.execute("INSERT INTO article_bands (band, article_id) SELECT DISTINCT band, article_id FROM article_bands_old")
    op.drop_table('article_bands_old')
    op.create_index('ix_article_bands_article_id', 'article_bands', ['article_id'], unique=False)
