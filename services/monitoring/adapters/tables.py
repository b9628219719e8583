"""Monitoring's own tables: one row per case clock, and the log of every case event seen."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Integer, String, Table

from services.common.db import UtcDateTime, new_metadata
from services.common.messaging import MessagingTables

metadata = new_metadata()
messaging = MessagingTables.on(metadata)

# The handling clock (办理时限) of each accepted case. Due instants are derived at acceptance and kept
# here (indexed) so the timers of the next version can load a partition's armed clocks in one query.
case_clock = Table(
    "case_clock",
    metadata,
    Column("case_no", String(50), primary_key=True),
    Column("clock_id", String(80), nullable=False, unique=True),
    Column("item_code", String(64), nullable=False),
    Column("item_version", Integer, nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("department", String(200), nullable=False),
    Column("state", String(16), nullable=False, index=True),  # running / paused / closed
    Column("started_at", UtcDateTime(), nullable=False),
    Column("promised_limit", JSON, nullable=False),  # TimeLimit of the pinned item version
    Column("legal_limit", JSON, nullable=False),
    Column("promised_due_at", UtcDateTime(), nullable=False, index=True),
    Column("promised_due_provisional", Boolean, nullable=False),
    Column("legal_due_at", UtcDateTime(), nullable=False, index=True),
    Column("legal_due_provisional", Boolean, nullable=False),
    Column("current_step_code", String(64)),
    Column("current_step_name", String(200)),
    Column("current_step_started_at", UtcDateTime()),
    Column("open_suspensions", JSON, nullable=False),  # suspension ids not yet resumed
    Column("verdict", String(20)),
    Column("used_working_days", Integer),
    Column("speed_up_ratio", Float),
    Column("closed_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Every case event seen, whether or not its clock exists yet: events of a case whose CaseAccepted has
# not arrived wait here and are applied when it does, and a clock can be rebuilt from this log.
case_event_log = Table(
    "case_event_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("case_no", String(50), nullable=False, index=True),
    Column("event_type", String(200), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),  # as the source says
    Column("recorded_at", UtcDateTime(), nullable=False),  # CloudEvents time
    Column("payload", JSON, nullable=False),  # the event's data, applicant's personal data removed
)
