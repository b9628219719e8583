"""The region tree (province → village) and the catalogue's full-text search (筛选与检索).

Both are public. A township's or village's list (为民服务事项目录) is not a catalogue of its own: it is the
published items offered there — its own and those of every region above it — read from the same index
the search uses.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.common.principal import CurrentPrincipal
from services.common.problems import Problem
from services.common.runtime import Runtime, get_runtime, read_in_thread
from services.disclosure.adapters import region_store, search_index
from services.disclosure.domain.catalogue import ITEM_TYPES
from services.disclosure.domain.regions import InvalidRegionCode, lineage, validate_code
from services.disclosure.domain.search_text import ParsedQuery, parse_query, warm_up

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

@asynccontextmanager
async def _load_tokenizer(_app: Any) -> AsyncIterator[None]:
    # jieba reads its dictionary on first use (~0.5 s): started with the service, in a thread of its own so
    # start-up does not wait, and neither the first search nor the first publish pays for it.
    threading.Thread(target=warm_up, name="jieba-warm-up", daemon=True).start()
    yield


regions_router = APIRouter(lifespan=_load_tokenizer)


# ---- bodies ---------------------------------------------------------------------------------------------

class RegionOut(BaseModel):
    code: str
    name: str
    level: str = Field(description="province / city / county / township / village")
    level_name: str = Field(description="省 / 市 / 县（区） / 乡镇（街道） / 村（社区）")
    parent_code: str | None


class RegionTree(BaseModel):
    region: RegionOut
    ancestors: list[RegionOut] = Field(description="province first")
    children: list[RegionOut]


class ItemSummary(BaseModel):
    item_code: str
    version: int
    name: str
    item_type: str
    item_type_name: str
    department: str
    region_code: str
    region_name: str = Field(description="the item's own region; '' when not in the region table")
    online: bool = Field(description="是否网办")
    visits: int = Field(description="到现场次数")


class SearchHit(ItemSummary):
    rank: float = Field(description="relevance, higher is better; comparable within one answer only")
    snippet: str = Field(description="HTML-escaped text with each match in <em>…</em>")
    snippet_field: str = Field(description="name / result / conditions / materials / faq")


class SearchAnswer(BaseModel):
    query: str
    tokens: list[str] = Field(description="the words searched for, as cut by jieba")
    relaxed: bool = Field(description="true when no item had every word and items with any word are shown")
    total: int
    items: list[SearchHit]


class RegionItems(BaseModel):
    region: RegionOut
    ancestors: list[RegionOut]
    total: int
    items: list[ItemSummary]


# ---- parameters ---------------------------------------------------------------------------------------------

CodePath = Annotated[str, Path(description="12-digit administrative code (行政区划代码)")]
Department = Annotated[str | None, Query(min_length=1, max_length=200, description="实施主体, exact")]
ItemType = Annotated[str | None, Query(description="GB/T 39046 type code, e.g. 01 行政许可")]
Online = Annotated[bool | None, Query(description="only items that can (true) or cannot (false) be done online")]
MaxVisits = Annotated[int | None, Query(ge=0, le=10, description="at most this many visits (到现场次数)")]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=10_000)]


def _valid_code(code: str, field: str) -> str:
    try:
        return validate_code(code)
    except InvalidRegionCode as exc:
        raise Problem(422, "invalid-region-code", str(exc), errors=[{"field": field, "message": str(exc)}]) from exc


def _valid_item_type(item_type: str | None) -> str | None:
    if item_type is not None and item_type not in ITEM_TYPES:
        message = f"item_type（事项类型）「{item_type}」不是 GB/T 39046 规定的类型代码（{'、'.join(ITEM_TYPES)}）"
        raise Problem(422, "invalid-item-type", message, errors=[{"field": "item_type", "message": message}])
    return item_type


def _known_region(session: Session, code: str) -> Any:
    row = region_store.get_region(session, code)
    if row is None:
        raise Problem(404, "region-not-found", f"行政区划 {code} 不存在")
    return row



def _summaries(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = region_store.get_regions(session, sorted({r["region_code"] for r in rows}))
    return [r | {"item_type_name": ITEM_TYPES.get(r["item_type"], ""), "online": bool(r["online"]),
                 "region_name": names[r["region_code"]].name if r["region_code"] in names else ""}
            for r in rows]


# ---- regions ------------------------------------------------------------------------------------------------

@regions_router.get("/api/v1/regions/{code}", response_model=RegionTree, tags=["regions 行政区划"],
                    summary="A region with its ancestors and children")
async def get_region(code: CodePath, principal: CurrentPrincipal, runtime: RuntimeDep) -> RegionTree:
    del principal  # public
    _valid_code(code, "code")

    def work(session: Session) -> RegionTree:
        row = _known_region(session, code)
        found = region_store.get_regions(session, lineage(code)[:-1])
        ancestors = [region_store.region_out(found[c]) for c in lineage(code)[:-1] if c in found]
        kids = [region_store.region_out(r) for r in region_store.children(session, code)]
        return RegionTree.model_validate({"region": region_store.region_out(row), "ancestors": ancestors,
                                          "children": kids})

    return await read_in_thread(runtime, work)


@regions_router.get("/api/v1/regions/{code}/items", response_model=RegionItems, tags=["regions 行政区划"],
                    summary="Items offered in a region: its own and its ancestors' (为民服务事项目录)")
async def region_items(
    code: CodePath, principal: CurrentPrincipal, runtime: RuntimeDep,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="words to search for")] = None,
    department: Department = None, item_type: ItemType = None, online: Online = None,
    max_visits: MaxVisits = None, limit: Limit = 100, offset: Offset = 0,
) -> RegionItems:
    del principal
    _valid_code(code, "code")
    filters = search_index.Filters(regions=lineage(code), department=department,
                                   item_type=_valid_item_type(item_type), online=online, max_visits=max_visits)
    parsed = _parsed(q) if q else None

    def work(session: Session) -> RegionItems:
        row = _known_region(session, code)
        if parsed is None:
            page = search_index.browse(session, filters, limit, offset)
        else:
            page = search_index.search(session, parsed, filters, limit, offset)
        found = region_store.get_regions(session, lineage(code)[:-1])
        ancestors = [region_store.region_out(found[c]) for c in lineage(code)[:-1] if c in found]
        return RegionItems.model_validate({"region": region_store.region_out(row), "ancestors": ancestors,
                                           "total": page.total, "items": _summaries(session, page.rows)})

    return await read_in_thread(runtime, work)


# ---- search -------------------------------------------------------------------------------------------------

def _parsed(q: str) -> ParsedQuery:
    parsed = parse_query(q)
    if not parsed.terms:
        message = f"检索词「{q}」中没有可检索的词语（标点和“的、和、怎么”等虚词不参与检索）"
        raise Problem(422, "empty-query", message, errors=[{"field": "q", "message": message}])
    return parsed


@regions_router.get("/api/v1/catalogue/search", response_model=SearchAnswer, tags=["catalogue 实施清单"],
                    summary="Full-text search of the published catalogue (事项检索)")
async def search_catalogue(
    principal: CurrentPrincipal, runtime: RuntimeDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description="words, e.g. 营业执照")],
    region_code: Annotated[str | None, Query(description="only items offered in this region")] = None,
    department: Department = None, item_type: ItemType = None, online: Online = None,
    max_visits: MaxVisits = None, limit: Limit = 20, offset: Offset = 0,
) -> SearchAnswer:
    """Every word must appear (in the name, result name, conditions, materials or FAQ); when no item has
    them all, items with any of them are answered and `relaxed` is true. Ranked with the name weighing
    most, then the result name, conditions and materials, then the FAQ."""
    del principal
    regions = lineage(_valid_code(region_code, "region_code")) if region_code is not None else None
    filters = search_index.Filters(regions=regions, department=department, item_type=_valid_item_type(item_type),
                                   online=online, max_visits=max_visits)
    parsed = _parsed(q)

    def work(session: Session) -> SearchAnswer:
        if region_code is not None:
            _known_region(session, region_code)
        page = search_index.search(session, parsed, filters, limit, offset)
        relaxed = False
        if page.total == 0 and len(parsed.tokens()) > 1:
            page = search_index.search(session, parsed, filters, limit, offset, strict=False)
            relaxed = page.total > 0
        hits = search_index.with_snippets(session, parsed, _summaries(session, page.rows))
        return SearchAnswer.model_validate({"query": q, "tokens": parsed.tokens(), "relaxed": relaxed,
                                            "total": page.total, "items": hits})

    return await read_in_thread(runtime, work)
