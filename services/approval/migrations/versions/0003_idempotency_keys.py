"""Idempotency-Key records for approval's actions (a retried action replays its first answer).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

from services.common.idempotency import DEFAULT_TABLE, create_idempotency_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_table()


def downgrade() -> None:
    op.drop_table(DEFAULT_TABLE)
