"""The printable documents of each acceptance outcome (受理凭证, 一次性告知书, 不予受理决定书 …).

`GET /api/v1/applications/{case_no}/documents/{kind}` renders the case as acceptance stored it: the
`case_record` row is read, never written, and handed to the pure renderer in `documents/`. HTML by default,
PDF with `?format=pdf` (the same HTML laid out by WeasyPrint, in a worker thread: it is CPU-bound). The format
is chosen by the query alone, not by `Accept`: a link at the window can ask for it, and one URL is one body.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.acceptance.adapters.tables import case_record, catalogue_item
from services.acceptance.documents import (
    TITLES,
    CaseView,
    DocumentKind,
    PdfUnavailable,
    applicable_kinds,
    case_view,
    earlier_views,
    render,
    render_pdf,
)
from services.common.contracts.permissions import Action, requires
from services.common.principal import Principal
from services.common.problems import Problem
from services.common.runtime import Runtime, get_runtime, read_in_thread

document_router = APIRouter(prefix="/api/v1/applications", tags=["acceptance 受理"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# The page holds personal data and only fixed styling: no cache, no scripts, no remote anything.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
# The PDF keeps no-store and nosniff; the CSP above is for the HTML page (a browser's built-in PDF viewer is
# itself a page with scripts, which that policy could stop), and the PDF holds no script or link to limit.
_PDF_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
FORMATS = ("html", "pdf")
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def _read_case(session: Session, principal: Principal, case_no: str) -> tuple[dict[str, Any], Any]:
    """The case row and, for a case that did not keep its item's definition, the replica's (for the name)."""
    row = session.execute(select(case_record).where(case_record.c.case_no == case_no)).first()
    # Another region's case answers 404 like a missing one, as everywhere in acceptance.
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "case-not-found", f"办件 {case_no} 不存在")
    case = dict(row._mapping)
    # Read defensively: both columns arrive with migration 0005 and are empty on older cases.
    if case.get("outcome_document") or case.get("item_definition"):
        return case, None
    item = session.execute(
        select(catalogue_item.c.definition).where(catalogue_item.c.item_code == case["item_code"])
    ).first()
    return case, item.definition if item is not None else None


def content_disposition(document_no: str) -> str:
    """`inline`, named after the document number: ASCII in `filename` (anything else becomes `_`), and the
    number as it is in `filename*` (RFC 6266) when that differs, e.g. a 容缺 promise's own reference."""
    safe = _UNSAFE_IN_FILENAME.sub("_", document_no) or "document"
    value = f'inline; filename="{safe}.pdf"'
    if safe != document_no:
        value += f"; filename*=UTF-8''{quote(document_no + '.pdf', safe='')}"
    return value


def _pdf_response(view: CaseView, kind: DocumentKind, pdf: bytes) -> Response:
    headers = _PDF_HEADERS | {"Content-Disposition": content_disposition(view.document_no(kind))}
    return Response(pdf, media_type="application/pdf", headers=headers)


@document_router.get(
    "/{case_no}/documents/{kind}", response_class=HTMLResponse,
    summary="Printable document of the case's outcome (受理文书): HTML for A4, or PDF with ?format=pdf",
    responses={200: {"content": {"text/html": {}, "application/pdf": {"schema": {"type": "string",
                                                                                 "format": "binary"}}},
                     "description": "The document, print-ready: text/html by default; application/pdf "
                                    "(CJK font embedded, Content-Disposition inline, named after the "
                                    "document number) with ?format=pdf"},
               404: {"description": "No such case in the clerk's region, or a document the case does not have "
                                    "(applicable_kinds names those it has)"},
               422: {"description": "An unknown format (problem+json naming the formats)"},
               503: {"description": "PDF asked for on a server without WeasyPrint's system libraries"}},
)
async def get_document(
    case_no: Annotated[str, Path(min_length=1, max_length=50, description="办件编号")],
    kind: Annotated[str, Path(description="receipt 受理凭证, supplement-notice 一次性告知书, refusal 不予受理决定书, "
                                          "correction 当场更正记录, completion 即办件办结通知书, "
                                          "deferral-promise 容缺受理承诺书")],
    principal: Annotated[Principal, requires(Action.application_print)], runtime: RuntimeDep,
    format_: Annotated[str, Query(alias="format", max_length=20, json_schema_extra={"enum": list(FORMATS)},
                                  description="html (default): the page to print from a browser; "
                                              "pdf: the same page as a PDF file")] = "html",
) -> Response:
    # Printed at the window for the applicant in front of the clerk; other roles read the case as JSON.
    if format_ not in FORMATS:
        raise Problem(422, "unknown-document-format", f"不支持的文书格式「{format_}」；可选：html、pdf",
                      format=format_, formats=list(FORMATS))
    row, item = await read_in_thread(runtime, lambda session: _read_case(session, principal, case_no))
    view = case_view(row, item)
    kinds = applicable_kinds(view)
    earlier = earlier_views(row, item)
    kinds += [k for k in earlier if k not in kinds]
    wanted = next((k for k in DocumentKind if k.value == kind), None)
    if wanted is not None and wanted in earlier and wanted not in applicable_kinds(view):
        view = earlier[wanted]  # issued before the current document (e.g. the notice before the receipt)
    if wanted is None or wanted not in kinds:
        names = "、".join(f"{TITLES[k]}（{k.value}）" for k in kinds) or "无"
        raise Problem(404, "document-not-applicable", f"办件 {case_no} 没有该文书；可打印的文书：{names}",
                      kind=kind, applicable_kinds=[k.value for k in kinds])
    if format_ == "html":
        return HTMLResponse(render(view, wanted), headers=_HEADERS)
    try:
        pdf = await asyncio.to_thread(render_pdf, view, wanted)
    except PdfUnavailable as exc:
        raise Problem(503, "pdf-unavailable", "本服务器暂不能生成 PDF 文书，请打印网页版（format=html）") from exc
    return _pdf_response(view, wanted, pdf)
