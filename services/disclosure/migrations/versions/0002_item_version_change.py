"""Item versions record who changed the item and why (变更人, 变更原因).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Versions written before this revision keep an empty name and reason: nobody recorded them, and a
    # made-up value would be worse than a visible gap.
    op.add_column("item_version", sa.Column("created_by_name", sa.String(100), nullable=False, server_default=""))
    op.add_column("item_version", sa.Column("change_reason", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("item_version") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("change_reason")
        batch.drop_column("created_by_name")
