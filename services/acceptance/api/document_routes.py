"""The printable documents of each acceptance outcome (受理凭证, 一次性告知书, 不予受理决定书 …).

`GET /api/v1/applications/{case_no}/documents/{kind}` renders the case as acceptance stored it: the
`case_record` row is read, never written, and handed to the pure renderer in `documents/`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.acceptance.adapters.tables import case_record, catalogue_item
from services.acceptance.documents import TITLES, DocumentKind, applicable_kinds, case_view, render
from services.common.principal import CurrentPrincipal, Principal, Role, require_role
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


@document_router.get(
    "/{case_no}/documents/{kind}", response_class=HTMLResponse,
    summary="Printable document of the case's outcome (受理文书), HTML for A4",
    responses={200: {"content": {"text/html": {}}, "description": "The document, print-ready"},
               404: {"description": "No such case in the clerk's region, or a document the case does not have "
                                    "(applicable_kinds names those it has)"}},
)
async def get_document(
    case_no: Annotated[str, Path(min_length=1, max_length=50, description="办件编号")],
    kind: Annotated[str, Path(description="receipt 受理凭证, supplement-notice 一次性告知书, refusal 不予受理决定书, "
                                          "correction 当场更正记录, completion 即办件办结通知书, "
                                          "deferral-promise 容缺受理承诺书")],
    principal: CurrentPrincipal, runtime: RuntimeDep,
) -> HTMLResponse:
    # Printed at the window for the applicant in front of the clerk; other roles read the case as JSON.
    require_role(principal, Role.window_clerk)
    row, item = await read_in_thread(runtime, lambda session: _read_case(session, principal, case_no))
    view = case_view(row, item)
    kinds = applicable_kinds(view)
    wanted = next((k for k in DocumentKind if k.value == kind), None)
    if wanted is None or wanted not in kinds:
        names = "、".join(f"{TITLES[k]}（{k.value}）" for k in kinds) or "无"
        raise Problem(404, "document-not-applicable", f"办件 {case_no} 没有该文书；可打印的文书：{names}",
                      kind=kind, applicable_kinds=[k.value for k in kinds])
    return HTMLResponse(render(view, wanted), headers=_HEADERS)
