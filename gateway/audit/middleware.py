"""Every write through the gateway is recorded before its answer leaves (pure ASGI middleware).

Writes are POST, PUT, PATCH and DELETE, proxied or the gateway's own (the identity endpoints). The entry is
built when the response starts — its status is known then — and `http.response.start` is held until the entry
is committed. If it cannot be committed the caller gets 503 problem+json instead of the answer: the write may
have been applied by the backend, but an unaccounted answer is not given out (a retry with the same
Idempotency-Key is safe on acceptance's submissions). Reads pass through untouched.

Not recorded: 429 answers. A throttled request reached nothing, and recording a flood would turn it into a
flood of audit writes; the limiter is there to stop exactly that.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit.store import AuditWriter
from gateway.middleware import AUDIT_SUBJECT_SCOPE_KEY, PRINCIPAL_SCOPE_KEY, REQUEST_ID_SCOPE_KEY
from gateway.proxy import request_path
from gateway.ratelimit import TOKEN_PATH, client_address
from services.common.principal import Principal
from services.common.problems import problem_response

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def audit_entry(scope: Scope, status: int) -> dict[str, Any]:
    """The audit_log columns for this request, but seq and the hashes (the writer adds them)."""
    path = request_path(scope)  # no query string (it may carry secrets), no body
    principal: Principal | None = scope.get(PRINCIPAL_SCOPE_KEY)
    if principal is not None:
        subject, kind, role, region = (principal.subject, principal.kind.value, principal.role.value,
                                       principal.region_code)
    elif attempted := scope.get(AUDIT_SUBJECT_SCOPE_KEY):
        # An identity endpoint: who tried to log in or get a token; no role or region is established yet.
        subject, kind, role, region = str(attempted), "machine" if path == TOKEN_PATH else "staff", "", ""
    else:  # refused before anyone was identified (401, 413 …)
        subject, kind, role, region = "anonymous", "public", "public", ""
    span = trace.get_current_span().get_span_context()
    return {
        "at": datetime.now(UTC),
        "subject": subject[:64],
        "kind": kind,
        "role": role,
        "region_code": region[:12],
        "method": scope["method"],
        "path": path[:512],
        "status": status,
        "request_id": str(scope.get(REQUEST_ID_SCOPE_KEY, ""))[:128],
        "trace_id": format(span.trace_id, "032x") if span.is_valid else "",
        "client_address": client_address(scope)[:64],
    }


class AuditMiddleware:
    def __init__(self, app: ASGIApp, writer: AuditWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        withheld = False

        async def send_recorded(message: Message) -> None:
            nonlocal withheld
            if withheld:
                return  # the rest of an answer replaced by the 503 below
            if message["type"] == "http.response.start" and message["status"] != 429:
                try:
                    await self.writer.record(audit_entry(scope, message["status"]))
                except Exception:
                    log.exception("audit entry not written; answer withheld (%s %s)", scope["method"], scope["path"])
                    withheld = True
                    await problem_response(
                        503, "audit-unavailable", "审计日志暂不可写，未返回处理结果；该操作可能已执行，请稍后查询或"
                        "使用同一幂等键重试", request_path(scope), headers={"Retry-After": "5"},
                    )(scope, receive, send)
                    return
            await send(message)

        await self.app(scope, receive, send_recorded)
