"""reads of the web view: covering event indexes, alerts by topic, why a topic matched by meaning

The events listing (newest first), the actor pages and the facets read the type and both
actor codes of many events: the indexes on `event_date`, `source_code` and `target_code` are
widened to carry those columns, so those reads never visit the table (100k stored articles,
SQLite: an actor's page 0.3 s -> 20 ms), and events of one type get one, newest first (without
it `--type DEMAND` sorted all 200k demands). Alerts get an index by topic, newest first (the
alerts page, the per-topic Atom feed). A topic match by meaning keeps the topic example
nearest to the event's sentence and its cosine (`example`, `score`), which the event page
shows as the reason; matches by pattern words keep NULL there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: (old index, old columns, new index, new columns) on events
_WIDENED = (
    ('ix_events_event_date', ['event_date'],
     'ix_events_event_date_type_source_code_target_code', ['event_date', 'type', 'source_code', 'target_code']),
    ('ix_events_source_code_event_date', ['source_code', 'event_date'],
     'ix_events_source_code_event_date_type_target_code', ['source_code', 'event_date', 'type', 'target_code']),
    ('ix_events_target_code_event_date', ['target_code', 'event_date'],
     'ix_events_target_code_event_date_type_source_code', ['target_code', 'event_date', 'type', 'source_code']),
)


def upgrade() -> None:
    for old, _, new, columns in _WIDENED:
        op.create_index(new, 'events', columns, unique=False)
        op.drop_index(old, table_name='events')
    op.create_index('ix_events_type_event_date_source_code_target_code', 'events',
                    ['type', 'event_date', 'source_code', 'target_code'], unique=False)
    op.create_index('ix_alerts_topic_id', 'alerts', ['topic', 'id'], unique=False)
    with op.batch_alter_table('topic_matches') as batch:
        batch.add_column(sa.Column('example', sa.Text(), nullable=True))
        batch.add_column(sa.Column('score', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('topic_matches') as batch:
        batch.drop_column('score')
        batch.drop_column('example')
    op.drop_index('ix_alerts_topic_id', table_name='alerts')
    op.drop_index('ix_events_type_event_date_source_code_target_code', table_name='events')
    for old, old_columns, new, _ in _WIDENED:
        op.create_index(old, 'events', old_columns, unique=False)
        op.drop_index(new, table_name='events')
