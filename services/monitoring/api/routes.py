"""HTTP routes of monitoring: cases under supervision, explanations, what-ifs, alerts (live too), statistics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from sse_starlette.sse import EventSourceResponse

from services.common.bounds import Day, Instant
from services.common.contracts.permissions import Action, requires
from services.common.principal import Principal
from services.common.problems import Problem
from services.common.runtime import Runtime, get_runtime, read_in_thread
from services.monitoring import queries
from services.monitoring.wiring import supervision_of

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring 电子监察"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
CaseNo = Annotated[str, Path(min_length=1, max_length=64)]

# The caller, checked against the role × action matrix (services/common/contracts/permissions.py).
Supervisor = Annotated[Principal, requires(Action.monitoring_read)]


def _now() -> datetime:
    return datetime.now(UTC)


async def _read(runtime: Runtime, work: Any) -> Any:
    return jsonable_encoder(await read_in_thread(runtime, work))


@router.get("/cases/{case_no}", summary="A case under supervision: clocks, deadlines, used and remaining time, "
            "level, verdict, alerts and timeline")
async def get_case(case_no: CaseNo, principal: Supervisor, runtime: RuntimeDep) -> dict[str, Any]:
    policies = supervision_of(runtime).ctx.policies
    return await _read(runtime, lambda s: queries.case_view(s, principal, case_no, _now(), runtime.calendar,
                                                            policies))


@router.get("/cases", summary="Cases under supervision in scope, by region (and below), level and state")
async def list_cases(
    principal: Supervisor, runtime: RuntimeDep,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    level: Annotated[Literal["normal", "warning", "breach", "severe"] | None, Query()] = None,
    state: Annotated[Literal["running", "paused", "closed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    items = await _read(runtime, lambda s: queries.list_cases(s, principal, region_code, level, state, limit,
                                                              _now()))
    return {"items": items, "count": len(items)}


@router.get("/cases/{case_no}/explain", summary="Day by day, how each deadline is reached (which days count, why)")
async def explain_case(
    case_no: CaseNo, principal: Supervisor, runtime: RuntimeDep,
    clock_id: Annotated[str | None, Query(max_length=160)] = None,
    limit: Annotated[Literal["promised", "legal", "limit"] | None, Query()] = None,
) -> dict[str, Any]:
    return await _read(runtime, lambda s: queries.case_explain(s, principal, case_no, clock_id, limit,
                                                               runtime.calendar))


@router.get("/cases/{case_no}/what-if", summary="If suspended from A until B, where the deadlines would fall")
async def what_if(
    case_no: CaseNo, principal: Supervisor, runtime: RuntimeDep,
    suspend_until: Annotated[Instant, Query(description="暂停至 (ISO 8601 with offset)")],
    suspend_from: Annotated[Instant | None, Query(description="暂停自, default now")] = None,
) -> dict[str, Any]:
    start = suspend_from or _now()
    return await _read(runtime, lambda s: queries.case_what_if(s, principal, case_no, start, suspend_until,
                                                               runtime.calendar))


@router.get("/alerts", summary="Alerts by level, rule, region (and below), department, period")
async def list_alerts(
    principal: Supervisor, runtime: RuntimeDep,
    level: Annotated[Literal["warning", "breach", "severe", "anomaly"] | None, Query()] = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    f = queries.AlertFilter(level, rule, region_code, department, since, until, status, limit)
    items = await _read(runtime, lambda s: queries.list_alerts(s, principal, f))
    return {"items": items, "count": len(items)}


@router.get("/stream", summary="Alerts as they are raised (server-sent events), within the caller's region")
async def stream(request: Request, principal: Supervisor, runtime: RuntimeDep) -> EventSourceResponse:
    supervision = supervision_of(runtime)

    async def events() -> AsyncIterator[dict[str, str]]:
        async with supervision.live_alerts() as queue:
            yield {"event": "ready", "data": "{}"}
            while not await request.is_disconnected():
                try:
                    alert = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    continue  # sse-starlette sends its own keep-alive pings
                if principal.can_see_region(alert["region_code"]):
                    yield {"event": "alert", "id": alert["alert_no"],
                           "data": json.dumps(jsonable_encoder(alert), ensure_ascii=False)}

    return EventSourceResponse(events(), ping=10)


@router.get("/stats", summary="Received, completed, on-time/early/overdue rates, speed-up, open overdue, alerts, "
            "satisfaction — per region, department and period")
async def stats(
    principal: Supervisor, runtime: RuntimeDep,
    start: Annotated[Day, Query(alias="from")], end: Annotated[Day, Query(alias="to")],
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    if end < start or (end - start).days > 366:
        raise Problem(422, "invalid-period", "统计期间应为起止日期，且不超过一年")
    return await _read(runtime, lambda s: queries.statistics(s, principal, region_code, department, start, end,
                                                             _now()))
