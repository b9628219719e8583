"""Calendar administration tables (工作日历管理): the loaded years and the journal of every load.

Defined on the monitoring `metadata` of `services.monitoring.adapters.tables`, so the service keeps one
metadata; created by migration 0002.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, Integer, String, Table

from services.common.db import UtcDateTime
from services.monitoring.adapters.tables import metadata

# One row per year loaded by an administrator (载入的年度节假日安排); it replaces chinesecalendar for that
# year. `schedule` is the validated file (domain.calendar_schedule format), re-parsed at start-up.
calendar_year = Table(
    "calendar_year",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("source", String(200), nullable=False),  # 通知文号
    Column("published_on", Date),  # 通知发布日期
    Column("schedule", JSON, nullable=False),
    Column("loaded_at", UtcDateTime(), nullable=False),
    Column("loaded_by", String(200), nullable=False),  # principal subject
)

# Every load, kept for the record (变更记录): which days became rest days or working days compared with
# what the calendar answered before (library, earlier load, or provisional weekends-only).
calendar_change = Table(
    "calendar_change",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("year", Integer, nullable=False, index=True),
    Column("loaded_at", UtcDateTime(), nullable=False),
    Column("loaded_by", String(200), nullable=False),
    Column("source", String(200), nullable=False),
    Column("summary", JSON, nullable=False),
)
