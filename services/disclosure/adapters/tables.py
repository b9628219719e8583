"""Disclosure's own tables: item versions, masked case summaries and the public results."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from services.common.db import UtcDateTime, new_metadata
from services.common.messaging import MessagingTables

metadata = new_metadata()
messaging = MessagingTables.on(metadata)

# 实施清单: every version of every item; a published row's definition is never updated.
item_version = Table(
    "item_version",
    metadata,
    Column("item_code", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),  # draft / published / retired
    Column("region_code", String(12), nullable=False),
    # The code prefix the item serves (county 320102000000 → 320102), so "offered in region R" is
    # `R LIKE region_scope || '%'` without parsing codes in SQL.
    Column("region_scope", String(12), nullable=False),
    Column("name", String(200), nullable=False),
    Column("definition", JSON, nullable=False),  # ItemDefinition as JSON
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),  # 变更人: the principal's subject
    Column("created_by_name", String(100), nullable=False, default=""),  # and the name it carried
    Column("change_reason", Text, nullable=False, default=""),  # 变更原因; empty only on a first version
    Column("published_at", UtcDateTime()),
    Column("retired_at", UtcDateTime()),
    Column("retire_reason", Text, nullable=False, default=""),
    Index("ix_item_version_status_scope", "status", "region_scope"),
)

# The masked summary of each case seen on the case topic; raw personal data never reaches this table.
case_summary = Table(
    "case_summary",
    metadata,
    Column("case_no", String(50), primary_key=True),
    Column("item_code", String(64)),
    Column("item_name", String(200)),
    Column("region_code", String(12)),
    Column("applicant_type", String(2), nullable=False, default=""),
    Column("applicant_name_masked", String(100), nullable=False),
    Column("applicant_id_masked", String(40), nullable=False),
    Column("applicant_phone_masked", String(20), nullable=False, default=""),
    Column("accepted_at", UtcDateTime()),
    Column("decision", String(16)),  # approve / deny
    Column("decided_at", UtcDateTime()),
    Column("completed_at", UtcDateTime()),
    Column("status", String(16), nullable=False),  # accepted / decided / completed / withdrawn
    Column("updated_at", UtcDateTime(), nullable=False),
)

# 办件结果公示: one row per published result; a withdrawal deletes it.
public_result = Table(
    "public_result",
    metadata,
    Column("case_no", String(50), primary_key=True),
    Column("item_code", String(64), nullable=False, index=True),
    Column("item_name", String(200), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("applicant_name_masked", String(100), nullable=False),
    Column("applicant_id_masked", String(40), nullable=False),
    Column("result", String(16), nullable=False),  # approve / deny / done
    Column("result_summary", Text, nullable=False, default=""),
    Column("completed_at", UtcDateTime(), nullable=False, index=True),
    Column("published_at", UtcDateTime(), nullable=False),
)
