"""Acceptance's own tables: the catalogue replica, cases, and case-number sequences."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, String, Table

from services.common.db import UtcDateTime, new_metadata
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
