"""HTTP routes of monitoring: read the case clocks within the caller's region."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from services.common.principal import CurrentPrincipal, Role, require_role
from services.common.runtime import Runtime, get_runtime
from services.monitoring import handlers
from services.monitoring.api.schemas import ClockList, ClockOut, ClockQuery, ClockSummary
from services.monitoring.domain.clock import WarningPolicy

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring 电子监察"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

_READERS = (Role.supervisor, Role.operations, Role.department_head)


def get_policy(request: Request) -> WarningPolicy:
    policy: WarningPolicy = request.app.state.warning_policy
    return policy


PolicyDep = Annotated[WarningPolicy, Depends(get_policy)]


@router.get("/cases/{case_no}", response_model=ClockOut, summary="One case's clock (办件时限监察)")
async def get_case(
    case_no: Annotated[str, Path(min_length=1, max_length=50)], principal: CurrentPrincipal, runtime: RuntimeDep,
    policy: PolicyDep,
) -> ClockOut:
    require_role(principal, *_READERS)
    now = datetime.now(UTC)

    def read() -> dict[str, Any]:
        with runtime.read_session() as session:
            return handlers.get_case_clock(session, principal, case_no, now, runtime.calendar, policy)

    return ClockOut.model_validate(await asyncio.to_thread(read))


@router.get("/cases", response_model=ClockList, summary="Case clocks in scope, filtered by region, level, state")
async def list_cases(
    query: Annotated[ClockQuery, Query()], principal: CurrentPrincipal, runtime: RuntimeDep, policy: PolicyDep,
) -> ClockList:
    require_role(principal, *_READERS)
    now = datetime.now(UTC)
    wanted = handlers.ClockFilter(region_code=query.region_code, level=query.level, state=query.state,
                                  limit=query.limit)

    def read() -> list[dict[str, Any]]:
        with runtime.read_session() as session:
            return handlers.list_case_clocks(session, principal, wanted, now, runtime.calendar, policy)

    items = [ClockSummary.model_validate(v) for v in await asyncio.to_thread(read)]
    return ClockList(items=items, count=len(items))
