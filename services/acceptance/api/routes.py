"""HTTP routes of acceptance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from services.acceptance import handlers
from services.acceptance.adapters.tables import idempotency_key
from services.acceptance.api.schemas import (
    ApplicationIn,
    ApplicationOut,
    DeputyIn,
    FeeIn,
    FeeOut,
    MaterialIn,
    SupplementIn,
)
from services.acceptance.config import AcceptanceSettings
from services.acceptance.domain.model import SubmittedMaterial
from services.acceptance.domain.outcomes import Correction, Deferral, Outcome, Refusal
from services.common import idempotency
from services.common.contracts.payloads import Applicant
from services.common.contracts.permissions import Action, requires
from services.common.idempotent_writes import IdempotencyKey, KeyPolicy, run_once
from services.common.principal import Principal, Role
from services.common.runtime import Runtime, get_runtime
from services.common.workdays import SHANGHAI

router = APIRouter(prefix="/api/v1/applications", tags=["acceptance 受理"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def settings_of(runtime: Runtime) -> AcceptanceSettings:
    """Read once per service instance (the environment does not change under a running process)."""
    settings: AcceptanceSettings | None = runtime.extras.get("acceptance_settings")
    if settings is None:  # not setdefault: its argument would be built (the environment parsed) every call
        settings = runtime.extras["acceptance_settings"] = AcceptanceSettings()
    return settings


def _out(result: dict[str, Any], outcome: Outcome) -> ApplicationOut:
    case_no, due = result["case_no"], result.get("promised_due_date")
    match outcome:
        case Outcome.received:
            decide_by = result.get("decision_due_at")
            # Due at 24:00 of the fifth working day: printed as that day, as on the 收件凭证.
            last_day = (decide_by.astimezone(SHANGHAI) - timedelta(microseconds=1)).date() if decide_by else None
            message = (f"已收件，办件编号 {case_no}；将于 {last_day} 24:00 前作出是否受理的决定，"
                       "逾期未告知补正的，自收件之日起视为受理")
        case Outcome.accepted if result.get("deemed_accepted"):
            message = (f"逾期未告知补正，依法自收件之日起视为受理，办件编号 {case_no}，承诺办结日期 {due}")
        case Outcome.supplement_requested:
            listed = "；".join(f"{m['name']}（{m['reason']}）" for m in result["missing"])
            message = f"材料不齐全，请一次性补齐以下材料：{listed}"
        case Outcome.rejected:
            message = f"不予受理：{(result.get('refusal') or {}).get('reason', '')}"
        case Outcome.completed:
            message = f"即办件，已当场办结，办件编号 {case_no}"
        case Outcome.corrected:
            message = f"已当场更正并受理，办件编号 {case_no}，承诺办结日期 {due}"
        case Outcome.deferred:
            message = (f"已容缺受理，办件编号 {case_no}，承诺办结日期 {due}；"
                       f"容缺材料须于 {result.get('deferred_due_date')} 前补齐")
        case _:
            message = f"已受理，办件编号 {case_no}，承诺办结日期 {due}"
    fields = {k: v for k, v in result.items() if k not in ("outcome", "message")}
    fields["imported"] = bool(fields.get("imported"))
    fields["deemed_accepted"] = bool(fields.get("deemed_accepted"))
    return ApplicationOut(outcome=outcome.value, message=message, **fields)


def _materials(items: list[MaterialIn]) -> list[SubmittedMaterial]:
    return [SubmittedMaterial(m.code, m.originals, m.copies, tuple(m.files)) for m in items]


def _absence(deputy: DeputyIn | None) -> handlers.Absence | None:
    return handlers.Absence(deputy.user_id, deputy.name) if deputy is not None else None


async def _run_once(
    runtime: Runtime, principal: Principal, key: str | None, method: str, path: str, body: Any,
    work: Callable[[Session], idempotency.StoredResponse],
) -> JSONResponse:
    """One unit of work behind the Idempotency-Key (services/common/idempotent_writes.py)."""
    settings = settings_of(runtime)
    policy = KeyPolicy(idempotency_key, timedelta(hours=settings.idempotency_retention_hours),
                       settings.idempotency_cleanup_seconds, required=principal.role is Role.platform)
    return await run_once(runtime, policy, principal, key, method, path, body, work)


@router.post(
    "", status_code=201, response_model=ApplicationOut, summary="Submit an application (申请受理)",
    responses={201: {"description": "Accepted with a receipt, or a one-time notice of everything missing"},
               400: {"description": "Idempotency-Key missing (platform role) or unusable"},
               422: {"description": "Invalid body, or an Idempotency-Key already used for another body"}},
)
async def submit(body: ApplicationIn, principal: Annotated[Principal, requires(Action.application_submit)],
                 runtime: RuntimeDep, key: IdempotencyKey = None) -> JSONResponse:
    command = handlers.SubmitApplication(
        item_code=body.item_code, region_code=body.region_code, channel=body.channel,
        applicant=Applicant(**body.applicant.model_dump()), materials=_materials(body.materials),
        agent=body.agent.model_dump(mode="json") if body.agent else None,
        refusal=Refusal(**body.refusal.model_dump()) if body.refusal else None,
        corrections=[Correction(**c.model_dump()) for c in body.corrections],
        deferral=Deferral(tuple(body.deferral.materials), body.deferral.due_date, body.deferral.promise_ref)
        if body.deferral else None,
        deputy_for=_absence(body.deputy_for), received_at=body.received_at, accepted_at=body.accepted_at,
    )
    deputies = settings_of(runtime).deputies

    def work(session: Session) -> idempotency.StoredResponse:
        result = handlers.submit_application(session, runtime.outbox, runtime.calendar, principal, command,
                                             deputies=deputies)
        out = _out(result.record, result.outcome)
        return idempotency.StoredResponse(201, out.model_dump(mode="json"),
                                          {"Location": f"/api/v1/applications/{result.case_no}"})

    return await _run_once(runtime, principal, key, "POST", "/api/v1/applications", body.model_dump(mode="json"),
                           work)


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    request_ref: str = Field(min_length=1, max_length=100,
                             description="the applicant's written request (撤回申请书) number")
    reason: str = Field(min_length=1, max_length=300, description="撤回理由 as the applicant states it")


class WithdrawOut(BaseModel):
    case_no: str
    status: str
    status_name: str
    request_ref: str
    reason: str
    withdrawn_at: datetime


CaseNo = Annotated[str, Path(min_length=1, max_length=50, description="办件编号")]


@router.post(
    "/{case_no}/withdraw", response_model=WithdrawOut, summary="Withdraw before a decision (撤回申请)",
    responses={404: {"description": "No such case in the clerk's region"},
               409: {"description": "Decided, completed or already withdrawn: state and allowed actions"}},
)
async def withdraw(case_no: CaseNo, body: WithdrawIn,
                   principal: Annotated[Principal, requires(Action.application_withdraw)], runtime: RuntimeDep,
                   key: IdempotencyKey = None) -> JSONResponse:
    # A window clerk acts on the applicant's written request; online withdrawal would need the applicant's login.
    command = handlers.WithdrawApplication(case_no=case_no, request_ref=body.request_ref, reason=body.reason)

    def work(session: Session) -> idempotency.StoredResponse:
        result = handlers.withdraw_application(session, runtime.outbox, principal, command)
        return idempotency.StoredResponse(200, WithdrawOut(**result).model_dump(mode="json"))

    return await _run_once(runtime, principal, key, "POST", f"/api/v1/applications/{case_no}/withdraw",
                           body.model_dump(mode="json"), work)


@router.post(
    "/{case_no}/supplement", response_model=ApplicationOut, summary="Bring what the notice listed (补正)",
    responses={404: {"description": "No such case in the clerk's region"},
               409: {"description": "Not waiting for a supplement: state and allowed actions"},
               422: {"description": "A material the notice did not list (一次性告知 enforced), or bad input"}},
)
async def supplement(case_no: CaseNo, body: SupplementIn,
                     principal: Annotated[Principal, requires(Action.application_supplement)],
                     runtime: RuntimeDep, key: IdempotencyKey = None) -> JSONResponse:
    command = handlers.SupplyMaterials(case_no=case_no, materials=_materials(body.materials),
                                       deputy_for=_absence(body.deputy_for))
    deputies = settings_of(runtime).deputies

    def work(session: Session) -> idempotency.StoredResponse:
        result = handlers.supply_materials(session, runtime.outbox, runtime.calendar, principal, command,
                                           deputies=deputies)
        return idempotency.StoredResponse(200, _out(result.record, result.outcome).model_dump(mode="json"))

    return await _run_once(runtime, principal, key, "POST", f"/api/v1/applications/{case_no}/supplement",
                           body.model_dump(mode="json"), work)


@router.post(
    "/{case_no}/fees", status_code=201, response_model=FeeOut, summary="Charge the published fee (收费)",
    responses={404: {"description": "No such case in the clerk's region"},
               409: {"description": "Not accepted, or already charged: state and allowed actions"},
               422: {"description": "A free item, or above the published standard (行政许可法 Art. 58)"}},
)
async def fees(case_no: CaseNo, body: FeeIn, principal: Annotated[Principal, requires(Action.application_charge_fee)],
               runtime: RuntimeDep, key: IdempotencyKey = None) -> JSONResponse:
    command = handlers.ChargeFee(case_no=case_no, amount_fen=body.amount_fen, receipt_no=body.receipt_no,
                                 deputy_for=_absence(body.deputy_for))
    deputies = settings_of(runtime).deputies

    def work(session: Session) -> idempotency.StoredResponse:
        fee = handlers.charge_fee(session, runtime.outbox, principal, command, deputies=deputies)
        return idempotency.StoredResponse(201, FeeOut(**fee).model_dump(mode="json"))

    return await _run_once(runtime, principal, key, "POST", f"/api/v1/applications/{case_no}/fees",
                           body.model_dump(mode="json"), work)


@router.get("/{case_no}", response_model=ApplicationOut, summary="One case as acceptance recorded it")
async def get_one(case_no: str, principal: Annotated[Principal, requires(Action.application_read)],
                  runtime: RuntimeDep) -> ApplicationOut:
    def read() -> dict[str, Any]:
        with runtime.read_session() as session:
            return handlers.get_case(session, principal, case_no)

    row = await asyncio.to_thread(read)
    # Cases stored before migration 0005 have no outcome: their status was it.
    return _out(row, Outcome(row.get("outcome") or row["status"]))
