"""Initial tables: case clocks, case event log, messaging.

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
        "case_clock",
        sa.Column("case_no", sa.String(50), primary_key=True),
        sa.Column("clock_id", sa.String(80), nullable=False, unique=True),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("item_version", sa.Integer, nullable=False),
        sa.Column("item_name", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promised_limit", sa.JSON, nullable=False),
        sa.Column("legal_limit", sa.JSON, nullable=False),
        sa.Column("promised_due_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("promised_due_provisional", sa.Boolean, nullable=False),
        sa.Column("legal_due_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("legal_due_provisional", sa.Boolean, nullable=False),
        sa.Column("current_step_code", sa.String(64)),
        sa.Column("current_step_name", sa.String(200)),
        sa.Column("current_step_started_at", sa.DateTime(timezone=True)),
        sa.Column("open_suspensions", sa.JSON, nullable=False),
        sa.Column("verdict", sa.String(20)),
        sa.Column("used_working_days", sa.Integer),
        sa.Column("speed_up_ratio", sa.Float),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "case_event_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("case_no", sa.String(50), nullable=False, index=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("parked_event", "inbox", "outbox", "case_event_log", "case_clock"):
        op.drop_table(table)
