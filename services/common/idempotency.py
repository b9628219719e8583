"""Idempotency-Key for POSTs that create or change something (draft-ietf-httpapi-idempotency-key-header).

Plumbing only: a service declares the table on its own metadata (`idempotency_table`), creates it in a
migration (`create_idempotency_table`), and inside the *same* transaction as its work calls `claim` first
and `complete` last. The record is therefore committed with the work and its outbox rows or not at all:
a crash cannot leave a case without its key (a retry would make a second case) nor a key without its case.

Claiming first means a concurrent retry of the same key waits on the database's lock for the first
transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: the primary-key insert blocks), then replays the stored
answer. A refused request (a 4xx rolled back) stores nothing, so its retry is judged afresh.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from alembic import op
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.db import UtcDateTime
from services.common.problems import Problem

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"  # set on an answer that was replayed, as several public APIs do
DEFAULT_TABLE = "idempotency_key"
MAX_KEY_LENGTH = 200
# Visible ASCII: a UUID is the usual key; anything printable is accepted, nothing that could smuggle headers.
_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}$")


@dataclass(frozen=True)
class StoredResponse:
    """The first answer to a key, replayed as is (status, JSON body, the headers that matter)."""

    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def idempotency_table(metadata: MetaData, name: str = DEFAULT_TABLE) -> Table:
    return Table(
        name,
        metadata,
        # Scoped to the caller: two clients choosing the same key never see each other's answers.
        Column("principal", String(200), primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        # NULL only inside the claiming transaction, which is never visible to others uncommitted.
        Column("status_code", Integer),
        Column("body", JSON),
        Column("headers", JSON, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False, index=True),
    )


def create_idempotency_table(name: str = DEFAULT_TABLE) -> None:
    """For a service's migration: creates the table as `idempotency_table` declares it."""
    table = idempotency_table(MetaData(), name)
    op.create_table(table.name, *[column._copy() for column in table.columns])


def check_key(key: str | None, required: bool) -> str | None:
    """The key as sent, or None; 400 when it is required and missing, or not a usable key."""
    if key is None or key == "":
        if required:
            raise Problem(400, "idempotency-key-required",
                          f"机器客户端提交时必须带 {KEY_HEADER} 请求头，以便安全重试", header=KEY_HEADER)
        return None
    if not _KEY.fullmatch(key):
        raise Problem(400, "idempotency-key-invalid",
                      f"{KEY_HEADER} 应为 1–{MAX_KEY_LENGTH} 个可见 ASCII 字符（建议使用 UUID）", header=KEY_HEADER)
    return key


def request_hash(method: str, path: str, body: Any) -> str:
    """Fingerprint of what was asked: the method, the path and the parsed body with its keys sorted, so the
    same request re-encoded (spacing, key order) is the same request, and a different target is not."""
    canonical = orjson.dumps([method.upper(), path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def is_expired(created_at: datetime, now: datetime, retention: timedelta) -> bool:
    return created_at <= now - retention


def _answer(row: Any, fingerprint: str) -> StoredResponse:
    if row.request_hash != fingerprint:
        # 422 as the IETF draft says: the request cannot be processed as sent; 409 is kept for "in progress".
        raise Problem(422, "idempotency-key-reused",
                      f"该 {KEY_HEADER} 已用于另一内容的请求；内容不同的请求请使用新的键", header=KEY_HEADER)
    if row.status_code is None:  # not reachable while claim and complete share one transaction
        raise Problem(409, "request-in-progress", "相同的请求正在处理中，请稍后重试")
    return StoredResponse(row.status_code, row.body, dict(row.headers or {}))


def claim(
    session: Session, table: Table, principal: str, key: str, fingerprint: str, now: datetime,
    retention: timedelta,
) -> StoredResponse | None:
    """None: this transaction owns the key, do the work then `complete`. Otherwise the first answer.

    An expired record of this key is deleted here, so the key may be used again; everyone else's expired
    records go in `delete_expired`, in a transaction of its own."""
    scope = (table.c.principal == principal, table.c.key == key)
    row = session.execute(select(table).where(*scope)).first()
    if row is not None and is_expired(row.created_at, now, retention):
        session.execute(delete(table).where(*scope))
        row = None
    if row is not None:
        return _answer(row, fingerprint)
    try:
        with session.begin_nested():
            session.execute(insert(table).values(principal=principal, key=key, request_hash=fingerprint,
                                                 headers={}, created_at=now))
    except IntegrityError:
        # PostgreSQL: a concurrent retry inserted the key first; our insert waited for it to commit.
        row = session.execute(select(table).where(*scope)).one()
        return _answer(row, fingerprint)
    return None


def complete(session: Session, table: Table, principal: str, key: str, response: StoredResponse) -> None:
    session.execute(
        update(table).where(table.c.principal == principal, table.c.key == key)
        .values(status_code=response.status_code, body=response.body, headers=response.headers)
    )


def delete_expired(session: Session, table: Table, now: datetime, retention: timedelta) -> int:
    """Removes every record past its retention (cheap on the created_at index); run apart from the work's
    transactions, so cleaning never lengthens or entangles them."""
    return session.execute(delete(table).where(table.c.created_at <= now - retention)).rowcount or 0
