"""HTTP routes of approval: the work queues, one case, and every action on a task or a case.

Every write runs as one short unit of work (runtime.run_write): the case row locked, the engine stepped,
the tasks and the events written together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from services.approval import handlers
from services.approval.api.schemas import (
    AbsenceIn,
    CaseOut,
    ClaimIn,
    CompleteTaskIn,
    CompleteTaskOut,
    DeliverIn,
    DeputyIn,
    ExtendIn,
    ResumeIn,
    SupplementRequestIn,
    SuppliedIn,
    SuspendIn,
    TaskListOut,
    TaskOut,
)
from services.approval.config import ApprovalSettings
from services.approval.domain.process import TaskStatus
from services.common.contracts.case import MissingMaterial, ReceivedMaterial
from services.common.principal import CurrentPrincipal, Principal, Role, require_role
from services.common.runtime import Runtime, get_runtime, run_write

router = APIRouter(prefix="/api/v1/approval", tags=["approval 审批"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
T = TypeVar("T")

_READERS = (Role.approver, Role.department_head, Role.supervisor, Role.operations)
_ACTORS = (Role.approver, Role.department_head)

CaseNo = Annotated[str, Path(min_length=1, max_length=50, description="办件编号")]
TaskId = Annotated[str, Path(min_length=1, max_length=36)]
_CONFLICTS = {404: {"description": "No such task or case in the caller's region (or department, for a joint "
                                   "opinion): existence is not revealed"},
              409: {"description": "Not allowed in the case's state (state, allowed_actions), or the task already "
                                   "done (acted_by, acted_at) or claimed by someone else (claimed_by)"}}


def _deputies(runtime: Runtime) -> dict[str, str]:
    settings: ApprovalSettings | None = runtime.extras.get("approval_settings")
    if settings is None:
        settings = runtime.extras["approval_settings"] = ApprovalSettings()
    return settings.deputies


def _absence(deputy: DeputyIn | None) -> handlers.Absence | None:
    return handlers.Absence(deputy.user_id, deputy.name) if deputy is not None else None


async def _write(runtime: Runtime, work: Callable[[Session], T]) -> T:
    def unit_of_work() -> T:
        with runtime.session_factory.begin() as session:
            return work(session)

    return await run_write(runtime, unit_of_work)


@router.get("/tasks", response_model=TaskListOut, summary="Work queue (待办/已办) in the caller's region")
async def list_tasks(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    case_no: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
    actionable: Annotated[bool, Query(description="only tasks of the caller's role (and department)")] = False,
    mine: Annotated[bool, Query(description="only tasks the caller has claimed (签收)")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> TaskListOut:
    require_role(principal, *_READERS)

    def read() -> list[dict[str, Any]]:
        with runtime.read_session() as session:
            return handlers.list_tasks(session, principal, case_no, status, limit, actionable, mine)

    return TaskListOut.model_validate({"items": await asyncio.to_thread(read)})


@router.get("/cases/{case_no}", response_model=CaseOut, summary="One case with its tasks and allowed actions")
async def get_case(case_no: CaseNo, principal: CurrentPrincipal, runtime: RuntimeDep) -> CaseOut:
    require_role(principal, *_READERS)

    def read() -> dict[str, Any]:
        with runtime.read_session() as session:
            return handlers.get_case(session, principal, case_no)

    return CaseOut.model_validate(await asyncio.to_thread(read))


@router.post("/tasks/{task_id}/claim", response_model=TaskOut, summary="Claim a task (签收)", responses=_CONFLICTS)
async def claim(task_id: TaskId, body: ClaimIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> TaskOut:
    require_role(principal, *_ACTORS)
    deputies = _deputies(runtime)
    return TaskOut.model_validate(await _write(runtime, lambda s: handlers.claim_task(
        s, principal, task_id, _absence(body.deputy_for), deputies)))


@router.post("/tasks/{task_id}/release", response_model=TaskOut, summary="Give a claimed task back (退回待办)",
             responses=_CONFLICTS)
async def release(task_id: TaskId, body: ClaimIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> TaskOut:
    require_role(principal, *_ACTORS)
    deputies = _deputies(runtime)
    return TaskOut.model_validate(await _write(runtime, lambda s: handlers.release_task(
        s, principal, task_id, _absence(body.deputy_for), deputies)))


@router.post(
    "/tasks/{task_id}/complete", response_model=CompleteTaskOut,
    summary="Do a step (审查/审核/决定) or give a department's opinion (会签)",
    responses=_CONFLICTS | {422: {"description": "Opinion missing, a refusal without reasons, or consent on a "
                                                 "step / a decision on a department's opinion"}},
)
async def complete(task_id: TaskId, body: CompleteTaskIn, principal: CurrentPrincipal,
                   runtime: RuntimeDep) -> CompleteTaskOut:
    require_role(principal, *_ACTORS)
    command = handlers.CompleteTask(task_id=task_id, opinion=body.opinion, decision=body.decision,
                                    reasons=body.reasons, consent=body.consent,
                                    deputy_for=_absence(body.deputy_for))
    deputies = _deputies(runtime)
    result = await _write(runtime, lambda s: handlers.complete_task(s, runtime.outbox, principal, command,
                                                                    deputies))
    return CompleteTaskOut(task_id=result.task_id, case_no=result.case_no, status="done",
                           next_task_ids=result.next_task_ids, case_status=result.case_status)  # type: ignore[arg-type]


@router.post(
    "/tasks/{task_id}/absence", response_model=TaskOut,
    summary="A joint department does not take part: taken to consent (缺席默认)",
    responses=_CONFLICTS | {422: {"description": "No reason given"}},
)
async def absence(task_id: TaskId, body: AbsenceIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> TaskOut:
    require_role(principal, *_ACTORS)
    return TaskOut.model_validate(await _write(runtime, lambda s: handlers.record_absence(
        s, principal, runtime.outbox, task_id, body.reason)))


def _case_action(principal: Principal) -> None:
    require_role(principal, *_ACTORS)


@router.post("/cases/{case_no}/supplement-request", summary="Ask for supplements during review (审查中一次性告知)",
             responses=_CONFLICTS)
async def request_supplement(case_no: CaseNo, body: SupplementRequestIn, principal: CurrentPrincipal,
                             runtime: RuntimeDep) -> dict[str, Any]:
    _case_action(principal)
    missing = [MissingMaterial(code=m.code, name=m.name, reason=m.reason) for m in body.missing]
    return await _write(runtime, lambda s: handlers.request_supplement(s, runtime.outbox, principal, case_no,
                                                                       missing, body.supply_by))


@router.post("/cases/{case_no}/supplement-received", summary="Supplemented materials received (补正材料收到)",
             responses=_CONFLICTS | {422: {"description": "A material the notice did not list"}})
async def supplement_received(case_no: CaseNo, body: SuppliedIn, principal: CurrentPrincipal,
                              runtime: RuntimeDep) -> dict[str, Any]:
    _case_action(principal)
    materials = [ReceivedMaterial(code=m.code, name=m.name) for m in body.materials]
    return await _write(runtime, lambda s: handlers.supplement_received(s, runtime.outbox, principal, case_no,
                                                                        materials))


@router.post("/cases/{case_no}/suspend", summary="Special procedure: the clock stops (特别程序)", responses=_CONFLICTS)
async def suspend(case_no: CaseNo, body: SuspendIn, principal: CurrentPrincipal, runtime: RuntimeDep
                  ) -> dict[str, Any]:
    _case_action(principal)
    return await _write(runtime, lambda s: handlers.suspend(s, runtime.outbox, principal, case_no, body.reason,
                                                            body.explanation, body.expected_days))


@router.post("/cases/{case_no}/resume", summary="Special procedure over (恢复计时)", responses=_CONFLICTS)
async def resume(case_no: CaseNo, body: ResumeIn, principal: CurrentPrincipal, runtime: RuntimeDep
                 ) -> dict[str, Any]:
    _case_action(principal)
    return await _write(runtime, lambda s: handlers.resume(s, runtime.outbox, principal, case_no, body.result))


@router.post("/cases/{case_no}/extend", summary="Extend the time limit once (延长审批期限, head only)",
             responses=_CONFLICTS)
async def extend(case_no: CaseNo, body: ExtendIn, principal: CurrentPrincipal, runtime: RuntimeDep
                 ) -> dict[str, Any]:
    _case_action(principal)
    return await _write(runtime, lambda s: handlers.extend(s, runtime.outbox, principal, case_no, body.reason))


@router.post("/cases/{case_no}/certificate", summary="Issue the licence (制证)", responses=_CONFLICTS)
async def certificate(case_no: CaseNo, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    _case_action(principal)
    return await _write(runtime, lambda s: handlers.issue_certificate(s, runtime.outbox, principal, case_no))


@router.post("/cases/{case_no}/delivery", summary="Serve the licence or the decision (送达)", responses=_CONFLICTS)
async def delivery(case_no: CaseNo, body: DeliverIn, principal: CurrentPrincipal, runtime: RuntimeDep
                   ) -> dict[str, Any]:
    _case_action(principal)
    return await _write(runtime, lambda s: handlers.deliver(s, runtime.outbox, principal, case_no, body.method,
                                                            body.receiver))


@router.post("/cases/{case_no}/complete", summary="Close the case (办结)", responses=_CONFLICTS)
async def complete_case(case_no: CaseNo, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    _case_action(principal)
    return await _write(runtime, lambda s: handlers.complete_case(s, runtime.outbox, principal, case_no))
