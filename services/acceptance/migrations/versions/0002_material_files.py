"""Material files: content rows by sha256 and the names each upload gave them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

A branch from 0001 beside other work on acceptance; the service upgrades to "heads".
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "material_file",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_material_file"),
    )
    op.create_table(
        "material_file_name",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_material_file_name"),
        sa.ForeignKeyConstraint(["sha256"], ["material_file.sha256"],
                                name="fk_material_file_name_sha256_material_file"),
    )
    op.create_index("ix_material_file_name_sha256", "material_file_name", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_material_file_name_sha256", table_name="material_file_name")
    op.drop_table("material_file_name")
    op.drop_table("material_file")
