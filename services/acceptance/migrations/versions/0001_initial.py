"""Initial tables: catalogue replica, cases, sequences, messaging.

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
        "catalogue_item",
        sa.Column("item_code", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "case_record",
        sa.Column("case_no", sa.String(50), primary_key=True),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("item_version", sa.Integer, nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("applicant", sa.JSON, nullable=False),
        sa.Column("materials", sa.JSON, nullable=False),
        sa.Column("missing", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("promised_due_date", sa.String(10)),
        sa.Column("document_no", sa.String(60), nullable=False),
        sa.Column("clerk", sa.JSON, nullable=False),
    )
    op.create_table(
        "case_sequence",
        sa.Column("region_code", sa.String(12), primary_key=True),
        sa.Column("day", sa.String(8), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("parked_event", "inbox", "outbox", "case_sequence", "case_record", "catalogue_item"):
        op.drop_table(table)
