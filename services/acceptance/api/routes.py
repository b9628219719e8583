"""HTTP routes of acceptance."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from services.acceptance import handlers
from services.acceptance.api.schemas import ApplicationIn, ApplicationOut
from services.acceptance.domain.model import Outcome, SubmittedMaterial
from services.common.contracts.payloads import Applicant
from services.common.principal import CurrentPrincipal, Role, require_role
from services.common.runtime import Runtime, get_runtime

router = APIRouter(prefix="/api/v1/applications", tags=["acceptance 受理"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

_CLERKS = (Role.window_clerk, Role.platform)


def _out(result: dict[str, Any], outcome: Outcome) -> ApplicationOut:
    if outcome is Outcome.accepted:
        message = f"已受理，办件编号 {result['case_no']}，承诺办结日期 {result['promised_due_date']}"
    else:
        listed = "；".join(f"{m['name']}（{m['reason']}）" for m in result["missing"])
        message = f"材料不齐全，请一次性补齐以下材料：{listed}"
    return ApplicationOut(outcome=outcome.value, message=message, **result)


@router.post(
    "", status_code=201, response_model=ApplicationOut, summary="Submit an application (申请受理)",
    responses={201: {"description": "Accepted with a receipt, or a one-time notice of everything missing"}},
)
async def submit(body: ApplicationIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> JSONResponse:
    require_role(principal, *_CLERKS)
    command = handlers.SubmitApplication(
        item_code=body.item_code, region_code=body.region_code, channel=body.channel,
        applicant=Applicant(**body.applicant.model_dump()),
        materials=[SubmittedMaterial(m.code, m.originals, m.copies) for m in body.materials],
    )

    def unit_of_work() -> handlers.SubmissionResult:
        with runtime.session_factory.begin() as session:
            return handlers.submit_application(session, runtime.outbox, runtime.calendar, principal, command)

    result = await asyncio.to_thread(unit_of_work)
    out = _out(result.record, result.outcome)
    return JSONResponse(out.model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/api/v1/applications/{result.case_no}"})


@router.get("/{case_no}", response_model=ApplicationOut, summary="One case as acceptance recorded it")
async def get_one(case_no: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> ApplicationOut:
    def read() -> dict[str, Any]:
        with runtime.read_session() as session:
            return handlers.get_case(session, principal, case_no)

    row = await asyncio.to_thread(read)
    return _out(row, Outcome(row["status"]))
