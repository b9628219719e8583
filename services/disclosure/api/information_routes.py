"""Information disclosure (政府信息公开): the proactive directory (主动公开目录), requests (依申请公开)
and the annual report.

The gateway lets anyone GET `/api/v1/information/...` and POST `/api/v1/information-requests/...`, so every
write below checks the caller itself: only a disclosure officer of the record's region may act (the
applicant may withdraw with the receipt's access code). The roles are the matrix's
(services/common/contracts/permissions.py), checked as each route's dependency."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.common.bounds import Day
from services.common.contracts.permissions import Action, requires
from services.common.principal import CurrentPrincipal, Principal
from services.common.problems import Problem
from services.common.runtime import Runtime, get_runtime, read_in_thread, write_in_thread
from services.common.workdays import SHANGHAI
from services.disclosure import information as service
from services.disclosure.api import information_schemas as schemas
from services.disclosure.domain.annual_report import render_html
from services.disclosure.domain.information_requests import RequestState

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DocId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z\-]+$")]
RequestNo = Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z\-]+$")]
RegionQuery = Annotated[str | None, Query(pattern=r"^\d{12}$", description="12-digit region code")]
# The caller, checked against the role × action matrix (services/common/contracts/permissions.py).
Categorizer = Annotated[Principal, requires(Action.information_category)]
Publisher = Annotated[Principal, requires(Action.information_publish)]
DocumentWithdrawer = Annotated[Principal, requires(Action.information_withdraw)]
RequestReader = Annotated[Principal, requires(Action.information_request_read)]
RequestHandler = Annotated[Principal, requires(Action.information_request_handle)]
Replier = Annotated[Principal, requires(Action.information_request_reply)]

information_router = APIRouter()
directory = APIRouter(prefix="/api/v1/information", tags=["information 主动公开目录"])
request_routes = APIRouter(prefix="/api/v1/information-requests", tags=["information requests 依申请公开"])




def _json(body: Any, status: int = 200) -> JSONResponse:
    from fastapi.encoders import jsonable_encoder

    return JSONResponse(jsonable_encoder(body), status_code=status)


# ---- directory ---------------------------------------------------------------------------------------

@directory.get("/categories", summary="The directory's categories of a region (目录类别)")
async def list_categories(principal: CurrentPrincipal, runtime: RuntimeDep,
                          region_code: Annotated[str, Query(pattern=r"^\d{12}$")]) -> JSONResponse:
    del principal  # public
    return _json({"items": await read_in_thread(runtime, lambda s: service.list_categories(s, region_code))})


@directory.post("/categories", status_code=201, summary="Add a category (disclosure officer)")
async def create_category(body: schemas.CategoryIn, principal: Categorizer, runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.create_category(s, principal, body, now)), 201)


@directory.post("/documents", status_code=201, summary="Publish a document (主动公开, disclosure officer)")
async def publish_document(body: schemas.DocumentIn, principal: Publisher,
                           runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    out = await write_in_thread(runtime, lambda s: service.publish_document(s, principal, body, runtime.calendar, now))
    return _json(out, 201)


@directory.post("/documents/{doc_id}/amend", summary="Amend: a new revision with its reason (修订)")
async def amend_document(doc_id: DocId, body: schemas.AmendIn, principal: Publisher,
                         runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.amend_document(s, principal, doc_id, body,
                                                                        runtime.calendar, now)))


@directory.post("/documents/{doc_id}/withdraw", summary="Withdraw from the directory, with a reason (撤回)")
async def withdraw_document(doc_id: DocId, body: schemas.ReasonIn, principal: DocumentWithdrawer,
                            runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.withdraw_document(s, principal, doc_id, body.reason,
                                                                           runtime.calendar, now)))


def _search_params(
    q: Annotated[str | None, Query(max_length=100, description="in title, 文号 and body")] = None,
    category_code: Annotated[str | None, Query(max_length=32)] = None,
    region_code: RegionQuery = None,
    issuing_body: Annotated[str | None, Query(max_length=100)] = None,
    from_: Annotated[Day | None, Query(alias="from", description="publication date from (Asia/Shanghai)")] = None,
    to: Annotated[Day | None, Query(description="publication date to, included")] = None,
    validity: Annotated[str | None, Query(pattern=r"^(valid|expired|repealed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    if from_ is not None and to is not None and from_ > to:
        raise Problem(400, "bad-date-range", f"起始日期 {from_} 晚于截止日期 {to}")
    return dict(q=q, category_code=category_code, region_code=region_code, issuing_body=issuing_body, since=from_,
                until=to, validity=validity, limit=limit, offset=offset)


SearchParams = Annotated[dict[str, Any], Depends(_search_params)]


@directory.get("/search", summary="Search published documents (title, 文号, body; category, body, period)")
async def search(principal: CurrentPrincipal, runtime: RuntimeDep, params: SearchParams) -> JSONResponse:
    del principal
    today = datetime.now(SHANGHAI).date()
    return _json(await read_in_thread(runtime, lambda s: service.search_documents(s, **params, today=today)))


@directory.get("/documents", summary="Published documents, newest first (same filters as search)")
async def list_documents(principal: CurrentPrincipal, runtime: RuntimeDep, params: SearchParams) -> JSONResponse:
    return await search(principal, runtime, params)


@directory.get("/documents/{doc_id}", summary="A document's current revision")
async def get_document(doc_id: DocId, principal: CurrentPrincipal, runtime: RuntimeDep) -> JSONResponse:
    return _json(await read_in_thread(runtime, lambda s: service.get_document(s, principal, doc_id, runtime.calendar)))


@directory.get("/documents/{doc_id}/revisions/{revision}", summary="An earlier revision, as it was published")
async def get_revision(doc_id: DocId, revision: Annotated[int, Path(ge=1, le=100_000)], principal: CurrentPrincipal,
                       runtime: RuntimeDep) -> JSONResponse:
    return _json(await read_in_thread(runtime, lambda s: service.get_document(s, principal, doc_id, runtime.calendar,
                                                                     revision)))


@directory.get("/documents/{doc_id}/revisions/{revision}/attachment", summary="The revision's attachment")
async def get_attachment(doc_id: DocId, revision: Annotated[int, Path(ge=1, le=100_000)],
                         principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    content, media_type, filename, sha = await read_in_thread(
        runtime, lambda s: service.get_attachment(s, principal, doc_id, revision))
    from urllib.parse import quote

    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}", "ETag": f'"{sha}"',
        "X-Content-SHA256": sha})


def _report_params(
    year: Annotated[int, Path(ge=2008, le=2100, description="报告年度")],
    region_code: Annotated[str, Query(pattern=r"^\d{12}$")],
    agency: Annotated[str, Query(min_length=1, max_length=100, description="行政机关名称")],
) -> tuple[int, str, str]:
    return year, region_code, agency


ReportParams = Annotated[tuple[int, str, str], Depends(_report_params)]


@directory.get("/annual-reports/{year}", summary="The annual report's tables, as JSON (年度报告, Art. 50)")
async def annual_report(params: ReportParams, principal: CurrentPrincipal, runtime: RuntimeDep) -> JSONResponse:
    del principal  # the report is itself public information
    year, region_code, agency = params
    return _json(await read_in_thread(
        runtime, lambda s: service.annual(s, year, region_code, agency, runtime.calendar)))


@directory.get("/annual-reports/{year}/html", response_class=HTMLResponse, summary="The annual report, printable")
async def annual_report_html(params: ReportParams, principal: CurrentPrincipal, runtime: RuntimeDep) -> HTMLResponse:
    del principal
    year, region_code, agency = params
    report = await read_in_thread(runtime, lambda s: service.annual(s, year, region_code, agency, runtime.calendar))
    return HTMLResponse(render_html(report))


# ---- requests ----------------------------------------------------------------------------------------

@request_routes.post("", status_code=201, summary="Submit a request (anyone online; officers register other channels)")
async def submit(body: schemas.RequestIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    out = await write_in_thread(runtime, lambda s: service.submit_request(s, runtime.outbox, principal, body,
                                                                 runtime.calendar, now))
    response = _json(out, 201)
    response.headers["Location"] = f"/api/v1/information-requests/{out['request_no']}"
    return response


@request_routes.get("", summary="Requests of the officer's region, newest first")
async def list_requests(principal: RequestReader, runtime: RuntimeDep,
                        state: Annotated[RequestState | None, Query()] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> JSONResponse:
    now = datetime.now(UTC)
    value = state.value if state else None
    return _json({"items": await read_in_thread(runtime, lambda s: service.list_requests(s, principal, value, limit,
                                                                                runtime.calendar, now))})


@request_routes.get("/{request_no}", summary="One request: state, reply due date, allowed actions")
async def get_request(request_no: RequestNo, principal: RequestReader, runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await read_in_thread(
        runtime, lambda s: service.get_request(s, principal, request_no, runtime.calendar, now)))


@request_routes.post("/{request_no}/supplement-notice", summary="Ask for a supplement, once (补正通知, Art. 30)")
async def supplement_notice(request_no: RequestNo, body: schemas.SupplementNoticeIn, principal: RequestHandler,
                            runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.request_supplement(
        s, runtime.outbox, principal, request_no, body, runtime.calendar, now)))


@request_routes.post("/{request_no}/supplement", summary="The applicant supplemented: the clock restarts")
async def supplement(request_no: RequestNo, body: schemas.SupplementIn, principal: RequestHandler,
                     runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.supplemented(
        s, runtime.outbox, principal, request_no, body, runtime.calendar, now)))


@request_routes.post("/{request_no}/supplement-lapsed", summary="No supplement in time: deemed withdrawn")
async def supplement_lapsed(request_no: RequestNo, principal: RequestHandler, runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.lapse_supplement(
        s, runtime.outbox, principal, request_no, runtime.calendar, now)))


@request_routes.post("/{request_no}/consultations", status_code=201,
                     summary="Consult a third party or another agency (征求意见, not counted)")
async def consult(request_no: RequestNo, body: schemas.ConsultationIn, principal: RequestHandler,
                  runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.start_consultation(
        s, runtime.outbox, principal, request_no, body, runtime.calendar, now)), 201)


@request_routes.post("/{request_no}/consultations/{consultation_id}/end", summary="The consulted party answered")
async def end_consultation(request_no: RequestNo,
                           consultation_id: Annotated[str, Path(min_length=1, max_length=20, pattern=r"^c\d+$")],
                           body: schemas.ConsultationEndIn, principal: RequestHandler,
                           runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.end_consultation(
        s, runtime.outbox, principal, request_no, consultation_id, body, runtime.calendar, now)))


@request_routes.post("/{request_no}/extension", summary="Extend once, ≤ 20 working days (Art. 33)")
async def extension(request_no: RequestNo, body: schemas.ExtensionIn, principal: RequestHandler,
                    runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.extend(
        s, runtime.outbox, principal, request_no, body, runtime.calendar, now)))


@request_routes.post("/{request_no}/reply", summary="Reply (Art. 36 type, reasons, processing fee)")
async def reply(request_no: RequestNo, body: schemas.ReplyIn, principal: Replier,
                runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.answer(
        s, runtime.outbox, principal, request_no, body, runtime.calendar, now)))


@request_routes.post("/{request_no}/withdraw", summary="Withdrawal by the applicant (access code, or via an officer)")
async def withdraw(request_no: RequestNo, body: schemas.WithdrawIn, principal: CurrentPrincipal,
                   runtime: RuntimeDep) -> JSONResponse:
    now = datetime.now(UTC)
    return _json(await write_in_thread(runtime, lambda s: service.withdraw_request(
        s, runtime.outbox, principal, request_no, body, runtime.calendar, now)))


information_router.include_router(directory)
information_router.include_router(request_routes)
