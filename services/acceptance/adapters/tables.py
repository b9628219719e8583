"""Acceptance's own tables: the catalogue replica, cases, case-number sequences, idempotency keys, the
progress read model of the public query (办件进度) and withdrawals."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, String, Table

from services.common.db import UtcDateTime, new_metadata
from services.common.idempotency import idempotency_table
from services.common.messaging import MessagingTables

metadata = new_metadata()
messaging = MessagingTables.on(metadata)

# Replica of published item versions, fed by the catalogue topic, so acceptance works while disclosure is down.
catalogue_item = Table(
    "catalogue_item",
    metadata,
    Column("item_code", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # published / retired
    Column("region_code", String(12), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("definition", JSON, nullable=False),  # the ItemVersionPublished payload
    Column("updated_at", UtcDateTime(), nullable=False),
)

case_record = Table(
    "case_record",
    metadata,
    Column("case_no", String(50), primary_key=True),
    Column("item_code", String(64), nullable=False),
    Column("item_version", Integer, nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("status", String(30), nullable=False),  # accepted / supplement_requested
    Column("applicant", JSON, nullable=False),
    Column("materials", JSON, nullable=False),
    Column("missing", JSON, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("accepted_at", UtcDateTime()),
    Column("promised_due_date", String(10)),
    Column("document_no", String(60), nullable=False),  # 受理凭证 or 一次性告知书 number
    Column("clerk", JSON, nullable=False),  # 首问负责: the first clerk
)

case_sequence = Table(
    "case_sequence",
    metadata,
    Column("region_code", String(12), primary_key=True),
    Column("day", String(8), primary_key=True),
    Column("last", Integer, nullable=False),
)

# Idempotency-Key records, written in the same transaction as the case (services/common/idempotency.py).
idempotency_key = idempotency_table(metadata)

# 办件进度: what the public query may answer, kept from acceptance's own writes and the case topic. No
# personal data: the applicant is represented only by a digest of case number and id suffix.
case_progress = Table(
    "case_progress",
    metadata,
    Column("case_no", String(50), primary_key=True),
    Column("region_code", String(12), nullable=False),
    Column("id_suffix_digest", String(64), nullable=False),  # sha256(case_no:last 6 of the id, upper case)
    Column("status", String(30), nullable=False),  # ProgressStatus
    Column("step_name", String(200)),  # the current step (环节) while in review
    Column("promised_due_date", String(10)),  # 承诺办结日期
    Column("updated_at", UtcDateTime(), nullable=False),  # the last change as the event says it happened
)

# 撤回申请: recorded at the window on the applicant's written request.
case_withdrawal = Table(
    "case_withdrawal",
    metadata,
    Column("case_no", String(50), primary_key=True),
    Column("request_ref", String(100), nullable=False),  # the applicant's written request (撤回申请书) number
    Column("reason", String(500), nullable=False),
    Column("clerk", JSON, nullable=False),
    Column("withdrawn_at", UtcDateTime(), nullable=False),
)
