"""Regions (行政区划) seeded from demo/regions.json, and the catalogue's full-text search index.

The search index differs per database (see adapters/search_index.py): an FTS5 table with triggers on
SQLite, a generated tsvector column with a GIN index on PostgreSQL. Items published before this revision
are indexed here.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25
"""

import json

import sqlalchemy as sa
from alembic import op

from services.disclosure.adapters.region_store import load_region_file, region_rows
from services.disclosure.adapters.search_index import POSTGRES_DDL, SQLITE_DDL, SQLITE_DROP, TOKEN_COLUMNS, entry_values
from services.disclosure.domain.catalogue import ItemDefinition

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    region = op.create_table(
        "region",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("parent_code", sa.String(12)),
    )
    op.create_index("ix_region_parent_code", "region", ["parent_code"])
    # The demo hierarchy; production loads the national statistical code list the same way.
    op.bulk_insert(region, region_rows(load_region_file()))

    entry = op.create_table(
        "search_entry",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_code", sa.String(64), nullable=False, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("item_type", sa.String(2), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("visits", sa.Integer, nullable=False),
        *(sa.Column(c, sa.Text, nullable=False) for c in TOKEN_COLUMNS),
    )
    op.create_index("ix_search_entry_department", "search_entry", ["department"])
    op.create_index("ix_search_entry_region_code", "search_entry", ["region_code"])
    ddl = POSTGRES_DDL if op.get_bind().dialect.name == "postgresql" else SQLITE_DDL
    for statement in ddl:
        op.execute(statement)

    published = op.get_bind().execute(sa.text(
        "SELECT item_code, version, definition FROM item_version WHERE status = 'published'")).all()
    rows = []
    for r in published:
        # A plain text() query: SQLite hands the JSON column back as text, PostgreSQL as a dict.
        definition = json.loads(r.definition) if isinstance(r.definition, str) else r.definition
        rows.append(entry_values(r.item_code, r.version, ItemDefinition.model_validate(definition)))
    if rows:
        op.bulk_insert(entry, rows)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for statement in SQLITE_DROP:
            op.execute(statement)
    op.drop_table("search_entry")
    op.drop_table("region")
