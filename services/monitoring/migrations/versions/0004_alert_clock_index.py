"""Index the alerts by clock: every timer batch and every rebuild asks which levels a clock has raised.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alert_clock_id", "alert", ["clock_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_clock_id", table_name="alert")
