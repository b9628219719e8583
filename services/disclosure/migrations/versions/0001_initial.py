"""Initial tables: item versions, case summaries, public results, messaging.

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
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("region_scope", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column("retire_reason", sa.Text, nullable=False),
    )
    op.create_index("ix_item_version_status_scope", "item_version", ["status", "region_scope"])
    op.create_table(
        "case_summary",
        sa.Column("case_no", sa.String(50), primary_key=True),
        sa.Column("item_code", sa.String(64)),
        sa.Column("item_name", sa.String(200)),
        sa.Column("region_code", sa.String(12)),
        sa.Column("applicant_type", sa.String(2), nullable=False),
        sa.Column("applicant_name_masked", sa.String(100), nullable=False),
        sa.Column("applicant_id_masked", sa.String(40), nullable=False),
        sa.Column("applicant_phone_masked", sa.String(20), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("decision", sa.String(16)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "public_result",
        sa.Column("case_no", sa.String(50), primary_key=True),
        sa.Column("item_code", sa.String(64), nullable=False, index=True),
        sa.Column("item_name", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("applicant_name_masked", sa.String(100), nullable=False),
        sa.Column("applicant_id_masked", sa.String(40), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("result_summary", sa.Text, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("parked_event", "inbox", "outbox", "public_result", "case_summary", "item_version"):
        op.drop_table(table)
