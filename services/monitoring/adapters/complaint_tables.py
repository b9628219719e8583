"""Complaints (投诉) and ratings (好差评) as monitoring receives them: the write side of the public endpoints.

Defined on the monitoring `metadata` (one metadata per service); created by migration 0005. The clocks are
not here: each change below emits its event in the same transaction, and monitoring's consumer builds the
clocks from those events like any other subject's (`subject_event`, `supervision_clock`). The `rating`
table of `tables.py` stays the statistics' copy, written by that consumer.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String, Table, Text, UniqueConstraint

from services.common.db import UtcDateTime
from services.common.idempotency import idempotency_table
from services.monitoring.adapters.tables import metadata

# One row per complaint. Name and contact only for a named complaint: they are needed to answer in writing
# (7 days) and are never put on an event. The query code is stored only as a digest.
complaint = Table(
    "complaint",
    metadata,
    Column("complaint_no", String(40), primary_key=True),
    Column("region_code", String(12), nullable=False, index=True),
    Column("named", Boolean, nullable=False),
    Column("name", String(50)),
    Column("contact", String(100)),
    Column("about_case_no", String(50)),
    Column("content", Text, nullable=False),
    Column("query_code_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("to_unit", String(100)),
    Column("answer", Text),
    Column("not_accepted_reason", Text),
    Column("received_at", UtcDateTime(), nullable=False, index=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Who did what to a complaint, in order (the staff view's history).
complaint_action = Table(
    "complaint_action",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("complaint_no", String(40), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_name", String(200), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

# The complaint number's daily counter per region scope, bumped inside the complaint's own transaction.
complaint_sequence = Table(
    "complaint_sequence",
    metadata,
    Column("scope", String(12), primary_key=True),
    Column("day", String(8), primary_key=True),
    Column("last", Integer, nullable=False),
)

# The cases that may be rated, learnt from CaseReceived/CaseAccepted (the subject log keeps no applicant):
# the applicant only as a digest of case number and id suffix, as acceptance's progress query keeps it.
rated_case = Table(
    "rated_case",
    metadata,
    Column("case_no", String(64), primary_key=True),
    Column("region_code", String(12), nullable=False),
    Column("id_suffix_digest", String(64), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

# Every rating submitted here; 一次一评 per case and channel is the unique constraint.
rating_submission = Table(
    "rating_submission",
    metadata,
    Column("rating_no", String(40), primary_key=True),
    Column("case_no", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("bad", Boolean, nullable=False, index=True),
    Column("submitted_at", UtcDateTime(), nullable=False, index=True),
    Column("rectification", Text),  # 整改情况, once recorded
    Column("rectified_at", UtcDateTime()),
    Column("rectified_by", String(200)),
    UniqueConstraint("case_no", "channel", name="uq_rating_submission_case_channel"),
)

# Idempotency-Key records of the public POSTs, written in the same transaction as the complaint or rating.
idempotency_key = idempotency_table(metadata)
