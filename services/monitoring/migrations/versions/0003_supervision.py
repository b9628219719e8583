"""One clock engine for every subject: event log, clocks, alerts, ratings (replaces case_clock).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first version's tables held only case clocks; nothing is deployed yet, so they go rather than migrate.
    op.drop_table("case_clock")
    op.drop_table("case_event_log")
    op.create_table(
        "subject_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_no", sa.String(64), nullable=False, index=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_table(
        "supervision_clock",
        sa.Column("clock_id", sa.String(160), primary_key=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_no", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("item_type", sa.String(4), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(20)),
        sa.Column("provisional", sa.Boolean, nullable=False),
        sa.Column("limits", sa.JSON, nullable=False),
        sa.Column("level_instants", sa.JSON, nullable=False),
        sa.Column("used_days", sa.Float),
        sa.Column("speed_up_ratio", sa.Float),
        sa.Column("next_timer_at", sa.DateTime(timezone=True), index=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert",
        sa.Column("alert_no", sa.String(40), primary_key=True),
        sa.Column("claim", sa.String(300), nullable=False, unique=True),
        sa.Column("clock_id", sa.String(160)),
        sa.Column("subject_no", sa.String(64), nullable=False, index=True),
        sa.Column("level", sa.String(16), nullable=False, index=True),
        sa.Column("rule", sa.String(64), nullable=False, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "rating",
        sa.Column("rating_no", sa.String(64), primary_key=True),
        sa.Column("case_no", sa.String(64), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("rating", "alert", "supervision_clock", "subject_event"):
        op.drop_table(table)
