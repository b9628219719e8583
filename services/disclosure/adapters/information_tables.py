"""Information disclosure's tables (政府信息公开), on disclosure's metadata; created by migration 0004.

The directory keeps every revision of a document (a revision row is never updated); the document row holds
the current revision's searchable columns and the publication status. A request row holds the columns it
is searched and counted by, the applicant's personal data (seen only by disclosure officers; the events
carry none of it) and the domain state as JSON.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from services.common.db import UtcDateTime
from services.disclosure.adapters.tables import metadata

# 主动公开目录 类别: a tree per region.
information_category = Table(
    "information_category",
    metadata,
    Column("region_code", String(12), primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("parent_code", String(32)),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Attachments by content hash: the same file attached twice is stored once.
information_attachment = Table(
    "information_attachment",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("content", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
)

information_document = Table(
    "information_document",
    metadata,
    Column("doc_id", String(40), primary_key=True),
    Column("region_code", String(12), nullable=False),
    Column("status", String(16), nullable=False),  # published / withdrawn
    Column("current_revision", Integer, nullable=False),
    # The current revision's searchable columns, copied so a search never reads revisions.
    Column("category_code", String(32), nullable=False),
    Column("title", String(300), nullable=False),
    Column("issuing_body", String(100), nullable=False),
    Column("document_number", String(100), nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("validity", String(16), nullable=False),
    Column("valid_to", Date),
    Column("body_text", Text, nullable=False),
    Column("published_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("withdrawn_at", UtcDateTime()),
    Column("withdraw_reason", Text, nullable=False, default=""),
    Index("ix_information_document_region_status", "region_code", "status"),
    Index("ix_information_document_published_at", "published_at"),
)

information_document_revision = Table(
    "information_document_revision",
    metadata,
    Column("doc_id", String(40), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("content", JSON, nullable=False),  # DocumentContent as JSON (attachment metadata, not bytes)
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    ForeignKeyConstraint(["doc_id"], ["information_document.doc_id"]),
)

# Request numbers: one counter per region and day, incremented inside the registering transaction.
information_request_sequence = Table(
    "information_request_sequence",
    metadata,
    Column("scope", String(32), primary_key=True),  # region prefix + local date
    Column("last_value", Integer, nullable=False),
)

information_request = Table(
    "information_request",
    metadata,
    Column("request_no", String(50), primary_key=True),  # unique: the backstop of the sequence
    Column("region_code", String(12), nullable=False),
    Column("agency", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("state", String(24), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("receipt_month", String(7), nullable=False),  # YYYY-MM (Asia/Shanghai): 按件计收 counts per month
    Column("applicant_kind", String(32), nullable=False),
    Column("applicant_key", String(64), nullable=False),  # sha256 of id type + number: the fee's "same applicant"
    Column("applicant", JSON, nullable=False),  # name, id, contact, address: officers only
    Column("information_wanted", Text, nullable=False),
    Column("delivery_form", String(20), nullable=False),
    Column("access_code_hash", String(64), nullable=False),  # the applicant's withdrawal code, hashed
    Column("detail", JSON, nullable=False),  # the domain state: supplement, consultations, extension, reply
    Column("concluded_at", UtcDateTime()),
    Column("fee_yuan", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_information_request_region_state", "region_code", "state"),
    Index("ix_information_request_applicant_month", "applicant_key", "receipt_month"),
)
