"""The catalogue as the xlsx workbook provincial catalogue administrators exchange (openpyxl).

One workbook, one sheet per kind of row:

- 事项: one row per item, a column per scalar field of the definition (nested scalars such as the limits
  and the guide's elements included), Chinese headers;
- 申请材料, 办理流程, 设定依据, 常见问题: one row per entry, linked to its item by the 实施编码 column,
  in the order the entries have in the item;
- 说明: how to fill it in (read back: ignored).

The columns are derived from the API's input model (`ItemDefinitionIn`, passed in), so a field added to
the model appears in the workbook without touching this adapter: a known field gets its Chinese header
from `HEADERS`, an unknown one its dotted path. On reading, a header may be either.

Cell conventions: 是/否 for yes-no, line breaks between the entries of a list (the department lists also
take 、), codes or their Chinese labels for coded values (时限单位 工作日, 办理角色 审批人员, 办件类型
承诺件 …). Codes are written as text cells so 01 and 320102000000 survive Excel.

Reading never raises on content: every cell it cannot read becomes a `CellProblem` naming sheet, row,
column letter and header, and every value read keeps the cell it came from (`SheetItem.cells`), so a rule
the definition breaks later can be pointed at the cell too. Only a file that is not a workbook raises.
"""

from __future__ import annotations

import io
import json
import types
import typing
import zipfile
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, get_args, get_origin

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from pydantic import BaseModel

from services.disclosure.domain.catalogue import CASE_TYPES, HANDLING_FORMS, LEVELS, LIMIT_UNITS
from services.disclosure.domain.flowchart import ROLE_LABELS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMAT_VERSION = "1"
MAIN_SHEET = "事项"
README_SHEET = "说明"
ITEM_CODE = "item_code"
# A zip that inflates beyond this is refused before openpyxl sees it (a few hundred items take ~1 MB).
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024

# The sheet of each list of entries; another list of models in the input model gets a sheet named by its path.
LIST_SHEETS: dict[str, str] = {
    "materials": "申请材料",
    "process": "办理流程",
    "elements.legal_basis": "设定依据",
    "elements.faq": "常见问题",
}

# Chinese headers by field path: the item's own fields on 事项, `<list>.<field>` on the list sheets.
HEADERS: dict[str, str] = {
    "item_code": "实施编码", "name": "事项名称", "item_type": "事项类型", "department": "实施主体",
    "region_code": "行政区划代码", "case_type": "办件类型",
    "legal_limit.value": "法定时限", "legal_limit.unit": "法定时限单位", "legal_limit.note": "法定时限说明",
    "promised_limit.value": "承诺时限", "promised_limit.unit": "承诺时限单位", "promised_limit.note": "承诺时限说明",
    "joint": "联合办理", "publish_results": "办件结果公示", "fee_charged": "是否收费", "change_reason": "变更原因",
    "elements.basic_code": "基本编码", "elements.handling_code": "业务办理项编码", "elements.level": "行使层级",
    "elements.implementing_body_nature": "实施主体性质", "elements.handling_unit": "办理机构",
    "elements.co_departments": "联办机构", "elements.conditions": "受理条件",
    "elements.intermediary_services": "中介服务", "elements.quantity_limit": "数量限制",
    "elements.result_name": "审批结果名称", "elements.result_sample": "审批结果样本",
    "elements.fee.basis": "收费依据", "elements.fee.standard": "收费标准", "elements.fee.amount_fen": "收费金额（分）",
    "elements.service_scope": "通办范围", "elements.service_objects": "服务对象",
    "elements.handling_forms": "办理形式", "elements.special_procedures": "特别程序",
    "elements.online": "是否网办", "elements.booking": "是否支持预约", "elements.online_payment": "是否支持网上支付",
    "elements.delivery": "是否支持物流快递", "elements.visits": "到现场次数", "elements.address": "办理地点",
    "elements.hours": "办理时间", "elements.consultation_phone": "咨询电话",
    "elements.supervision_phone": "监督投诉电话",
    "materials.code": "材料编码", "materials.name": "材料名称", "materials.required": "是否必需",
    "materials.originals": "原件份数", "materials.copies": "复印件份数", "materials.issuer": "来源（出具单位）",
    "materials.note": "备注",
    "process.code": "环节编码", "process.name": "环节名称", "process.role": "办理角色",
    "process.limit.value": "环节时限", "process.limit.unit": "环节时限单位", "process.limit.note": "环节时限说明",
    "process.departments": "并联审批部门", "process.condition": "环节条件",
    "elements.legal_basis.document": "法律法规名称", "elements.legal_basis.articles": "条款号",
    "elements.legal_basis.text": "条款内容",
    "elements.faq.question": "问题", "elements.faq.answer": "解答",
}

# Coded values shown by their Chinese label; a cell may hold either. Keyed by path, or by the last segment.
_UNIT_LABELS = LIMIT_UNITS
VALUE_LABELS: dict[str, dict[str, str]] = {
    "case_type": CASE_TYPES,
    "unit": _UNIT_LABELS,
    "role": ROLE_LABELS,
    "elements.level": LEVELS,
    "elements.handling_forms": HANDLING_FORMS,
}
# Lists whose entries never contain 、, so it may separate them as well as a line break.
_ENUMERATION_LISTS = ("departments", "co_departments", "service_objects", "handling_forms")

_TRUE = {"是", "true", "yes", "y", "1", "√", "✓"}
_FALSE = {"否", "false", "no", "n", "0", "×", "✗"}


class WorkbookError(ValueError):
    """The upload is not an xlsx workbook at all (or inflates beyond the limit)."""


@dataclass(frozen=True)
class CellRef:
    """Where something is in the workbook: sheet, row number, column letter and its header."""

    sheet: str
    row: int | None = None
    column: str | None = None
    header: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("sheet", self.sheet), ("row", self.row), ("column", self.column),
                                  ("header", self.header)) if v is not None}


@dataclass(frozen=True)
class CellProblem:
    where: CellRef
    message: str  # 中文
    field: str = ""  # the field path of the value, when the cell is one


@dataclass
class SheetItem:
    """One item as read: its data for the input model, and the cell every field path came from."""

    data: dict[str, Any]
    row: CellRef  # its 实施编码 cell on 事项
    cells: dict[str, CellRef] = field(default_factory=dict)

    def locate(self, path: str) -> CellRef:
        """The cell of a field path, or the nearest one: `materials.1` → its first column, `process` → the
        first step's; an unknown path falls back to the item's row."""
        probe = path
        while probe:
            if probe in self.cells:
                return self.cells[probe]
            nested = next((ref for key, ref in self.cells.items() if key.startswith(probe + ".")), None)
            if nested is not None:
                return nested
            probe = probe.rpartition(".")[0]
        return self.row


@dataclass
class WorkbookRead:
    items: list[SheetItem]
    problems: list[CellProblem]


# ---- the layout, derived from the input model -------------------------------------------------------

@dataclass(frozen=True)
class Column:
    path: str  # relative to the row's model: "legal_limit.value", "limit.unit", "departments"
    full_path: str  # for headers and labels: "process.limit.unit"
    kind: Literal["str", "int", "bool", "choice", "list", "json"]
    choices: tuple[str, ...] = ()  # for "choice": the allowed codes
    labels: dict[str, str] = field(default_factory=dict)
    required: bool = False

    @property
    def header(self) -> str:
        return HEADERS.get(self.full_path, self.full_path)


@dataclass(frozen=True)
class SheetSpec:
    name: str
    list_path: str | None  # None for 事项; "materials" for 申请材料 …
    columns: tuple[Column, ...]


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _labels_for(full_path: str) -> dict[str, str]:
    return VALUE_LABELS.get(full_path) or VALUE_LABELS.get(full_path.rpartition(".")[2], {})


def _walk(model: type[BaseModel], prefix: str, full_prefix: str, columns: list[Column],
          lists: list[tuple[str, type[BaseModel]]]) -> None:
    for name, info in model.model_fields.items():
        path, full = f"{prefix}{name}", f"{full_prefix}{name}"
        annotation = _unwrap_optional(info.annotation)
        origin = get_origin(annotation)
        if _is_model(annotation):
            _walk(annotation, path + ".", full + ".", columns, lists)
            continue
        if origin is list:
            (inner,) = get_args(annotation) or (str,)
            inner = _unwrap_optional(inner)
            if _is_model(inner):
                lists.append((full, inner))
            else:
                columns.append(Column(path, full, "list", labels=_labels_for(full)))
            continue
        labels = _labels_for(full)
        if origin is Literal:
            columns.append(Column(path, full, "choice", tuple(str(a) for a in get_args(annotation)), labels,
                                  info.is_required()))
        elif isinstance(annotation, type) and issubclass(annotation, Enum):
            columns.append(Column(path, full, "choice", tuple(str(m.value) for m in annotation), labels,
                                  info.is_required()))
        elif annotation is bool:
            columns.append(Column(path, full, "bool", required=info.is_required()))
        elif annotation is int:
            columns.append(Column(path, full, "int", required=info.is_required()))
        elif annotation is str:
            columns.append(Column(path, full, "str", labels=labels, required=info.is_required()))
        else:  # anything else travels as JSON text rather than being lost
            columns.append(Column(path, full, "json", required=info.is_required()))


def layout(model: type[BaseModel]) -> list[SheetSpec]:
    """The workbook's sheets for an item model: 事项 first, then one per list of entries."""
    columns: list[Column] = []
    lists: list[tuple[str, type[BaseModel]]] = []
    _walk(model, "", "", columns, lists)
    columns.sort(key=lambda c: c.path != ITEM_CODE)  # 实施编码 first, the rest in the model's order
    sheets = [SheetSpec(MAIN_SHEET, None, tuple(columns))]
    for list_path, entry_model in lists:
        entry_columns: list[Column] = []
        nested: list[tuple[str, type[BaseModel]]] = []
        _walk(entry_model, "", list_path + ".", entry_columns, nested)
        # A list inside an entry (none today) would have no sheet: carry it in a JSON column instead.
        entry_columns += [Column(p.removeprefix(list_path + "."), p, "json") for p, _ in nested]
        link = Column(ITEM_CODE, ITEM_CODE, "str", required=True)
        sheets.append(SheetSpec(LIST_SHEETS.get(list_path, list_path), list_path, (link, *entry_columns)))
    return sheets


# ---- writing ----------------------------------------------------------------------------------------

def _get(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _cell_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.kind == "bool":
        return "是" if value else "否"
    if column.kind == "list":
        return "\n".join(column.labels.get(str(v), str(v)) for v in value) or None
    if column.kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if column.kind in ("choice", "str") and column.labels:
        return column.labels.get(str(value), str(value))
    return value


_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def _header_row(sheet: Any, columns: tuple[Column, ...]) -> None:
    sheet.append([c.header for c in columns])
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(10, min(40, len(column.header) * 2 + 4))
        if column.kind in ("str", "choice", "list"):
            # Text format, so codes like 01 or 320102000000 typed in later stay text in Excel too.
            sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"


def _append(sheet: Any, columns: tuple[Column, ...], row_data: dict[str, Any], item_code: str) -> None:
    values = [item_code if c.path == ITEM_CODE else _cell_value(c, _get(row_data, c.path)) for c in columns]
    sheet.append(values)
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=sheet.max_row, column=index)
        if column.kind in ("str", "choice", "list"):
            cell.number_format = "@"
        if column.kind in ("list", "json") or (isinstance(cell.value, str) and len(cell.value) > 40):
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def _readme_rows(sheets: list[SheetSpec]) -> list[list[str]]:
    rows = [["格式", f"政务服务事项实施清单交换表，格式版本 {FORMAT_VERSION}"],
            ["工作表", "「事项」每行一个事项；其余各表每行一条，以「实施编码」对应到事项，按行序排列"],
            ["是/否", "填写「是」或「否」"],
            ["多项内容", "同一单元格内多项以换行分隔（部门、服务对象、办理形式也可用「、」分隔）"]]
    for labels_name, labels in (("时限单位", LIMIT_UNITS), ("办件类型", CASE_TYPES), ("办理角色", ROLE_LABELS),
                                ("行使层级", LEVELS), ("办理形式", HANDLING_FORMS)):
        rows.append([labels_name, "、".join(f"{label}（{code}）" for code, label in labels.items())])
    for spec in sheets:
        rows.append([f"「{spec.name}」的列", "、".join(c.header for c in spec.columns)])
    return rows


def write_workbook(items: list[dict[str, Any]], model: type[BaseModel]) -> bytes:
    """The items (dicts shaped like `model`) as an xlsx workbook."""
    sheets = layout(model)
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.title = "政务服务事项实施清单"
    workbook.properties.identifier = "zwfw-catalogue"
    workbook.properties.version = FORMAT_VERSION
    for spec in sheets:
        sheet = workbook.create_sheet(spec.name)
        _header_row(sheet, spec.columns)
        for item in items:
            code = str(item.get(ITEM_CODE, ""))
            if spec.list_path is None:
                _append(sheet, spec.columns, item, code)
            else:
                for entry in _get(item, spec.list_path) or []:
                    _append(sheet, spec.columns, entry, code)
    readme = workbook.create_sheet(README_SHEET)
    for row in _readme_rows(sheets):
        readme.append(row)
    readme.column_dimensions["A"].width = 18
    readme.column_dimensions["B"].width = 100
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---- reading ----------------------------------------------------------------------------------------

def _set(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _choice(column: Column, text: str) -> str | None:
    if text in column.choices:
        return text
    by_label = {label: code for code, label in column.labels.items()}
    return by_label.get(text)


def _convert(column: Column, value: Any) -> tuple[Any, str | None]:
    """A cell's value as the model wants it, or the reason it cannot be read (中文)."""
    if column.kind == "bool":
        if isinstance(value, bool):
            return value, None
        text = str(int(value) if isinstance(value, float) and value.is_integer() else value).strip().lower()
        if text in _TRUE:
            return True, None
        if text in _FALSE:
            return False, None
        return None, f"应填写「是」或「否」，当前为「{value}」"
    if column.kind == "int":
        if isinstance(value, bool):
            return None, f"应为整数，当前为「{value}」"
        if isinstance(value, int):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            return int(text), None
        return None, f"应为整数，当前为「{value}」"
    text = _text(value)
    if column.kind == "choice":
        code = _choice(column, text)
        if code is None:
            allowed = "、".join(f"{column.labels.get(c, c)}（{c}）" if c in column.labels else c
                               for c in column.choices)
            return None, f"「{text}」无效，应为 {allowed} 之一"
        return code, None
    if column.kind == "list":
        separators = text.replace("\r", "\n")
        if column.path.rpartition(".")[2] in _ENUMERATION_LISTS:
            separators = separators.replace("、", "\n")
        entries = [e.strip() for e in separators.split("\n") if e.strip()]
        by_label = {label: code for code, label in column.labels.items()}
        return [by_label.get(e, e) for e in entries], None
    if column.kind == "json":
        try:
            return json.loads(text), None
        except ValueError:
            return None, "应为 JSON 文本"
    if column.labels:  # a coded text (办件类型, 行使层级): a label becomes its code, anything else is kept
        return {label: code for code, label in column.labels.items()}.get(text, text), None
    return text, None


def _text(value: Any) -> str:
    """A cell as text: numbers typed into a code column (01 → 1, a region code) come back as digits."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _open(data: bytes) -> Any:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise WorkbookError("不是有效的 xlsx 文件（无法作为 Office Open XML 工作簿打开）") from exc
    if inflated > MAX_UNCOMPRESSED_BYTES:
        raise WorkbookError(f"工作簿解压后超过 {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (KeyError, InvalidFileException …) for a bad file
        raise WorkbookError(f"不是有效的 xlsx 文件：{type(exc).__name__}") from exc


def read_workbook(data: bytes, model: type[BaseModel]) -> WorkbookRead:
    """The items of a workbook written as `write_workbook` writes it (or by hand, in any column order)."""
    sheets = {spec.name: spec for spec in layout(model)}
    workbook = _open(data)
    problems: list[CellProblem] = []
    items: list[SheetItem] = []
    by_code: dict[str, SheetItem] = {}
    try:
        names = list(workbook.sheetnames)
        for name in names:
            if name not in sheets and name != README_SHEET:
                problems.append(CellProblem(CellRef(name), f"未知的工作表「{name}」，应为 {'、'.join(sheets)} 之一"))
        if MAIN_SHEET not in names:
            problems.append(CellProblem(CellRef(MAIN_SHEET), f"缺少工作表「{MAIN_SHEET}」"))
            return WorkbookRead(items, problems)
        # 事项 first, so the list sheets can find their items whatever the sheet order.
        for name in [MAIN_SHEET, *(n for n in names if n in sheets and n != MAIN_SHEET)]:
            spec = sheets[name]
            for row_number, cells, values, refused in _rows(workbook[name], spec, problems):
                code_ref = cells.get(ITEM_CODE, CellRef(name, row_number))
                code = _text(values[ITEM_CODE][0]) if ITEM_CODE in values else ""
                if spec.list_path is None:
                    item = SheetItem({}, code_ref)
                    for path, (value, ref) in values.items():
                        _set(item.data, path, value)
                        item.cells[path] = ref
                    for path, ref in cells.items():
                        item.cells.setdefault(path, ref)
                    items.append(item)
                    by_code.setdefault(code, item)
                    problems += [CellProblem(ref, why, path) for path, ref, why in refused]
                    continue
                owner = by_code.get(code) if code else None
                if owner is None:
                    message = (f"实施编码「{code}」在「{MAIN_SHEET}」表中不存在" if code
                               else "缺少实施编码，无法对应到事项")
                    problems.append(CellProblem(code_ref, message, ITEM_CODE))
                    problems += [CellProblem(ref, why, f"{spec.list_path}.{path}") for path, ref, why in refused]
                    continue
                entries = _get(owner.data, spec.list_path)
                if entries is None:
                    entries = []
                    _set(owner.data, spec.list_path, entries)
                index = len(entries)
                problems += [CellProblem(ref, why, f"{spec.list_path}.{index}.{path}") for path, ref, why in refused]
                entry: dict[str, Any] = {}
                for path, (value, _ref) in values.items():
                    if path != ITEM_CODE:
                        _set(entry, path, value)
                for path, ref in cells.items():
                    if path != ITEM_CODE:
                        owner.cells[f"{spec.list_path}.{index}.{path}"] = ref
                entries.append(entry)
        return WorkbookRead(items, problems)
    finally:
        workbook.close()


def _rows(sheet: Any, spec: SheetSpec, problems: list[CellProblem]) -> Any:
    """Each non-empty data row: (row number, {path: cell}, {path: (value, cell)}, [(path, cell, why)] for
    the cells that could not be read). Header problems go to `problems`; a sheet without its 实施编码 column
    yields nothing."""
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None) or ()
    by_header = {c.header: c for c in spec.columns} | {c.full_path: c for c in spec.columns} | {
        c.path: c for c in spec.columns}
    columns: dict[int, Column] = {}
    seen: dict[str, int] = {}
    for index, title in enumerate(header):
        if _blank(title):
            continue
        letter = get_column_letter(index + 1)
        column = by_header.get(str(title).strip())
        if column is None:
            problems.append(CellProblem(CellRef(spec.name, 1, letter, str(title)),
                                        f"「{spec.name}」表中不认识的列「{title}」"))
            continue
        if column.path in seen:
            first = get_column_letter(seen[column.path] + 1)
            problems.append(CellProblem(CellRef(spec.name, 1, letter, str(title)),
                                        f"列「{column.header}」重复（已在 {first} 列）"))
            continue
        seen[column.path] = index
        columns[index] = column
    if ITEM_CODE not in seen:
        problems.append(CellProblem(CellRef(spec.name, 1), f"「{spec.name}」表缺少「{HEADERS[ITEM_CODE]}」列"))
        return
    for row_number, row in enumerate(rows, start=2):
        if all(_blank(v) for v in row):
            continue
        cells: dict[str, CellRef] = {}
        values: dict[str, tuple[Any, CellRef]] = {}
        refused: list[tuple[str, CellRef, str]] = []
        for index, column in columns.items():
            ref = CellRef(spec.name, row_number, get_column_letter(index + 1), column.header)
            cells[column.path] = ref
            raw = row[index] if index < len(row) else None
            if _blank(raw):
                continue
            value, problem = _convert(column, raw)
            if problem is not None:
                refused.append((column.path, ref, f"{column.header}：{problem}"))
                continue
            values[column.path] = (value, ref)
        yield row_number, cells, values, refused
