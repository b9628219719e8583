"""HTTP routes of approval: the work queues, one case, and every action on a task or a case.

Every write runs as one short unit of work behind its Idempotency-Key (common/idempotent_writes.py): the
case row locked, the engine stepped, the tasks and the events written together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from services.approval import handlers
from services.approval.adapters.tables import idempotency_key
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
from services.common import idempotency
from services.common.contracts.case import MissingMaterial, ReceivedMaterial
from services.common.contracts.permissions import Action, requires
from services.common.idempotent_writes import IdempotencyKey, KeyPolicy, run_once
from services.common.principal import Principal, Role
from services.common.runtime import Runtime, get_runtime

router = APIRouter(prefix="/api/v1/approval", tags=["approval 审批"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# The caller, checked against the role × action matrix (services/common/contracts/permissions.py).
Reader = Annotated[Principal, requires(Action.approval_read)]
Claimer = Annotated[Principal, requires(Action.approval_claim)]
Decider = Annotated[Principal, requires(Action.approval_decide)]
AbsenceRecorder = Annotated[Principal, requires(Action.approval_absence)]
SupplementHandler = Annotated[Principal, requires(Action.approval_supplement)]
Suspender = Annotated[Principal, requires(Action.approval_suspend)]
Extender = Annotated[Principal, requires(Action.approval_extend)]
CertificateIssuer = Annotated[Principal, requires(Action.approval_certificate)]
Deliverer = Annotated[Principal, requires(Action.approval_deliver)]
Closer = Annotated[Principal, requires(Action.approval_complete)]
CaseNo = Annotated[str, Path(min_length=1, max_length=50, description="办件编号")]
TaskId = Annotated[str, Path(min_length=1, max_length=36)]
_CONFLICTS = {404: {"description": "No such task or case in the caller's region (or department, for a joint "
                                   "opinion): existence is not revealed"},
              409: {"description": "Not allowed in the case's state (state, allowed_actions), or the task already "
                                   "done (acted_by, acted_at) or claimed by someone else (claimed_by)"}}


def _deputies(runtime: Runtime) -> dict[str, str]:
    return _settings(runtime).deputies


def _absence(deputy: DeputyIn | None) -> handlers.Absence | None:
    return handlers.Absence(deputy.user_id, deputy.name) if deputy is not None else None


def _settings(runtime: Runtime) -> ApprovalSettings:
    settings: ApprovalSettings | None = runtime.extras.get("approval_settings")
    if settings is None:
        settings = runtime.extras["approval_settings"] = ApprovalSettings()
    return settings


async def _once(runtime: Runtime, principal: Principal, key: str | None, path: str, body: BaseModel | None,
                work: Callable[[Session], Any]) -> JSONResponse:
    """One action in one transaction behind the Idempotency-Key: a retry with the key replays the first
    answer instead of meeting the 409 its own first attempt caused."""
    settings = _settings(runtime)
    policy = KeyPolicy(idempotency_key, timedelta(hours=settings.idempotency_retention_hours),
                       settings.idempotency_cleanup_seconds, required=principal.role is Role.platform)

    def answer(session: Session) -> idempotency.StoredResponse:
        result = work(session)
        payload = result.model_dump(mode="json") if isinstance(result, BaseModel) else jsonable_encoder(result)
        return idempotency.StoredResponse(200, payload)

    fingerprint_body = body.model_dump(mode="json") if body is not None else {}
    return await run_once(runtime, policy, principal, key, "POST", path, fingerprint_body, answer)


@router.get("/tasks", response_model=TaskListOut, summary="Work queue (待办/已办) in the caller's region")
async def list_tasks(
    principal: Reader,
    runtime: RuntimeDep,
    case_no: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
    actionable: Annotated[bool, Query(description="only tasks of the caller's role (and department)")] = False,
    mine: Annotated[bool, Query(description="only tasks the caller has claimed (签收)")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> TaskListOut:

    def read() -> list[dict[str, Any]]:
        with runtime.read_session() as session:
            return handlers.list_tasks(session, principal, case_no, status, limit, actionable, mine)

    return TaskListOut.model_validate({"items": await asyncio.to_thread(read)})


@router.get("/cases/{case_no}", response_model=CaseOut, summary="One case with its tasks and allowed actions")
async def get_case(case_no: CaseNo, principal: Reader, runtime: RuntimeDep) -> CaseOut:

    def read() -> dict[str, Any]:
        with runtime.read_session() as session:
            return handlers.get_case(session, principal, case_no)

    return CaseOut.model_validate(await asyncio.to_thread(read))


@router.post("/tasks/{task_id}/claim", response_model=TaskOut, summary="Claim a task (签收)", responses=_CONFLICTS)
async def claim(task_id: TaskId, body: ClaimIn, principal: Claimer, runtime: RuntimeDep,
                key: IdempotencyKey = None) -> JSONResponse:
    deputies = _deputies(runtime)
    return await _once(runtime, principal, key, f"/api/v1/approval/tasks/{task_id}/claim", body, lambda s: TaskOut(
        **handlers.claim_task(s, principal, task_id, _absence(body.deputy_for), deputies)))


@router.post("/tasks/{task_id}/release", response_model=TaskOut, summary="Give a claimed task back (退回待办)",
             responses=_CONFLICTS)
async def release(task_id: TaskId, body: ClaimIn, principal: Claimer, runtime: RuntimeDep,
                  key: IdempotencyKey = None) -> JSONResponse:
    deputies = _deputies(runtime)
    return await _once(runtime, principal, key, f"/api/v1/approval/tasks/{task_id}/release", body,
                       lambda s: TaskOut(**handlers.release_task(s, principal, task_id, _absence(body.deputy_for),
                                                                 deputies)))


@router.post(
    "/tasks/{task_id}/complete", response_model=CompleteTaskOut,
    summary="Do a step (审查/审核/决定) or give a department's opinion (会签)",
    responses=_CONFLICTS | {422: {"description": "Opinion missing, a refusal without reasons, or consent on a "
                                                 "step / a decision on a department's opinion"}},
)
async def complete(task_id: TaskId, body: CompleteTaskIn, principal: Decider, runtime: RuntimeDep,
                   key: IdempotencyKey = None) -> JSONResponse:
    command = handlers.CompleteTask(task_id=task_id, opinion=body.opinion, decision=body.decision,
                                    reasons=body.reasons, consent=body.consent,
                                    deputy_for=_absence(body.deputy_for), conditions=body.conditions)
    deputies = _deputies(runtime)

    def work(session: Session) -> CompleteTaskOut:
        result = handlers.complete_task(session, runtime.outbox, principal, command, deputies)
        return CompleteTaskOut(task_id=result.task_id, case_no=result.case_no, status="done",
                               next_task_ids=result.next_task_ids,
                               case_status=result.case_status)  # type: ignore[arg-type]

    return await _once(runtime, principal, key, f"/api/v1/approval/tasks/{task_id}/complete", body, work)


@router.post(
    "/tasks/{task_id}/absence", response_model=TaskOut,
    summary="A joint department does not take part: taken to consent (缺席默认)",
    responses=_CONFLICTS | {422: {"description": "No reason given"}},
)
async def absence(task_id: TaskId, body: AbsenceIn, principal: AbsenceRecorder, runtime: RuntimeDep,
                  key: IdempotencyKey = None) -> JSONResponse:
    return await _once(runtime, principal, key, f"/api/v1/approval/tasks/{task_id}/absence", body,
                       lambda s: TaskOut(**handlers.record_absence(s, principal, runtime.outbox, task_id,
                                                                   body.reason)))


def _case_path(case_no: str, action: str) -> str:
    return f"/api/v1/approval/cases/{case_no}/{action}"


@router.post("/cases/{case_no}/supplement-request", summary="Ask for supplements during review (审查中一次性告知)",
             responses=_CONFLICTS)
async def request_supplement(case_no: CaseNo, body: SupplementRequestIn, principal: SupplementHandler,
                             runtime: RuntimeDep, key: IdempotencyKey = None) -> JSONResponse:
    missing = [MissingMaterial(code=m.code, name=m.name, reason=m.reason) for m in body.missing]
    return await _once(runtime, principal, key, _case_path(case_no, "supplement-request"), body,
                       lambda s: handlers.request_supplement(s, runtime.outbox, principal, case_no, missing,
                                                             body.supply_by))


@router.post("/cases/{case_no}/supplement-received", summary="Supplemented materials received (补正材料收到)",
             responses=_CONFLICTS | {422: {"description": "A material the notice did not list"}})
async def supplement_received(case_no: CaseNo, body: SuppliedIn, principal: SupplementHandler,
                              runtime: RuntimeDep, key: IdempotencyKey = None) -> JSONResponse:
    materials = [ReceivedMaterial(code=m.code, name=m.name) for m in body.materials]
    return await _once(runtime, principal, key, _case_path(case_no, "supplement-received"), body,
                       lambda s: handlers.supplement_received(s, runtime.outbox, principal, case_no, materials))


@router.post("/cases/{case_no}/suspend", summary="Special procedure: the clock stops (特别程序)", responses=_CONFLICTS)
async def suspend(case_no: CaseNo, body: SuspendIn, principal: Suspender, runtime: RuntimeDep,
                  key: IdempotencyKey = None) -> JSONResponse:
    return await _once(runtime, principal, key, _case_path(case_no, "suspend"), body,
                       lambda s: handlers.suspend(s, runtime.outbox, principal, case_no, body.reason,
                                                  body.explanation, body.expected_days))


@router.post("/cases/{case_no}/resume", summary="Special procedure over (恢复计时)", responses=_CONFLICTS)
async def resume(case_no: CaseNo, body: ResumeIn, principal: Suspender, runtime: RuntimeDep,
                 key: IdempotencyKey = None) -> JSONResponse:
    return await _once(runtime, principal, key, _case_path(case_no, "resume"), body,
                       lambda s: handlers.resume(s, runtime.outbox, principal, case_no, body.result))


@router.post("/cases/{case_no}/extend", summary="Extend the time limit once (延长审批期限, head only)",
             responses=_CONFLICTS)
async def extend(case_no: CaseNo, body: ExtendIn, principal: Extender, runtime: RuntimeDep,
                 key: IdempotencyKey = None) -> JSONResponse:
    return await _once(runtime, principal, key, _case_path(case_no, "extend"), body,
                       lambda s: handlers.extend(s, runtime.outbox, principal, case_no, body.reason))


@router.post("/cases/{case_no}/certificate", summary="Issue the licence (制证)", responses=_CONFLICTS)
async def certificate(case_no: CaseNo, principal: CertificateIssuer, runtime: RuntimeDep,
                      key: IdempotencyKey = None) -> JSONResponse:
    return await _once(runtime, principal, key, _case_path(case_no, "certificate"), None,
                       lambda s: handlers.issue_certificate(s, runtime.outbox, principal, case_no))


@router.post("/cases/{case_no}/delivery", summary="Serve the licence or the decision (送达)", responses=_CONFLICTS)
async def delivery(case_no: CaseNo, body: DeliverIn, principal: Deliverer, runtime: RuntimeDep,
                   key: IdempotencyKey = None) -> JSONResponse:
    return await _once(runtime, principal, key, _case_path(case_no, "delivery"), body,
                       lambda s: handlers.deliver(s, runtime.outbox, principal, case_no, body.method, body.receiver))


@router.post("/cases/{case_no}/complete", summary="Close the case (办结)", responses=_CONFLICTS)
async def complete_case(case_no: CaseNo, principal: Closer, runtime: RuntimeDep,
                        key: IdempotencyKey = None) -> JSONResponse:
    return await _once(runtime, principal, key, _case_path(case_no, "complete"), None,
                       lambda s: handlers.complete_case(s, runtime.outbox, principal, case_no))
