"""Applications received but not yet decided: the decision's due instant and 视为受理.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Both columns are empty (false) on cases decided at the window, which is every case stored before this.
The index serves the sweep that finds received cases whose 5 working days have run out.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_record") as batch:
        batch.add_column(sa.Column("decision_due_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("deemed_accepted", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_case_record_status_decision_due_at", "case_record", ["status", "decision_due_at"])


def downgrade() -> None:
    op.drop_index("ix_case_record_status_decision_due_at", table_name="case_record")
    with op.batch_alter_table("case_record") as batch:
        batch.drop_column("deemed_accepted")
        batch.drop_column("decision_due_at")
