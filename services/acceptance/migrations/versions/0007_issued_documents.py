"""The documents a case was issued before its current one (a 一次性告知书 before the receipt).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

Empty on earlier cases: their earlier documents were not kept, and only the current one prints.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_record") as batch:
        batch.add_column(sa.Column("issued_documents", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("case_record") as batch:
        batch.drop_column("issued_documents")
