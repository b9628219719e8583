"""HTTP routes of calendar administration (工作日历管理): status, day-by-day explanation, yearly upload.

The upload refreshes `runtime.calendar`, then calls the optional hook `app.state.on_calendar_loaded`
(`async (runtime, years) -> None`) with the years whose provisional clocks must be recomputed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from services.common.bounds import Day
from services.common.contracts.permissions import Action, requires
from services.common.principal import Principal
from services.common.problems import Problem
from services.common.runtime import Runtime, get_runtime
from services.common.workdays import SHANGHAI
from services.monitoring import calendar_admin
from services.monitoring.domain.calendar_schedule import MAX_YEAR, MIN_YEAR, ScheduleRejected

router = APIRouter(prefix="/api/v1/monitoring/calendar", tags=["monitoring 电子监察: calendar 工作日历"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# The caller, checked against the role × action matrix (services/common/contracts/permissions.py).
CalendarReader = Annotated[Principal, requires(Action.calendar_read)]
CalendarLoader = Annotated[Principal, requires(Action.calendar_load)]
_EXAMPLE_FILE = FilePath(__file__).resolve().parents[1] / "calendars" / "2027.example.json"

CalendarLoadedHook = Callable[[Any, list[int]], Awaitable[None]]


def _example() -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(_EXAMPLE_FILE.read_text(encoding="utf-8"))
        return loaded
    except (OSError, ValueError):
        return {}


def _today() -> date:
    return datetime.now(UTC).astimezone(SHANGHAI).date()


@router.get("", summary="Calendar status: covered and loaded years, warnings (工作日历状态)")
async def get_status(principal: CalendarReader, runtime: RuntimeDep) -> dict[str, Any]:
    calendar = runtime.calendar
    status = calendar_admin.calendar_status(calendar, _today())

    def read() -> dict[int, dict[str, Any]]:
        with runtime.read_session() as session:
            return calendar_admin.loaded_year_records(session)

    records = await asyncio.to_thread(read)
    for entry in status["loaded_years"]:
        entry.update({k: v for k, v in records.get(entry["year"], {}).items() if k != "source"})
    # Another replica may have loaded a year this one has not picked up yet.
    in_memory = {e["year"]: e["source"] for e in status["loaded_years"]}
    status["stale"] = any(in_memory.get(y) != r["source"] for y, r in records.items())
    return status


@router.get("/days", summary="Each day between two dates: working or not, and why (逐日说明)")
async def get_days(
    principal: CalendarReader, runtime: RuntimeDep,
    from_: Annotated[Day, Query(alias="from", description="First day, YYYY-MM-DD")],
    to: Annotated[Day, Query(description="Last day (inclusive), YYYY-MM-DD")],
) -> dict[str, Any]:
    if to < from_:
        raise Problem(422, "invalid-range", "结束日期不得早于开始日期")
    if (to - from_).days + 1 > calendar_admin.MAX_EXPLAIN_DAYS:
        raise Problem(422, "range-too-long", f"一次最多查询 {calendar_admin.MAX_EXPLAIN_DAYS} 天")
    days = calendar_admin.explain_range(runtime.calendar, from_, to)
    return {"from": from_.isoformat(), "to": to.isoformat(), "days": days}


@router.put("/years/{year}", summary="Load one year's State Council holiday schedule (载入年度节假日安排)")
async def put_year(
    request: Request,
    principal: CalendarLoader,
    runtime: RuntimeDep,
    year: Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR)],
    body: Annotated[dict[str, Any], Body(openapi_examples={"2027 (示例)": {"value": _example()}})],
) -> dict[str, Any]:
    now = datetime.now(UTC)

    def write() -> dict[str, Any]:
        with runtime.session_factory.begin() as session:
            _, summary = calendar_admin.upload_year(session, principal, body, now, expected_year=year)
            return summary

    try:
        summary = await asyncio.to_thread(write)
    except ScheduleRejected as exc:
        raise Problem(
            422, "invalid-calendar", f"{year} 年节假日安排未通过校验（共 {len(exc.problems)} 处问题），未作任何更改",
            errors=[p.as_dict() for p in exc.problems],
        ) from exc
    await calendar_admin.refresh_runtime_calendar(runtime)
    hook: CalendarLoadedHook | None = getattr(request.app.state, "on_calendar_loaded", None)
    if hook is not None and summary["years_to_recompute"]:
        await hook(runtime, summary["years_to_recompute"])
    return summary
