"""Approval's own tables: the catalogue replica by version, cases and their tasks."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Integer, String, Table, Text, UniqueConstraint, false

from services.common.db import UtcDateTime, new_metadata
from services.common.idempotency import idempotency_table
from services.common.messaging import MessagingTables

metadata = new_metadata()
messaging = MessagingTables.on(metadata)

# Every published version, not just the newest: a case follows the version it was accepted under.
item_version = Table(
    "item_version",
    metadata,
    Column("item_code", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),  # published / retired
    Column("name", String(200), nullable=False),
    Column("process", JSON, nullable=False),  # list of ProcessStep as published
    Column("publish_results", Boolean, nullable=False),  # 办件结果公示
    Column("definition", JSON, nullable=False),  # the whole ItemVersionPublished payload
    Column("updated_at", UtcDateTime(), nullable=False),
)

approval_case = Table(
    "approval_case",
    metadata,
    Column("case_no", String(50), primary_key=True),
    Column("item_code", String(64), nullable=False),
    Column("item_version", Integer, nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("department", String(100), nullable=False),
    Column("applicant_type", String(2), nullable=False),  # GB/T 39046 code only: no personal data here
    Column("status", String(30), nullable=False),  # domain.process.CaseStatus
    # The steps frozen when the case opened, so a late or newer catalogue event cannot reshape it.
    Column("process", JSON, nullable=False),
    Column("process_source", String(16), nullable=False),  # catalogue / default
    Column("decision", String(8)),
    Column("reasons", Text, nullable=False, default=""),
    Column("accepted_at", UtcDateTime(), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime()),
    # Migration 0002: the BPMN engine's state and the actions around the steps.
    Column("workflow", Text),  # SpiffWorkflow's serialized state (adapters/bpmn_engine.py)
    Column("process_bpmn", Text),  # the pinned version's process, as run
    Column("joint", Boolean, nullable=False, server_default=false()),  # 并联审批: extension is 15 days
    Column("extension", JSON),  # 延长审批 (once): limit, reason, approved_by, at
    Column("supplement", JSON),  # 审查中补正 (once): the notice as issued, and when it was answered
    Column("suspension", JSON),  # 特别程序 under way: id, reason, expected days, since
    Column("certificate", JSON),  # 制证: number, verification code, content hash
    Column("delivery", JSON),  # 送达: method, receiver, at
    Column("decided_at", UtcDateTime()),
)

approval_task = Table(
    "approval_task",
    metadata,
    Column("task_id", String(36), primary_key=True),
    Column("case_no", String(50), nullable=False, index=True),
    Column("seq", Integer, nullable=False),  # position of the step in the case's process
    Column("step_code", String(64), nullable=False),
    Column("step_name", String(100), nullable=False),
    Column("role", String(64), nullable=False),
    Column("department", String(100), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),  # copied from the case for scoped lists
    Column("status", String(16), nullable=False, index=True),  # open / done / cancelled
    Column("time_limit", JSON),
    Column("assignee", String(64)),  # who acted (user id)
    Column("assignee_name", String(100)),
    Column("opinion", Text),
    Column("outcome", String(8)),  # pass / approve / deny
    Column("created_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime()),
    Column("element_id", String(64)),  # the BPMN user task it stands for (Step_1, Step_2_dept_3 …)
    Column("kind", String(16), nullable=False, server_default="step"),  # step / department
    Column("claimed_by", String(64)),  # 签收
    Column("claimed_name", String(100)),
    Column("claimed_at", UtcDateTime()),
    Column("acting_for", JSON),  # AB岗: the absent colleague the actor stood in for
    Column("defaulted", Boolean, nullable=False, server_default=false()),  # 超时默认
    # One task per BPMN element of a case: a second CaseAccepted or a retried completion opens no duplicate.
    UniqueConstraint("case_no", "element_id", name="uq_approval_task_case_no_element_id"),
)

# Idempotency-Key records, written in the same transaction as the action (services/common/idempotency.py).
idempotency_key = idempotency_table(metadata)
