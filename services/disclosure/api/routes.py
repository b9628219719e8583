"""HTTP routes of disclosure: the catalogue (administered and public) and the public case results."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from services.common.bounds import Day
from services.common.contracts.permissions import Action, allows, requires
from services.common.principal import CurrentPrincipal, Principal
from services.common.problems import Problem
from services.common.runtime import Runtime, get_runtime, read_in_thread, write_in_thread
from services.common.workdays import SHANGHAI
from services.disclosure import handlers
from services.disclosure.api.schemas import (
    ItemDefinitionIn,
    ItemList,
    ItemOut,
    ResultList,
    ResultOut,
    RetireIn,
    VersionDiffOut,
)

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ItemCode = Annotated[str, Path(min_length=1, max_length=64, description="实施编码")]
RegionQuery = Annotated[str | None, Query(pattern=r"^\d{12}$", description="12-digit region code")]
# Bounded like a document's revision: past SQL's integer range the lookup itself failed (a 500, not a 404).
VersionPath = Annotated[int, Path(ge=1, le=100_000)]

catalogue_router = APIRouter(prefix="/api/v1/catalogue/items", tags=["catalogue 实施清单"])
results_router = APIRouter(prefix="/api/v1/results", tags=["results 办件结果公示"])




# ---- catalogue administration (catalogue_admin) ----------------------------------------------------

@catalogue_router.post(
    "", status_code=201, response_model=ItemOut, summary="Create a draft version of an item (编制事项草稿)",
    responses={409: {"description": "The item already has an open draft"},
               422: {"description": "The definition breaks a catalogue rule, or a version after the first has no "
                                    "`change_reason`; `errors` names each field"}},
)
async def create_item(body: ItemDefinitionIn, principal: Annotated[Principal, requires(Action.catalogue_draft)],
                      runtime: RuntimeDep) -> JSONResponse:
    definition = body.to_domain()
    now = datetime.now(UTC)
    out = await write_in_thread(
        runtime, lambda s: handlers.create_item(s, principal, definition, now, body.change_reason))
    body_out = ItemOut.model_validate(out).model_dump(mode="json")
    return JSONResponse(body_out, status_code=201,
                        headers={"Location": f"/api/v1/catalogue/items/{out['item_code']}/versions/{out['version']}"})


@catalogue_router.post("/{item_code}/publish", response_model=ItemOut, summary="Publish the newest draft (发布)")
async def publish_item(item_code: ItemCode, principal: Annotated[Principal, requires(Action.catalogue_publish)],
                       runtime: RuntimeDep) -> ItemOut:
    now = datetime.now(UTC)
    out = await write_in_thread(runtime, lambda s: handlers.publish_item(s, runtime.outbox, principal, item_code, now))
    return ItemOut.model_validate(out)


@catalogue_router.post("/{item_code}/retire", response_model=ItemOut, summary="Retire the published version (废止)")
async def retire_item(item_code: ItemCode, body: RetireIn,
                      principal: Annotated[Principal, requires(Action.catalogue_retire)],
                      runtime: RuntimeDep) -> ItemOut:
    now = datetime.now(UTC)
    out = await write_in_thread(runtime,
                       lambda s: handlers.retire_item(s, runtime.outbox, principal, item_code, body.reason, now))
    return ItemOut.model_validate(out)


# ---- public catalogue --------------------------------------------------------------------------------

@catalogue_router.get("", response_model=ItemList, summary="Published items offered in a region (事项清单)")
async def list_items(
    principal: CurrentPrincipal, runtime: RuntimeDep, region_code: RegionQuery = None,
    q: Annotated[str | None, Query(max_length=100, description="substring of the item name")] = None,
) -> ItemList:
    del principal  # public: any authenticated principal, citizens included
    rows = await read_in_thread(runtime, lambda s: handlers.list_items(s, region_code, q))
    return ItemList(items=[ItemOut.model_validate(r) for r in rows])


@catalogue_router.get("/{item_code}", response_model=ItemOut, summary="The published version of an item")
async def get_item(item_code: ItemCode, principal: CurrentPrincipal, runtime: RuntimeDep) -> ItemOut:
    del principal
    return ItemOut.model_validate(await read_in_thread(runtime, lambda s: handlers.get_published(s, item_code)))


@catalogue_router.get("/{item_code}/versions/{version}", response_model=ItemOut, summary="One version of an item")
async def get_item_version(
    item_code: ItemCode, version: VersionPath, principal: CurrentPrincipal, runtime: RuntimeDep,
) -> ItemOut:
    can_see_drafts = allows(principal, Action.catalogue_draft)
    out = await read_in_thread(
        runtime, lambda s: handlers.get_version(s, principal, item_code, version, can_see_drafts))
    return ItemOut.model_validate(out)


@catalogue_router.get(
    "/{item_code}/versions/{version}/diff", response_model=VersionDiffOut,
    summary="What a version changed against the one before it (版本比对)",
    responses={404: {"description": "No such version, a draft of another region, or version 1 (nothing before)"}},
)
async def get_item_version_diff(
    item_code: ItemCode, version: VersionPath, principal: CurrentPrincipal, runtime: RuntimeDep,
) -> VersionDiffOut:
    can_see_drafts = allows(principal, Action.catalogue_draft)
    out = await read_in_thread(
        runtime, lambda s: handlers.diff_version(s, principal, item_code, version, can_see_drafts))
    return VersionDiffOut.model_validate(out)


# ---- public case results -------------------------------------------------------------------------------

def _day_start(day: date) -> datetime:
    """00:00 Asia/Shanghai: the public thinks in local days."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


@results_router.get("", response_model=ResultList, summary="Public case results, newest first (办件结果公示)")
async def list_results(
    principal: CurrentPrincipal, runtime: RuntimeDep,
    item_code: Annotated[str | None, Query(max_length=64)] = None,
    region_code: RegionQuery = None,
    from_: Annotated[Day | None, Query(alias="from", description="first day, YYYY-MM-DD (Asia/Shanghai)")] = None,
    to: Annotated[Day | None, Query(description="last day included, YYYY-MM-DD (Asia/Shanghai)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ResultList:
    del principal
    if from_ is not None and to is not None and from_ > to:
        raise Problem(400, "bad-date-range", f"起始日期 {from_} 晚于截止日期 {to}")
    since = _day_start(from_) if from_ else None
    until = _day_start(to + timedelta(days=1)) if to else None
    rows = await read_in_thread(
        runtime, lambda s: handlers.list_results(s, item_code, region_code, since, until, limit))
    return ResultList(items=[ResultOut.model_validate(r) for r in rows])


@results_router.get("/{case_no}", response_model=ResultOut, summary="One public case result")
async def get_result(case_no: Annotated[str, Path(min_length=1, max_length=50)], principal: CurrentPrincipal,
                     runtime: RuntimeDep) -> ResultOut:
    del principal
    return ResultOut.model_validate(await read_in_thread(runtime, lambda s: handlers.get_result(s, case_no)))
