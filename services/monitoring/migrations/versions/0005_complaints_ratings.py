"""Complaints and ratings received by monitoring: complaints, their history and numbers, rateable cases,
submitted ratings, idempotency keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from services.common.idempotency import create_idempotency_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("complaint_no", sa.String(40), primary_key=True),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("named", sa.Boolean, nullable=False),
        sa.Column("name", sa.String(50)),
        sa.Column("contact", sa.String(100)),
        sa.Column("about_case_no", sa.String(50)),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("query_code_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("to_unit", sa.String(100)),
        sa.Column("answer", sa.Text),
        sa.Column("not_accepted_reason", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "complaint_action",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("complaint_no", sa.String(40), nullable=False, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "complaint_sequence",
        sa.Column("scope", sa.String(12), primary_key=True),
        sa.Column("day", sa.String(8), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_table(
        "rated_case",
        sa.Column("case_no", sa.String(64), primary_key=True),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("id_suffix_digest", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "rating_submission",
        sa.Column("rating_no", sa.String(40), primary_key=True),
        sa.Column("case_no", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("bad", sa.Boolean, nullable=False, index=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("rectification", sa.Text),
        sa.Column("rectified_at", sa.DateTime(timezone=True)),
        sa.Column("rectified_by", sa.String(200)),
        sa.UniqueConstraint("case_no", "channel", name="uq_rating_submission_case_channel"),
    )
    create_idempotency_table()


def downgrade() -> None:
    for table in ("idempotency_key", "rating_submission", "rated_case", "complaint_sequence", "complaint_action",
                  "complaint"):
        op.drop_table(table)
