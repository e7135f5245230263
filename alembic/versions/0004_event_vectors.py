"""events keep the sentence vector of their content

Event identity compares meaning as well as words (pipeline/dedup.py, `identity_score`): each
event keeps the sentence vector of its content framed by its actors (float16, 768 bytes for
all-MiniLM-L6-v2), computed once, when the event is stored or first compared, so a lookup
reads the candidates' vectors and never embeds an old event again. Nullable: events stored
without a model (NEWSWATCH_EMBEDDING_MODEL=none) or before this revision have none until a
comparison needs one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('content_vector', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.drop_column('content_vector')
