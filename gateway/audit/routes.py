"""GET /api/v1/audit/verify and GET /api/v1/audit/entries: `Action.audit_verify` and `Action.audit_read` of the
role × action matrix (operations 运维 and supervisors 电子监察).

The gateway's own routes, authenticated with the proxy's Authenticator. A supervisor sees the entries of
callers inside its region (the code prefix, as everywhere); operations, at the province, sees all. Verification
always walks the whole chain — a link cannot be checked without the one before it — and reports only seq
numbers and hashes.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from gateway.audit.store import AuditReader
from gateway.auth import Authenticator
from gateway.middleware import PRINCIPAL_SCOPE_KEY
from gateway.ratelimit import RateLimiter
from services.common.contracts.permissions import Action, authorize
from services.common.principal import Principal
from services.common.problems import Problem

AUDIT_PREFIX = "/api/v1/audit"


def audit_router(*, auth: Authenticator, reader: AuditReader, limiter: RateLimiter | None) -> APIRouter:
    router = APIRouter(prefix=AUDIT_PREFIX, tags=["audit 审计日志"])

    def audit_principal(action: Action) -> Any:
        async def dependency(request: Request) -> Principal:
            return await _caller(request, action)

        return Depends(dependency)

    async def _caller(request: Request, action: Action) -> Principal:
        try:
            caller = auth.authenticate(request.headers.get("authorization"))
        except Problem:
            if limiter is not None:
                await limiter.check_address(request.scope)
            raise
        if caller is None:
            raise Problem(401, "unauthenticated", "请先登录：缺少 Bearer 令牌")
        principal = caller[0]
        request.scope[PRINCIPAL_SCOPE_KEY] = principal
        if limiter is not None:
            await limiter.check_principal(principal)
        authorize(principal, action)
        return principal

    @router.get("/verify", summary="Verify the audit hash chain 校验审计日志哈希链")
    async def verify(principal: Principal = audit_principal(Action.audit_verify)) -> dict[str, Any]:
        verdict = await asyncio.to_thread(reader.verify)
        return verdict.as_dict()

    @router.get("/entries", summary="Audit entries, oldest first, paged by seq 审计记录")
    async def entries(
        principal: Principal = audit_principal(Action.audit_read),
        # Bounded as the column is (a 64-bit integer): a larger number is a 422, not an overflow in the driver.
        after_seq: Annotated[int, Query(ge=0, le=2**63 - 1,
                                        description="After this seq: the previous page's next_after_seq")] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        subject: Annotated[str | None, Query(max_length=64)] = None,
        method: Annotated[str | None, Query(pattern="^(POST|PUT|PATCH|DELETE)$")] = None,
        status: Annotated[int | None, Query(ge=100, le=599)] = None,
    ) -> dict[str, Any]:
        rows = await asyncio.to_thread(reader.entries, after_seq=after_seq, limit=limit,
                                       region_prefix=principal.region_scope(), subject=subject, method=method,
                                       status=status)
        for row in rows:
            row["at"] = row["at"].isoformat()
        return {"entries": rows, "next_after_seq": rows[-1]["seq"] if len(rows) == limit else None}

    return router
