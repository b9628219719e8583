"""Joins the three branches written side by side from 0001: item version authorship (0002), regions and
search (0003), information disclosure (0004). They touch different tables, so the merge changes nothing.

Revision ID: 0005
Revises: 0002, 0003, 0004
Create Date: 2026-11-25
"""

revision = "0005"
down_revision = ("0002", "0003", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
