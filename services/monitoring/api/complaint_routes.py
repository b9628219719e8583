"""HTTP routes for complaints (投诉) and ratings (好差评): public submission and look-up, staff handling.

The gateway lets anyone POST under `/api/v1/monitoring/complaints` and `/api/v1/monitoring/ratings` and GET
under the first (gateway/routes.py), and still signs a (public) principal, so a call that bypasses the gateway
is refused. Every staff route below checks the caller itself: no login 401, wrong role 403, another region's
record 404. User text is only ever returned as JSON, never rendered.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from limits import parse, storage, strategies
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from services.common import idempotency
from services.common.contracts.permissions import Action, authorize, requires
from services.common.idempotent_writes import IdempotencyKey, KeyPolicy, run_once
from services.common.principal import CurrentPrincipal, Principal, PrincipalKind, Role
from services.common.problems import Problem, problem_response
from services.common.public_limits import client_address, too_many_requests
from services.common.runtime import Runtime, get_runtime, read_in_thread, write_in_thread
from services.monitoring import complaints as service
from services.monitoring.adapters.complaint_tables import idempotency_key
from services.monitoring.config import MonitoringSettings
from services.monitoring.domain.complaints import (
    CONTACT_MAX,
    CONTENT_MAX,
    NAME_MAX,
    SHORT_TEXT_MAX,
    UNIT_MAX,
    ComplaintAction,
    ComplaintState,
    has_control_characters,
)
from services.monitoring.domain.ratings import TEXT_MAX, RatingChannel, RatingLevel
from services.monitoring.wiring import supervision_of

complaint_router = APIRouter(prefix="/api/v1/monitoring/complaints", tags=["complaints 投诉"])
rating_router = APIRouter(prefix="/api/v1/monitoring/ratings", tags=["ratings 好差评"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ComplaintNo = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^TS[0-9]{6,12}-[0-9]{8}-[0-9]{5,}$")]
RatingNo = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^PJ[0-9A-F]{18}$")]
CASE_NO = r"^[0-9A-Za-z][0-9A-Za-z\-]{0,49}$"
REGION = r"^\d{12}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        # Before anything else reads the body: the Idempotency-Key fingerprint cannot even encode a lone surrogate.
        if isinstance(value, str) and has_control_characters(value):
            raise ValueError("含有不可见的控制字符 (control characters are not allowed)")
        return value


class ComplaintIn(_In):
    region_code: str = Field(pattern=REGION, description="12-digit code of the region complained about")
    named: bool = Field(description="实名 (answered in writing within 7 days) or anonymous (匿名)")
    content: str = Field(min_length=1, max_length=CONTENT_MAX, description="投诉内容")
    name: str | None = Field(default=None, max_length=NAME_MAX, description="投诉人姓名, named complaints only")
    contact: str | None = Field(default=None, max_length=CONTACT_MAX,
                                description="phone, e-mail or address for the written answer, named complaints only")
    about_case_no: str | None = Field(default=None, pattern=CASE_NO, description="办件编号 the complaint is about")


class ComplaintOut(BaseModel):
    complaint_no: str = Field(description="投诉编号, e.g. TS320102-20261125-00042")
    query_code: str = Field(description="查询码: shown once; with the number it opens the complaint's result")
    state: str
    state_name: str
    named: bool
    received_at: datetime
    message: str


class PublicComplaintOut(BaseModel):
    complaint_no: str
    state: str = Field(description="received / transferred / answered / not_accepted")
    state_name: str
    named: bool
    received_at: datetime
    to_unit: str | None
    answer: str | None
    not_accepted_reason: str | None
    updated_at: datetime


class TransferIn(_In):
    to_unit: str = Field(min_length=1, max_length=UNIT_MAX, description="承办单位")


class AnswerIn(_In):
    answer: str = Field(min_length=1, max_length=CONTENT_MAX, description="答复内容 (told to the complainant)")


class NotAcceptIn(_In):
    reason: str = Field(min_length=1, max_length=SHORT_TEXT_MAX, description="不予受理的理由")


class RatingIn(_In):
    case_no: str = Field(pattern=CASE_NO, description="办件编号 on the receipt")
    id_suffix: str = Field(pattern=r"^[0-9A-Za-z]{6}$", description="last 6 characters of the applicant's id "
                           "number (公民身份号码 or 统一社会信用代码), X in either case")
    channel: RatingChannel = Field(description="where the rating is given; one rating per case and channel")
    level: RatingLevel = Field(description="1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意 (4–5 差评)")
    text: str = Field(default="", max_length=TEXT_MAX, description="评价内容; required for 4 and 5")


class RatingOut(BaseModel):
    rating_no: str
    case_no: str
    channel: str
    channel_name: str
    level: int
    level_name: str
    bad: bool
    submitted_at: datetime
    message: str


class RectificationIn(_In):
    result: str = Field(min_length=1, max_length=CONTENT_MAX, description="整改情况 (what was done, 回访 result)")


# ---- limits and keys -------------------------------------------------------------------------------------

def _settings(runtime: Runtime) -> MonitoringSettings:
    settings: MonitoringSettings | None = runtime.extras.get("monitoring_settings")
    if settings is None:
        settings = runtime.extras["monitoring_settings"] = MonitoringSettings()
    return settings


class _Failures:
    """Wrong guesses of a query code per complaint and of an id suffix per case (per process by default)."""

    def __init__(self, settings: MonitoringSettings) -> None:
        self.limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(settings.public_limit_storage))
        self.code = parse(settings.complaint_code_failures)
        self.suffix = parse(settings.rating_failures_per_case)


def _failures(runtime: Runtime) -> _Failures:
    failures: _Failures | None = runtime.extras.get("complaint_failures")
    if failures is None:  # no await in between: one per service instance
        failures = runtime.extras["complaint_failures"] = _Failures(_settings(runtime))
    return failures


async def _run_once(runtime: Runtime, request: Request, principal: Principal, key: str | None, path: str,
                    body: Any, work: Any) -> JSONResponse:
    settings = _settings(runtime)
    if principal.kind is PrincipalKind.public:
        # Every citizen is "anonymous": keyed by the address the gateway saw, a weak key reused by someone else
        # with the same body cannot replay their answer (a complaint's query code) to another caller.
        principal = principal.model_copy(update={"subject": f"anonymous@{client_address(request)}"})
    policy = KeyPolicy(idempotency_key, timedelta(hours=settings.idempotency_retention_hours),
                       settings.idempotency_cleanup_seconds, required=principal.role is Role.platform)
    return await run_once(runtime, policy, principal, key, "POST", path, body, work)


def _now() -> datetime:
    return datetime.now(UTC)


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status)


# ---- complaints ------------------------------------------------------------------------------------------

@complaint_router.post(
    "", status_code=201, response_model=ComplaintOut, summary="File a complaint, named or anonymous, without login",
    responses={201: {"description": "Registered: the complaint number and its query code"},
               422: {"description": "Invalid body (empty or over-long text, an anonymous complaint with a name, "
                                    "a named one without contact), or an Idempotency-Key reused for another body"}},
)
async def file_complaint(request: Request, body: ComplaintIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                         key: IdempotencyKey = None) -> JSONResponse:
    command = service.NewComplaint(region_code=body.region_code, named=body.named, content=body.content,
                                   name=body.name, contact=body.contact, about_case_no=body.about_case_no)

    def work(session: Session) -> idempotency.StoredResponse:
        out = service.submit_complaint(session, runtime.outbox, command, _now())
        return idempotency.StoredResponse(201, jsonable_encoder(out),
                                          {"Location": f"/api/v1/monitoring/complaints/{out['complaint_no']}"})

    return await _run_once(runtime, request, principal, key, "/api/v1/monitoring/complaints",
                           body.model_dump(mode="json"), work)


@complaint_router.get("", summary="Complaints in the caller's region (and below), newest first (supervisor)")
async def list_complaints(
    principal: Annotated[Principal, requires(Action.complaint_read)], runtime: RuntimeDep,
    state: Annotated[ComplaintState | None, Query()] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    items = await read_in_thread(runtime, lambda s: service.list_complaints(s, principal, state, region_code, limit))
    return _json({"items": items, "count": len(items)})


@complaint_router.get(
    "/{complaint_no}", summary="One complaint: with its query code for the complainant (no login), or the staff "
    "view with history and supervision clocks",
    responses={404: {"description": "Unknown number, wrong query code, or another region's complaint (alike)"},
               429: {"description": "Too many wrong query codes for this complaint"}},
)
async def get_complaint(
    request: Request, complaint_no: ComplaintNo, principal: CurrentPrincipal, runtime: RuntimeDep,
    code: Annotated[str | None, Query(min_length=4, max_length=32, pattern=r"^[0-9A-Za-z]+$",
                                      description="查询码 from the submission (public callers)")] = None,
) -> Any:
    if principal.kind is not PrincipalKind.public and principal.role is not Role.public:
        authorize(principal, Action.complaint_read)
        policies = supervision_of(runtime).ctx.policies
        return _json(await read_in_thread(runtime, lambda s: service.staff_complaint(
            s, principal, complaint_no, runtime.calendar, policies, _now())))
    path = request.url.path
    failures = _failures(runtime)
    per_complaint = ("complaint-code-failures", complaint_no)
    # Checked before the look-up: once the budget of wrong codes is spent even the right one waits, so the limit
    # never tells a guesser which guess was right.
    if not failures.limiter.test(failures.code, *per_complaint):
        return too_many_requests(failures.limiter, failures.code, per_complaint, path,
                                 "该投诉编号查询失败次数过多，请稍后再试")
    found = None
    if code is not None:
        found = await read_in_thread(runtime, lambda s: service.public_complaint(s, complaint_no, code))
    if found is None:
        failures.limiter.hit(failures.code, *per_complaint)
        return problem_response(404, "complaint-not-found", "未查到该投诉，请核对投诉编号和查询码", path)
    return PublicComplaintOut(**found)


async def _act(runtime: Runtime, principal: Principal, complaint_no: str, action: ComplaintAction,
               detail: str) -> JSONResponse:
    return _json(await write_in_thread(runtime, lambda s: service.act_on_complaint(
        s, runtime.outbox, principal, complaint_no, action, detail, _now())))


_ACT_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown or another region's complaint"},
    409: {"description": "Not allowed in the complaint's state; the problem lists the allowed actions"}}


@complaint_router.post("/{complaint_no}/transfer", summary="转办: hand to the responsible unit (5 working days)",
                       responses=_ACT_RESPONSES)
async def transfer(
    complaint_no: ComplaintNo, body: TransferIn,
    principal: Annotated[Principal, requires(Action.complaint_handle)], runtime: RuntimeDep,
) -> JSONResponse:
    return await _act(runtime, principal, complaint_no, ComplaintAction.transfer, body.to_unit)


@complaint_router.post("/{complaint_no}/answer", summary="答复: the result told to the complainant (named: 7 days)",
                       responses=_ACT_RESPONSES)
async def answer(
    complaint_no: ComplaintNo, body: AnswerIn,
    principal: Annotated[Principal, requires(Action.complaint_handle)], runtime: RuntimeDep,
) -> JSONResponse:
    return await _act(runtime, principal, complaint_no, ComplaintAction.answer, body.answer)


@complaint_router.post("/{complaint_no}/not-accept", summary="不予受理, with the reason told (5 days)",
                       responses=_ACT_RESPONSES)
async def not_accept(
    complaint_no: ComplaintNo, body: NotAcceptIn,
    principal: Annotated[Principal, requires(Action.complaint_handle)], runtime: RuntimeDep,
) -> JSONResponse:
    return await _act(runtime, principal, complaint_no, ComplaintAction.not_accept, body.reason)


# ---- ratings ---------------------------------------------------------------------------------------------

@rating_router.post(
    "", status_code=201, response_model=RatingOut, summary="Rate a case as its applicant, without login (好差评)",
    responses={404: {"description": "Unknown case or wrong id suffix (the same answer)"},
               409: {"description": "The case was already rated on this channel (一次一评)"},
               422: {"description": "Invalid body (a bad rating without its reason), or an Idempotency-Key "
                                    "reused for another body"},
               429: {"description": "Too many wrong id suffixes for this case"}},
)
async def rate(request: Request, body: RatingIn, principal: CurrentPrincipal, runtime: RuntimeDep,
               key: IdempotencyKey = None) -> Any:
    path = request.url.path
    failures = _failures(runtime)
    per_case = ("rating-suffix-failures", body.case_no)
    if not failures.limiter.test(failures.suffix, *per_case):
        return too_many_requests(failures.limiter, failures.suffix, per_case, path,
                                 "该办件编号验证失败次数过多，请稍后再试")
    command = service.NewRating(case_no=body.case_no, id_suffix=body.id_suffix, channel=body.channel,
                                level=body.level, text=body.text)

    def work(session: Session) -> idempotency.StoredResponse:
        out = service.submit_rating(session, runtime.outbox, command, _now())
        if out is None:
            failures.limiter.hit(failures.suffix, *per_case)
            # Raised, not returned, so the transaction (and the key's claim) rolls back: a retry is judged afresh.
            raise Problem(404, "case-not-found", "未查到该办件，请核对办件编号和证件号码后六位")
        return idempotency.StoredResponse(201, jsonable_encoder(out))

    return await _run_once(runtime, request, principal, key, "/api/v1/monitoring/ratings",
                           body.model_dump(mode="json"), work)


@rating_router.get("/bad", summary="差评 in the caller's region (and below), newest first, to follow up (supervisor)")
async def list_bad_ratings(
    principal: Annotated[Principal, requires(Action.rating_read)], runtime: RuntimeDep,
    rectified: Annotated[bool | None, Query(description="true: rectified; false: still open")] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    items = await read_in_thread(runtime, lambda s: service.list_bad_ratings(s, principal, rectified, region_code,
                                                                             limit))
    return _json({"items": items, "count": len(items)})


@rating_router.get("/{rating_no}", summary="One rating with its rectification clock (supervisor)",
                   responses={404: {"description": "Unknown or another region's rating"}})
async def get_rating(rating_no: RatingNo, principal: Annotated[Principal, requires(Action.rating_read)],
                     runtime: RuntimeDep) -> JSONResponse:
    policies = supervision_of(runtime).ctx.policies
    return _json(await read_in_thread(runtime, lambda s: service.staff_rating(s, principal, rating_no,
                                                                              runtime.calendar, policies, _now())))


@rating_router.post("/{rating_no}/rectification", summary="整改情况 of a bad rating, once (RectificationCompleted)",
                    responses={404: {"description": "Unknown or another region's rating"},
                               409: {"description": "Not a bad rating, or already rectified"}})
async def rectification(rating_no: RatingNo, body: RectificationIn,
                        principal: Annotated[Principal, requires(Action.rating_rectify)],
                        runtime: RuntimeDep) -> JSONResponse:
    return _json(await write_in_thread(runtime, lambda s: service.rectify(s, runtime.outbox, principal, rating_no,
                                                                          body.result, _now())))
