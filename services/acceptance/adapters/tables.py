"""Acceptance's own tables: the catalogue replica, cases, case-number sequences, idempotency keys, the
progress read model of the public query (办件进度) and withdrawals."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Index, Integer, String, Table, false

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
    Column("status", String(30), nullable=False),  # accepted / supplement_requested / rejected / completed
    Column("applicant", JSON, nullable=False),
    Column("materials", JSON, nullable=False),
    Column("missing", JSON, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("accepted_at", UtcDateTime()),
    Column("promised_due_date", String(10)),
    Column("document_no", String(60), nullable=False),  # 受理凭证 or 一次性告知书 number
    Column("clerk", JSON, nullable=False),  # 首问负责: the first clerk
    # Migration 0005: the outcome of Art. 32 and what its printable document needs (README "Outcomes").
    Column("outcome", String(30)),  # domain.outcomes.Outcome of the latest decision
    Column("outcome_document", JSON),  # the printable document's data, rendered by documents/
    Column("item_definition", JSON),  # the pinned ItemVersionPublished: supplements and fees judge by it
    Column("agent", JSON),  # 代办人 beside the applicant
    Column("acting_for", JSON),  # AB岗: the absent clerk the acting clerk (clerk) stood in for
    Column("imported", Boolean, nullable=False, server_default=false()),  # pushed by the provincial platform
    Column("refusal", JSON),  # 不予受理: reason, legal_basis, competent_agency
    Column("corrections", JSON),  # 当场更正: [{field, before, after}]
    Column("deferred_materials", JSON),  # 容缺: [{code, name, reason}]
    Column("deferred_due_date", String(10)),  # 容缺: the promised date
    Column("supplied_at", UtcDateTime()),  # 补正 completed: the application counts as received then
    Column("completed_at", UtcDateTime()),  # 即办件 completed at the window
    # Migration 0006: received without a decision (收件待审): by when acceptance must decide, and whether
    # the law decided instead (视为受理, Art. 32(4)).
    Column("decision_due_at", UtcDateTime()),
    Column("deemed_accepted", Boolean, nullable=False, server_default=false()),
    Index("ix_case_record_status_decision_due_at", "status", "decision_due_at"),
    # Migration 0007: documents issued before the current one (outcome_document), oldest first.
    Column("issued_documents", JSON),
)

# 收费 (行政许可法 Art. 58): at most one charge per case, each with its lawful receipt (票据) number.
case_fee = Table(
    "case_fee",
    metadata,
    Column("case_no", String(50), primary_key=True),
    Column("receipt_no", String(60), nullable=False, unique=True),
    Column("amount_fen", Integer, nullable=False),
    Column("fee_item", String(200), nullable=False),
    Column("clerk", JSON, nullable=False),
    Column("acting_for", JSON),
    Column("charged_at", UtcDateTime(), nullable=False),
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
