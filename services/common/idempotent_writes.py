"""One write unit of work behind an `Idempotency-Key` (services/common/idempotency.py), for any service's routes.

With a key, the key's record is claimed first and completed last in the same transaction as the work and its
outbox rows, and a repeat of the key replays the first answer (`Idempotent-Replayed: true`). Expired records
are deleted at most once per `cleanup_seconds` per process, in a transaction of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import Table
from sqlalchemy.orm import Session

from services.common import idempotency
from services.common.principal import Principal
from services.common.runtime import Runtime, run_write

IdempotencyKey = Annotated[str | None, Header(
    alias=idempotency.KEY_HEADER,
    description="A key of the caller's choosing (a UUID): a retry with the same key and body returns the first "
    "answer and changes nothing more. Required for machine clients (platform role); kept 24 h.",
)]


@dataclass(frozen=True)
class KeyPolicy:
    table: Table
    retention: timedelta
    cleanup_seconds: float
    required: bool  # machine clients must send a key; a person at a counter may not


async def _clean_expired_keys(runtime: Runtime, policy: KeyPolicy) -> None:
    now = time.monotonic()
    marker = f"idempotency_cleaned_at:{policy.table.name}"
    last: float | None = runtime.extras.get(marker)
    if last is not None and now - last < policy.cleanup_seconds:
        return
    runtime.extras[marker] = now

    def clean() -> None:
        with runtime.session_factory.begin() as session:
            idempotency.delete_expired(session, policy.table, datetime.now(UTC), policy.retention)

    await asyncio.to_thread(clean)


async def run_once(
    runtime: Runtime, policy: KeyPolicy, principal: Principal, key: str | None, method: str, path: str,
    body: Any, work: Callable[[Session], idempotency.StoredResponse],
) -> JSONResponse:
    key = idempotency.check_key(key, required=policy.required)
    fingerprint = idempotency.request_hash(method, path, body)

    def unit_of_work() -> tuple[idempotency.StoredResponse, bool]:
        with runtime.session_factory.begin() as session:
            if key is not None:
                stored = idempotency.claim(session, policy.table, principal.subject, key, fingerprint,
                                           datetime.now(UTC), policy.retention)
                if stored is not None:
                    return stored, True
            response = work(session)
            if key is not None:
                idempotency.complete(session, policy.table, principal.subject, key, response)
            return response, False

    response, replayed = await run_write(runtime, unit_of_work)
    headers = dict(response.headers)
    if key is not None:
        await _clean_expired_keys(runtime, policy)
        headers[idempotency.REPLAYED_HEADER] = "true" if replayed else "false"
    return JSONResponse(response.body, status_code=response.status_code, headers=headers)
