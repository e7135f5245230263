"""alert states say what happened: stored (no channel) and retrying

Alerts raised with no channel were written as `sent` with no attempt; they become `stored`.
Alerts tried and not delivered were `pending` like untried ones; they become `retrying`.
`failed` keeps its name and now means given up (only `newswatch alerts retry` sends it again).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("UPDATE alerts SET status = 'stored', sent_at = NULL WHERE channel = '' AND status = 'sent'")
    op.execute("UPDATE alerts SET status = 'retrying' WHERE status = 'pending' AND attempts > 0")


def downgrade() -> None:
    op.execute("UPDATE alerts SET status = 'pending' WHERE status = 'retrying'")
    op.execute("UPDATE alerts SET status = 'sent', sent_at = created_at WHERE status = 'stored'")
