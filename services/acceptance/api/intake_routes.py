"""Applications received but not yet decided (收件, then 审查受理), and the 5-working-day sweep.

`POST /api/v1/applications/intake` receives (online, or materials left at a centre);
`POST /api/v1/applications/{case_no}/examination` decides later, with the same outcomes as the window.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.acceptance import handlers, intake
from services.acceptance.api.routes import (
    CaseNo,
    RuntimeDep,
    _absence,
    _materials,
    _out,
    _run_once,
    settings_of,
)
from services.acceptance.api.schemas import ApplicationOut, ExamineIn, IntakeIn
from services.acceptance.domain.outcomes import Correction, Deferral, Refusal
from services.common import idempotency
from services.common.contracts.payloads import Applicant
from services.common.contracts.permissions import Action, requires
from services.common.idempotent_writes import IdempotencyKey
from services.common.principal import Principal
from services.common.problems import PROBLEM_JSON, TYPE_BASE
from services.common.runtime import Runtime

log = logging.getLogger(__name__)
intake_router = APIRouter(prefix="/api/v1/applications", tags=["acceptance 受理"])


@intake_router.post(
    "/intake", status_code=201, response_model=ApplicationOut, summary="Receive for a later decision (收件)",
    responses={201: {"description": "Received, with a 收件凭证 and the instant by which acceptance decides"},
               404: {"description": "No such item in the caller's region"},
               422: {"description": "Invalid identity, materials not in the item's list, bad times or channel"}},
)
async def receive(body: IntakeIn, principal: Annotated[Principal, requires(Action.application_receive)],
                  runtime: RuntimeDep, key: IdempotencyKey = None) -> JSONResponse:
    # A clerk takes in materials left at a centre; the provincial platform pushes what was applied for online.
    command = handlers.SubmitApplication(
        item_code=body.item_code, region_code=body.region_code, channel=body.channel,
        applicant=Applicant(**body.applicant.model_dump()), materials=_materials(body.materials),
        agent=body.agent.model_dump(mode="json") if body.agent else None,
        deputy_for=_absence(body.deputy_for), received_at=body.received_at,
    )
    deputies = settings_of(runtime).deputies

    def work(session: Session) -> idempotency.StoredResponse:
        result = intake.receive_application(session, runtime.outbox, runtime.calendar, principal, command,
                                            deputies=deputies)
        return idempotency.StoredResponse(201, _out(result.record, result.outcome).model_dump(mode="json"),
                                          {"Location": f"/api/v1/applications/{result.case_no}"})

    return await _run_once(runtime, principal, key, "POST", "/api/v1/applications/intake",
                           body.model_dump(mode="json"), work)


@intake_router.post(
    "/{case_no}/examination", response_model=ApplicationOut, summary="Decide on a received case (审查受理)",
    responses={200: {"description": "One of the outcomes of Art. 32, with its document"},
               403: {"description": "Not the first clerk (首问负责) nor their AB岗 deputy"},
               404: {"description": "No such case in the clerk's region"},
               409: {"description": "Not waiting for a decision; or too late: the 5 working days ran out and the "
                                    "case counts as accepted from receipt (type acceptance-deemed, with the "
                                    "receipt's number), the clerk's judgement not applied"},
               422: {"description": "A judgement that cannot apply (e.g. 容缺 of the application form)"}},
)
async def examine(case_no: CaseNo, body: ExamineIn,
                  principal: Annotated[Principal, requires(Action.application_examine)], runtime: RuntimeDep,
                  key: IdempotencyKey = None) -> JSONResponse:
    command = intake.ExamineApplication(
        case_no=case_no,
        refusal=Refusal(**body.refusal.model_dump()) if body.refusal else None,
        corrections=[Correction(**c.model_dump()) for c in body.corrections],
        deferral=Deferral(tuple(body.deferral.materials), body.deferral.due_date, body.deferral.promise_ref)
        if body.deferral else None,
        deputy_for=_absence(body.deputy_for),
    )
    deputies = settings_of(runtime).deputies
    path = f"/api/v1/applications/{case_no}/examination"

    def work(session: Session) -> idempotency.StoredResponse:
        examined = intake.examine_application(session, runtime.outbox, runtime.calendar, principal, command,
                                              deputies=deputies)
        out = _out(examined.result.record, examined.result.outcome)
        if not examined.deemed:
            return idempotency.StoredResponse(200, out.model_dump(mode="json"))
        # The acceptance is the law's and is kept (this transaction commits it); the answer says the clerk's
        # judgement came too late, so a retry replays the same 409.
        problem = {
            "type": TYPE_BASE + "acceptance-deemed", "title": "与当前状态冲突", "status": 409,
            "detail": f"办件 {case_no} 收件后五个工作日内未作出决定，依法自收件之日起视为受理（受理凭证 "
                      f"{out.document_no}），不能再告知补正或不予受理",
            "instance": path, "state": out.status, "document_no": out.document_no,
            "accepted_at": out.accepted_at.isoformat() if out.accepted_at else None,
            "promised_due_date": out.promised_due_date, "allowed_actions": ["fees", "withdraw"],
        }
        return idempotency.StoredResponse(409, problem, {"Content-Type": PROBLEM_JSON})

    return await _run_once(runtime, principal, key, "POST", path, body.model_dump(mode="json"), work)


async def deemed_acceptance_sweep(runtime: Runtime) -> None:
    """Background job (ServiceSpec.background): every `intake_sweep_seconds` from start-up, so after a
    restart the cases whose period ran out meanwhile are accepted at once."""
    interval = settings_of(runtime).intake_sweep_seconds
    while True:
        try:
            deemed = await asyncio.to_thread(intake.sweep_overdue, runtime.session_factory, runtime.outbox,
                                             runtime.calendar)
            if deemed:
                log.info("deemed accepted (视为受理): %s", ", ".join(deemed))
        except Exception:  # the next round retries: a database that fails once must not end the job
            log.exception("the deemed-acceptance sweep failed; retrying in %s s", interval)
        await asyncio.sleep(interval)
