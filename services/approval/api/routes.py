"""HTTP routes of approval: the work list, one case, and completing a task."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from services.approval import handlers
from services.approval.api.schemas import CaseOut, CompleteTaskIn, CompleteTaskOut, TaskListOut
from services.approval.domain.process import Decision, TaskStatus
from services.common.principal import CurrentPrincipal, Role, require_role
from services.common.runtime import Runtime, get_runtime

router = APIRouter(prefix="/api/v1/approval", tags=["approval 审批"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

_READERS = (Role.approver, Role.department_head, Role.supervisor, Role.operations)
_ACTORS = (Role.approver, Role.department_head)

CaseNo = Annotated[str, Path(min_length=1, max_length=50)]
TaskId = Annotated[str, Path(min_length=1, max_length=36)]


@router.get("/tasks", response_model=TaskListOut, summary="Tasks in the caller's region (待办/已办)")
async def list_tasks(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    case_no: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> TaskListOut:
    require_role(principal, *_READERS)

    def read() -> list[dict[str, Any]]:
        with runtime.read_session() as session:
            return handlers.list_tasks(session, principal, case_no, status, limit)

    return TaskListOut.model_validate({"items": await asyncio.to_thread(read)})


@router.get("/cases/{case_no}", response_model=CaseOut, summary="One case with its tasks")
async def get_case(case_no: CaseNo, principal: CurrentPrincipal, runtime: RuntimeDep) -> CaseOut:
    require_role(principal, *_READERS)

    def read() -> dict[str, Any]:
        with runtime.read_session() as session:
            return handlers.get_case(session, principal, case_no)

    return CaseOut.model_validate(await asyncio.to_thread(read))


@router.post(
    "/tasks/{task_id}/complete", response_model=CompleteTaskOut, summary="Complete a step (办理环节)",
    responses={409: {"description": "Task already completed (acted_by, acted_at) or case not active "
                                    "(state, allowed_actions), or decision missing/not allowed on this step"}},
)
async def complete(
    task_id: TaskId, body: CompleteTaskIn, principal: CurrentPrincipal, runtime: RuntimeDep,
) -> CompleteTaskOut:
    require_role(principal, *_ACTORS)
    command = handlers.CompleteTask(
        task_id=task_id, opinion=body.opinion, reasons=body.reasons,
        decision=Decision(body.decision) if body.decision else None,
    )

    def unit_of_work() -> handlers.CompletionResult:
        with runtime.session_factory.begin() as session:
            return handlers.complete_task(session, runtime.outbox, principal, command)

    result = await asyncio.to_thread(unit_of_work)
    return CompleteTaskOut(task_id=result.task_id, case_no=result.case_no, status="done",
                           next_task_id=result.next_task_id, case_status=result.case_status)
