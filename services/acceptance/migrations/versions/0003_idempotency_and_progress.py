"""Idempotency keys, the progress read model (办件进度) and withdrawals.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25

A branch beside 0002 (material files); the service upgrades to "heads".
"""

import sqlalchemy as sa
from alembic import op

from services.acceptance.handlers import id_suffix_digest
from services.common.idempotency import create_idempotency_table

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_table()
    op.create_table(
        "case_progress",
        sa.Column("case_no", sa.String(50), primary_key=True),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("id_suffix_digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("step_name", sa.String(200)),
        sa.Column("promised_due_date", sa.String(10)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "case_withdrawal",
        sa.Column("case_no", sa.String(50), primary_key=True),
        sa.Column("request_ref", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("clerk", sa.JSON, nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
    )
    _backfill_progress()


def _backfill_progress() -> None:
    """Cases accepted before this revision get a progress row at their acceptance status; the new case
    consumer group then reads the topic from its start and brings them up to date where it still holds them."""
    bind = op.get_bind()
    cases = sa.table("case_record", sa.column("case_no"), sa.column("region_code"), sa.column("status"),
                     sa.column("applicant", sa.JSON), sa.column("promised_due_date"), sa.column("received_at"),
                     sa.column("accepted_at"))
    progress = sa.table("case_progress", sa.column("case_no"), sa.column("region_code"),
                        sa.column("id_suffix_digest"), sa.column("status"), sa.column("promised_due_date"),
                        sa.column("updated_at"))
    rows = [
        dict(case_no=r.case_no, region_code=r.region_code,
             id_suffix_digest=id_suffix_digest(r.case_no, r.applicant["id_number"]), status=r.status,
             promised_due_date=r.promised_due_date, updated_at=r.accepted_at or r.received_at)
        for r in bind.execute(sa.select(cases))
    ]
    if rows:
        bind.execute(sa.insert(progress), rows)


def downgrade() -> None:
    for table in ("case_withdrawal", "case_progress", "idempotency_key"):
        op.drop_table(table)
