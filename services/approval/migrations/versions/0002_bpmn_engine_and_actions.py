"""Cases run by the BPMN engine, and the actions around the steps (补正, 特别程序, 延期, 制证, 送达).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Cases opened before this revision have no workflow state: they keep running on their frozen step list
(handlers fall back to it), so nothing in flight is lost. A task is now unique per BPMN element of its case
(several department tasks share a step's position).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CASE_COLUMNS = (
    sa.Column("workflow", sa.Text),  # SpiffWorkflow's serialized state
    sa.Column("process_bpmn", sa.Text),  # the pinned version's process, as run
    sa.Column("joint", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("extension", sa.JSON),  # 延长审批: limit, reason, approved_by, at
    sa.Column("supplement", sa.JSON),  # 审查中补正: the notice as issued
    sa.Column("suspension", sa.JSON),  # 特别程序 under way
    sa.Column("certificate", sa.JSON),  # 制证
    sa.Column("delivery", sa.JSON),  # 送达
    sa.Column("decided_at", sa.DateTime(timezone=True)),
)
_TASK_COLUMNS = (
    sa.Column("element_id", sa.String(64)),  # the BPMN user task it stands for
    sa.Column("kind", sa.String(16), nullable=False, server_default="step"),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_name", sa.String(100)),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("acting_for", sa.JSON),  # AB岗: the absent colleague the actor stood in for
    sa.Column("defaulted", sa.Boolean, nullable=False, server_default=sa.false()),  # 超时默认
)


def upgrade() -> None:
    with op.batch_alter_table("approval_case") as batch:
        batch.alter_column("status", type_=sa.String(30), existing_type=sa.String(16), existing_nullable=False)
        for column in _CASE_COLUMNS:
            batch.add_column(column._copy())
    with op.batch_alter_table("approval_task") as batch:
        batch.drop_constraint("uq_approval_task_case_no_seq", type_="unique")
        for column in _TASK_COLUMNS:
            batch.add_column(column._copy())
        batch.create_unique_constraint("uq_approval_task_case_no_element_id", ["case_no", "element_id"])


def downgrade() -> None:
    with op.batch_alter_table("approval_task") as batch:
        batch.drop_constraint("uq_approval_task_case_no_element_id", type_="unique")
        for column in reversed(_TASK_COLUMNS):
            batch.drop_column(column.name)
        batch.create_unique_constraint("uq_approval_task_case_no_seq", ["case_no", "seq"])
    with op.batch_alter_table("approval_case") as batch:
        for column in reversed(_CASE_COLUMNS):
            batch.drop_column(column.name)
        batch.alter_column("status", type_=sa.String(16), existing_type=sa.String(30), existing_nullable=False)
