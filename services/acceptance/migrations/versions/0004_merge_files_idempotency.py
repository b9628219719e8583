"""Joins the two branches written side by side from 0001: material files (0002) and idempotency keys,
progress and withdrawals (0003). They touch different tables, so the merge changes nothing.

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2026-11-25
"""

revision = "0004"
down_revision = ("0002", "0003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
