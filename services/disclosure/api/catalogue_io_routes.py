"""Catalogue import and export (JSON, xlsx) and each item's flow chart (SVG, BPMN 2.0)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.common.contracts.permissions import Action, authorize, requires
from services.common.principal import CurrentPrincipal, Principal
from services.common.problems import Problem
from services.common.runtime import Runtime, get_runtime, read_in_thread, write_in_thread
from services.disclosure import catalogue_io
from services.disclosure.domain.bpmn import render_bpmn
from services.disclosure.domain.flowchart import render_flowchart_svg

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ItemCode = Annotated[str, Path(min_length=1, max_length=64, description="实施编码")]
VersionQuery = Annotated[int | None, Query(ge=1, le=100_000,
                                           description="a published or retired version; default: the published")]

SVG_MEDIA_TYPE = "image/svg+xml"
# BPMN has no registered media type of its own; modelers and engines exchange it as XML.
BPMN_MEDIA_TYPE = "application/xml"

catalogue_io_router = APIRouter(prefix="/api/v1/catalogue", tags=["catalogue 实施清单"])



def _cache_headers(version: int | None) -> dict[str, str]:
    # A version's definition never changes once published, so a chart of `?version=n` can be kept;
    # the unversioned address follows the next publication.
    return {"Cache-Control": "public, max-age=86400" if version is not None else "public, max-age=60"}


# ---- flow charts ----------------------------------------------------------------------------------------

@catalogue_io_router.get(
    "/items/{item_code}/flowchart.svg", summary="The item's flow chart (办理流程图), SVG",
    response_class=Response,
    responses={200: {"content": {SVG_MEDIA_TYPE: {}}}, 404: {"description": "No such version"}},
)
async def flowchart_svg(item_code: ItemCode, principal: CurrentPrincipal, runtime: RuntimeDep,
                        version: VersionQuery = None) -> Response:
    definition, _ = await read_in_thread(
        runtime, lambda s: catalogue_io.public_definition(s, principal, item_code, version))
    return Response(render_flowchart_svg(definition), media_type=SVG_MEDIA_TYPE, headers=_cache_headers(version))


@catalogue_io_router.get(
    "/items/{item_code}/process.bpmn", summary="The item's process as BPMN 2.0 XML, with its diagram",
    response_class=Response,
    responses={200: {"content": {BPMN_MEDIA_TYPE: {}}}, 404: {"description": "No such version"}},
)
async def process_bpmn(item_code: ItemCode, principal: CurrentPrincipal, runtime: RuntimeDep,
                       version: VersionQuery = None) -> Response:
    definition, number = await read_in_thread(
        runtime, lambda s: catalogue_io.public_definition(s, principal, item_code, version))
    headers = _cache_headers(version) | {
        "Content-Disposition": f'inline; filename="{item_code}-v{number}.bpmn"'}
    return Response(render_bpmn(definition, number), media_type=BPMN_MEDIA_TYPE, headers=headers)


# ---- export and import ------------------------------------------------------------------------------------

@catalogue_io_router.get(
    "/export", summary="Published items of a region and the regions below it, as JSON or xlsx (导出)",
    response_class=Response,
    responses={200: {"content": {catalogue_io.JSON_MEDIA_TYPE: {}, catalogue_io.XLSX_MEDIA_TYPE: {}}}},
)
async def export_catalogue(
    principal: CurrentPrincipal, runtime: RuntimeDep,
    format_: Annotated[Literal["json", "xlsx"], Query(alias="format")] = "json",
    region_code: Annotated[str | None, Query(pattern=r"^\d{12}$", description="12-digit region code")] = None,
) -> Response:
    del principal  # public record, like the rest of the catalogue
    now = datetime.now(UTC)
    items = await read_in_thread(runtime, lambda s: catalogue_io.export_items(s, region_code))
    name = f"catalogue-{region_code or 'all'}-{now:%Y%m%d}"
    if format_ == "xlsx":
        body = await asyncio.to_thread(catalogue_io.xlsx_document, items)
        return Response(body, media_type=catalogue_io.XLSX_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return JSONResponse(catalogue_io.json_document(items, region_code, now),
                        headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


async def _body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes the limit (not after reading it all)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem(413, "body-too-large", f"导入文件超过 {limit} 字节", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "body-too-large", f"导入文件超过 {limit} 字节", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


@catalogue_io_router.post(
    "/import", status_code=201,
    summary="Import items as drafts (or published), all or nothing (导入)",
    description="Body: the JSON document (`application/json`) or the xlsx workbook "
                f"(`{catalogue_io.XLSX_MEDIA_TYPE}`), raw. Every item goes through item creation; one problem "
                "anywhere refuses the whole import (422 `invalid-import`, `errors` naming item index and field "
                "path, or sheet, row, column and header).",
    openapi_extra={"requestBody": {"required": True, "content": {
        catalogue_io.JSON_MEDIA_TYPE: {"schema": {"type": "object"}},
        catalogue_io.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
    responses={413: {"description": "Body larger than the limit, or too many items"},
               415: {"description": "Neither JSON nor xlsx"},
               422: {"description": "Nothing imported; `errors` lists every problem"}},
)
async def import_catalogue(
    request: Request, principal: Annotated[Principal, requires(Action.catalogue_import)], runtime: RuntimeDep,
    publish: Annotated[bool, Query(description="publish each imported draft too")] = False,
) -> JSONResponse:
    if publish:
        authorize(principal, Action.catalogue_publish)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in (catalogue_io.JSON_MEDIA_TYPE, catalogue_io.XLSX_MEDIA_TYPE):
        raise Problem(415, "unsupported-media-type",
                      f"导入文件应为 JSON（{catalogue_io.JSON_MEDIA_TYPE}）或 xlsx（{catalogue_io.XLSX_MEDIA_TYPE}），"
                      f"当前为「{content_type or '未声明'}」")
    body = await _body(request, catalogue_io.MAX_IMPORT_BYTES)
    now = datetime.now(UTC)

    def unit_of_work(session: Any) -> list[dict[str, Any]]:
        reader = (catalogue_io.candidates_from_json if content_type == catalogue_io.JSON_MEDIA_TYPE
                  else catalogue_io.candidates_from_xlsx)
        candidates, problems = reader(body)
        return catalogue_io.import_items(session, runtime.outbox, principal, candidates, problems, publish, now)

    items = await write_in_thread(runtime, unit_of_work)
    return JSONResponse({"imported": len(items), "published": publish, "items": items}, status_code=201)
