"""Catalogue import and export (JSON and xlsx), and the published version an item's flow chart is drawn from.

Import goes through the same code path as creating an item by hand (`handlers.create_item`, then
`handlers.publish_item` with `publish`), in the caller's one unit of work: every item is tried, every
problem is collected with where it is (JSON: item index and field path; xlsx: sheet, row, column letter
and header), and a single problem anywhere refuses the whole import, so a catalogue is never half loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.messaging import Outbox
from services.common.principal import Principal, region_prefix
from services.common.problems import Problem
from services.disclosure import handlers
from services.disclosure.adapters import catalogue_spreadsheet as spreadsheet
from services.disclosure.adapters.tables import item_version
from services.disclosure.api.schemas import ItemDefinitionIn
from services.disclosure.domain.catalogue import ItemDefinition, VersionStatus

FORMAT_NAME = "zwfw-catalogue"
FORMAT_VERSION = 1
JSON_MEDIA_TYPE = "application/json"
XLSX_MEDIA_TYPE = spreadsheet.XLSX_MEDIA_TYPE
MAX_IMPORT_BYTES = 4 * 1024 * 1024  # a few hundred items with their guides; the gateway may cap lower
MAX_IMPORT_ITEMS = 2000
MAX_LISTED_ERRORS = 500  # a hopeless file must not make a hopeless answer; the count says how many in all

Locate = Callable[[str], dict[str, Any]]  # a field path → where it is in the uploaded document


@dataclass
class Candidate:
    """One item of an upload: its data for ItemDefinitionIn and how to point at any of its fields."""

    data: Any
    locate: Locate
    reported: frozenset[str] = frozenset()  # cells already refused while reading (not reported twice)


# ---- export -------------------------------------------------------------------------------------------

def _project(data: Any, model: type[BaseModel]) -> Any:
    """A stored definition cut down to what the input model accepts, so an export always imports: the
    stored form may carry fields the API does not take (or no longer takes)."""
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in data:
            continue
        out[name] = _project_value(data[name], info.annotation)
    return out


def _project_value(value: Any, annotation: Any) -> Any:
    for candidate in _models_in(annotation):
        if isinstance(value, dict):
            return _project(value, candidate)
        if isinstance(value, list):
            return [_project(v, candidate) for v in value]
    return value


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds: X, X | None, list[X]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def export_items(session: Session, region_code: str | None) -> list[dict[str, Any]]:
    """The published items of a region and of every region below it, each shaped like ItemDefinitionIn."""
    stmt = select(item_version.c.definition).where(item_version.c.status == VersionStatus.published.value)
    if region_code:
        stmt = stmt.where(item_version.c.region_code.startswith(region_prefix(region_code), autoescape=True))
    rows = session.execute(stmt.order_by(item_version.c.region_code, item_version.c.item_code)).all()
    return [_project(ItemDefinition.model_validate(r.definition).model_dump(mode="json"), ItemDefinitionIn)
            for r in rows]


def json_document(items: list[dict[str, Any]], region_code: str | None, now: datetime) -> dict[str, Any]:
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "region_code": region_code or "",
            "exported_at": now.isoformat(), "items": items}


def xlsx_document(items: list[dict[str, Any]]) -> bytes:
    return spreadsheet.write_workbook(items, ItemDefinitionIn)


# ---- reading an upload ----------------------------------------------------------------------------------

def _json_locate(index: int) -> Locate:
    def locate(path: str) -> dict[str, Any]:
        pointer = "/items/" + str(index) + "".join("/" + p.replace("~", "~0").replace("/", "~1")
                                                   for p in path.split(".") if p)
        return {"item": index, "field": path, "pointer": pointer}

    return locate


def candidates_from_json(body: bytes) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """`{"format_version": 1, "items": [ItemDefinitionIn …]}` (format_version may be left out)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "invalid-json", f"请求体不是有效的 JSON：{exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise Problem(422, "invalid-import", "导入文件应为 {\"format_version\": 1, \"items\": [事项 …]}",
                      errors=[{"pointer": "/items", "field": "items", "message": "缺少事项列表 items"}])
    version = document.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise Problem(422, "unsupported-format-version",
                      f"不支持的格式版本「{version}」，本平台读取格式版本 {FORMAT_VERSION}",
                      errors=[{"pointer": "/format_version", "field": "format_version",
                               "message": f"应为 {FORMAT_VERSION}"}])
    return [Candidate(item, _json_locate(i)) for i, item in enumerate(document["items"])], []


def candidates_from_xlsx(body: bytes) -> tuple[list[Candidate], list[dict[str, Any]]]:
    try:
        read = spreadsheet.read_workbook(body, ItemDefinitionIn)
    except spreadsheet.WorkbookError as exc:
        raise Problem(422, "invalid-workbook", str(exc)) from exc
    problems = [{**p.where.as_dict(), **({"field": p.field} if p.field else {}), "message": p.message}
                for p in read.problems]
    reported = frozenset(_cell_key(p.where.as_dict()) for p in read.problems)

    def locator(item: spreadsheet.SheetItem) -> Locate:
        return lambda path: {**item.locate(path).as_dict(), "field": path}

    return [Candidate(item.data, locator(item), reported) for item in read.items], problems


def _cell_key(where: dict[str, Any]) -> str:
    return f"{where.get('sheet')}!{where.get('column')}{where.get('row')}"


# ---- validating and importing --------------------------------------------------------------------------

# Pydantic's messages are English; the administrators reading an import report are not.
_MESSAGES_ZH: dict[str, str] = {
    "missing": "必填",
    "extra_forbidden": "不认识的字段",
    "string_type": "应为文本",
    "string_too_short": "不能为空",
    "string_too_long": "不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符（只能包含字母、数字和 . _ -，且以字母或数字开头）",
    "int_type": "应为整数", "int_parsing": "应为整数", "int_from_float": "应为整数",
    "bool_type": "应为是/否", "bool_parsing": "应为是/否",
    "greater_than_equal": "不能小于 {ge}", "less_than_equal": "不能大于 {le}",
    "too_long": "不能超过 {max_length} 项",
    "literal_error": "应为 {expected} 之一",
    "enum": "应为 {expected} 之一",
    "model_type": "应为对象", "dict_type": "应为对象", "list_type": "应为列表",
}


def _message(error: dict[str, Any]) -> str:
    template = _MESSAGES_ZH.get(error.get("type", ""))
    if template is None:
        return str(error.get("msg", ""))
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return str(error.get("msg", ""))


def _validation_errors(candidate: Candidate, exc: ValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error.get("loc", ()))
        where = candidate.locate(path)
        if _cell_key(where) in candidate.reported and "sheet" in where:
            continue  # the cell was already refused while reading; pydantic only misses its value
        errors.append({**where, "message": _message(dict(error))})
    return errors


def _problem_errors(candidate: Candidate, problem: Problem) -> list[dict[str, Any]]:
    """A refusal of create_item/publish_item, pointed at the fields it names (or at the item's code)."""
    listed = problem.extensions.get("errors")
    if isinstance(listed, list) and listed:
        return [{**candidate.locate(str(e.get("field", ""))), "message": str(e.get("message", "")),
                 "type": problem.slug} for e in listed]
    field = "region_code" if problem.slug == "region-out-of-scope" else "item_code"
    return [{**candidate.locate(field), "message": problem.detail, "type": problem.slug}]


def import_items(session: Session, outbox: Outbox, principal: Principal, candidates: list[Candidate],
                 read_problems: list[dict[str, Any]], publish: bool, now: datetime) -> list[dict[str, Any]]:
    """Creates (and with `publish` publishes) every item, or raises one 422 naming every problem.

    The caller's transaction is rolled back by the raise, drafts created before a bad item included."""
    if len(candidates) > MAX_IMPORT_ITEMS:
        raise Problem(413, "too-many-items", f"一次最多导入 {MAX_IMPORT_ITEMS} 个事项，本次 {len(candidates)} 个")
    errors = list(read_problems)
    done: list[dict[str, Any]] = []
    first_seen: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        try:
            body = ItemDefinitionIn.model_validate(candidate.data)
        except ValidationError as exc:
            errors += _validation_errors(candidate, exc)
            continue
        code = body.item_code
        if code in first_seen:
            where = first_seen[code]
            at = f"第 {where['row']} 行" if "row" in where else f"第 {where['item'] + 1} 项（items[{where['item']}]）"
            errors.append({**candidate.locate("item_code"),
                           "message": f"实施编码「{code}」在本次导入中重复，已见于{at}", "type": "duplicate-item"})
            continue
        first_seen[code] = candidate.locate("item_code")
        try:
            out = handlers.create_item(session, principal, body.to_domain(), now, body.change_reason)
            if publish:
                out = handlers.publish_item(session, outbox, principal, code, now)
        except Problem as problem:
            errors += _problem_errors(candidate, problem)
            continue
        done.append({"item_code": out["item_code"], "version": out["version"], "status": out["status"],
                     "name": out["name"]})
    if not candidates and not errors:
        errors.append({"field": "items", "message": "导入文件中没有事项"})
    if errors:
        shown = "" if len(errors) <= MAX_LISTED_ERRORS else f"（列出前 {MAX_LISTED_ERRORS} 处）"
        raise Problem(422, "invalid-import", f"导入未执行：发现 {len(errors)} 处问题{shown}，请全部修正后重新导入，"
                                             "本次未导入任何事项",
                      errors=errors[:MAX_LISTED_ERRORS], error_count=len(errors))
    return done


# ---- one version for the flow chart -------------------------------------------------------------------

def public_definition(session: Session, principal: Principal, item_code: str,
                      version: int | None) -> tuple[ItemDefinition, int]:
    """The published version, or a given published/retired one; a draft is nobody's public chart."""
    if version is None:
        out = handlers.get_published(session, item_code)
    else:
        out = handlers.get_version(session, principal, item_code, version, can_see_drafts=False)
    definition = ItemDefinition.model_validate({k: out[k] for k in ItemDefinition.model_fields if k in out})
    return definition, int(out["version"])
