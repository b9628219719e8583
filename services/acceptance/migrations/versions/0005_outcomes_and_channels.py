"""The outcomes of Art. 32, channels, supplements, fees: case_record columns and the case_fee table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

Every new column is nullable (or has a server default), so cases stored before this revision stay valid:
their outcome is their status, they have no printable document until acceptance writes one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = (
    sa.Column("outcome", sa.String(30)),
    sa.Column("outcome_document", sa.JSON),
    sa.Column("item_definition", sa.JSON),
    sa.Column("agent", sa.JSON),
    sa.Column("acting_for", sa.JSON),
    sa.Column("imported", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("refusal", sa.JSON),
    sa.Column("corrections", sa.JSON),
    sa.Column("deferred_materials", sa.JSON),
    sa.Column("deferred_due_date", sa.String(10)),
    sa.Column("supplied_at", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("case_record") as batch:
        for column in _COLUMNS:
            batch.add_column(column._copy())
    op.create_table(
        "case_fee",
        sa.Column("case_no", sa.String(50), primary_key=True),
        sa.Column("receipt_no", sa.String(60), nullable=False, unique=True),
        sa.Column("amount_fen", sa.Integer, nullable=False),
        sa.Column("fee_item", sa.String(200), nullable=False),
        sa.Column("clerk", sa.JSON, nullable=False),
        sa.Column("acting_for", sa.JSON),
        sa.Column("charged_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_fee")
    with op.batch_alter_table("case_record") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column.name)
