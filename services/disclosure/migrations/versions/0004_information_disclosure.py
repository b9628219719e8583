"""Information disclosure (政府信息公开): directory categories, documents and revisions, attachments,
requests and their number sequence.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "information_category",
        sa.Column("region_code", sa.String(12), primary_key=True),
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("parent_code", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "information_attachment",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
    )
    op.create_table(
        "information_document",
        sa.Column("doc_id", sa.String(40), primary_key=True),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_revision", sa.Integer, nullable=False),
        sa.Column("category_code", sa.String(32), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("issuing_body", sa.String(100), nullable=False),
        sa.Column("document_number", sa.String(100), nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("validity", sa.String(16), nullable=False),
        sa.Column("valid_to", sa.Date),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
        sa.Column("withdraw_reason", sa.Text, nullable=False),
    )
    op.create_index("ix_information_document_region_status", "information_document", ["region_code", "status"])
    op.create_index("ix_information_document_published_at", "information_document", ["published_at"])
    op.create_table(
        "information_document_revision",
        sa.Column("doc_id", sa.String(40), sa.ForeignKey("information_document.doc_id"), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "information_request_sequence",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("last_value", sa.Integer, nullable=False),
    )
    op.create_table(
        "information_request",
        sa.Column("request_no", sa.String(50), primary_key=True),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("agency", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("receipt_month", sa.String(7), nullable=False),
        sa.Column("applicant_kind", sa.String(32), nullable=False),
        sa.Column("applicant_key", sa.String(64), nullable=False),
        sa.Column("applicant", sa.JSON, nullable=False),
        sa.Column("information_wanted", sa.Text, nullable=False),
        sa.Column("delivery_form", sa.String(20), nullable=False),
        sa.Column("access_code_hash", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("concluded_at", sa.DateTime(timezone=True)),
        sa.Column("fee_yuan", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_information_request_region_state", "information_request", ["region_code", "state"])
    op.create_index("ix_information_request_applicant_month", "information_request",
                    ["applicant_key", "receipt_month"])


def downgrade() -> None:
    for table in ("information_request", "information_request_sequence", "information_document_revision",
                  "information_document", "information_attachment", "information_category"):
        op.drop_table(table)
