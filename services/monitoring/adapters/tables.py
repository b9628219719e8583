"""Monitoring's own tables: the event log of supervised subjects, their clocks, alerts and ratings."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Integer, String, Table

from services.common.db import UtcDateTime, new_metadata
from services.common.messaging import MessagingTables

metadata = new_metadata()
messaging = MessagingTables.on(metadata)

# Every event of every supervised subject (case, disclosure request, complaint, rating), personal data
# removed: the clocks are rebuilt from this log, so late or reordered events give the same result.
subject_event = Table(
    "subject_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("subject_type", String(16), nullable=False),  # case / request / complaint / rating
    Column("subject_no", String(64), nullable=False, index=True),
    Column("event_type", String(200), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),  # as the source says
    Column("recorded_at", UtcDateTime(), nullable=False),  # CloudEvents time
    Column("payload", JSON, nullable=False),
)

# One row per clock, derived from the events: its deadlines, level instants and the next timer (indexed),
# so a restart arms every open clock in one query.
supervision_clock = Table(
    "supervision_clock",
    metadata,
    Column("clock_id", String(160), primary_key=True),
    Column("subject_type", String(16), nullable=False),
    Column("subject_no", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("label", String(200), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("department", String(200), nullable=False),
    Column("item_type", String(4), nullable=False),
    Column("state", String(16), nullable=False, index=True),  # running / paused / closed
    Column("started_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),
    Column("end_reason", String(32), nullable=False),
    Column("verdict", String(20)),
    Column("provisional", Boolean, nullable=False),
    Column("limits", JSON, nullable=False),  # [{name, limit, level, due_at}]
    Column("level_instants", JSON, nullable=False),  # {level: instant} on the current ledger
    Column("used_days", Float),  # budget used at the end, in days of the first limit's unit
    Column("speed_up_ratio", Float),  # 提速率 at the end
    Column("next_timer_at", UtcDateTime(), index=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Alerts (预警/黄牌/红牌 and anomalies). `claim` is unique: a level of a clock, or an anomaly occurrence,
# is raised once however often timers fire or events are replayed.
alert = Table(
    "alert",
    metadata,
    Column("alert_no", String(40), primary_key=True),
    Column("claim", String(300), nullable=False, unique=True),
    Column("clock_id", String(160), index=True),  # which levels a clock has raised, asked per timer batch
    Column("subject_no", String(64), nullable=False, index=True),
    Column("level", String(16), nullable=False, index=True),  # warning / breach / severe / anomaly
    Column("rule", String(64), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("department", String(200), nullable=False),
    Column("due_at", UtcDateTime()),
    Column("raised_at", UtcDateTime(), nullable=False, index=True),
    Column("evidence", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # open / closed
)

# 好差评: enough of each rating for the satisfaction rate.
rating = Table(
    "rating",
    metadata,
    Column("rating_no", String(64), primary_key=True),
    Column("case_no", String(64), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("level", Integer, nullable=False),
    Column("submitted_at", UtcDateTime(), nullable=False),
)
