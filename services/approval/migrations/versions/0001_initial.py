"""Initial tables: catalogue replica by version, cases, tasks, messaging.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from services.common.messaging.tables import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_version",
        sa.Column("item_code", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("process", sa.JSON, nullable=False),
        sa.Column("publish_results", sa.Boolean, nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "approval_case",
        sa.Column("case_no", sa.String(50), primary_key=True),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("item_version", sa.Integer, nullable=False),
        sa.Column("item_name", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("applicant_type", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("process", sa.JSON, nullable=False),
        sa.Column("process_source", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(8)),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "approval_task",
        sa.Column("task_id", sa.String(36), primary_key=True),
        sa.Column("case_no", sa.String(50), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("step_code", sa.String(64), nullable=False),
        sa.Column("step_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("time_limit", sa.JSON),
        sa.Column("assignee", sa.String(64)),
        sa.Column("assignee_name", sa.String(100)),
        sa.Column("opinion", sa.Text),
        sa.Column("outcome", sa.String(8)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("case_no", "seq", name="uq_approval_task_case_no_seq"),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("parked_event", "inbox", "outbox", "approval_task", "approval_case", "item_version"):
        op.drop_table(table)
