"""The outbox, inbox and parked-event tables, declared on each service's own metadata.

Each service owns its database, so each has its own copy of these tables; its first migration
creates them with `create_messaging_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic import op
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from services.common.db import UtcDateTime


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table
    parked: Table

    @classmethod
    def on(cls, metadata: MetaData) -> MessagingTables:
        return cls(outbox=_outbox(metadata), inbox=_inbox(metadata), parked=_parked(metadata))


def _outbox(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        # Integer (not BigInteger) so SQLite makes it the rowid alias and autoincrements it.
        Column("id", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("headers", JSON, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("traceparent", String(100)),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), index=True),
    )


def _inbox(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("applied_at", UtcDateTime(), nullable=False),
    )


def _parked(metadata: MetaData) -> Table:
    return Table(
        "parked_event",
        metadata,
        Column("id", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("key", String(200)),
        Column("headers", JSON, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("parked_at", UtcDateTime(), nullable=False),
    )


def create_messaging_tables() -> None:
    """For a service's first Alembic migration: creates outbox, inbox and parked_event."""
    tables = MessagingTables.on(MetaData())
    for table in (tables.outbox, tables.inbox, tables.parked):
        # create_table also creates the indexes of columns declared index=True.
        op.create_table(table.name, *[column._copy() for column in table.columns])
