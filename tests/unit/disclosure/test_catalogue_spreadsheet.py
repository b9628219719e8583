"""The catalogue workbook: written and read back unchanged, read as administrators fill it in, and every cell
it cannot read named by sheet, row, column letter and header."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from services.disclosure.adapters import catalogue_spreadsheet as sheet
from services.disclosure.adapters.catalogue_spreadsheet import (
    CellRef,
    WorkbookError,
    layout,
    read_workbook,
    write_workbook,
)
from services.disclosure.api.schemas import ItemDefinitionIn

DEMO = Path(__file__).resolve().parents[3] / "services" / "disclosure" / "demo" / "catalogue.json"


def demo_items() -> list[dict[str, Any]]:
    items = [ItemDefinitionIn.model_validate(i).model_dump(mode="json")
             for i in json.loads(DEMO.read_text(encoding="utf-8"))]
    items[0]["fee_charged"] = True
    items[0]["elements"] |= {
        "legal_basis": [{"document": "《促进个体工商户发展条例》", "articles": "第八条", "text": "第一行\n第二行"},
                        {"document": "《市场主体登记管理条例》", "articles": "", "text": ""}],
        "faq": [{"question": "能否网上办理？", "answer": "可以。"}],
        "conditions": ["有经营能力", "场所符合要求；且已取得产权证明"],
        "handling_forms": ["window", "web"], "level": "4", "online": True, "visits": 0,
        "fee": {"basis": "苏价费〔2019〕1号", "standard": "每证10元", "amount_fen": 1000},
    }
    return items


def _book(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data))


def _save(book: Any) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_written_workbook_reads_back_to_the_same_items() -> None:
    items = demo_items()
    data = write_workbook(items, ItemDefinitionIn)
    read = read_workbook(data, ItemDefinitionIn)
    assert read.problems == []
    assert [ItemDefinitionIn.model_validate(i.data).model_dump(mode="json") for i in read.items] == items


def test_the_layout_is_the_exchange_workbook_with_chinese_headers_and_labels() -> None:
    items = demo_items()
    book = _book(write_workbook(items, ItemDefinitionIn))
    assert book.sheetnames == ["事项", "申请材料", "办理流程", "设定依据", "常见问题", "说明"]
    main = book["事项"]
    headers = [c.value for c in main[1]]
    assert headers[:6] == ["实施编码", "事项名称", "事项类型", "实施主体", "行政区划代码", "办件类型"]
    assert {"法定时限", "承诺时限单位", "受理条件", "收费标准", "是否网办", "变更原因"} <= set(headers)
    first = dict(zip(headers, [c.value for c in main[2]], strict=True))
    assert first["办件类型"] == "承诺件" and first["承诺时限单位"] == "工作日"
    assert first["是否收费"] == "是" and first["行使层级"] == "县级"
    assert first["受理条件"] == "有经营能力\n场所符合要求；且已取得产权证明"
    assert first["办理形式"] == "窗口办理\n网上办理"
    assert main["E2"].number_format == "@"  # region codes stay text in Excel
    steps = book["办理流程"]
    assert [c.value for c in steps[1]] == ["实施编码", "环节编码", "环节名称", "办理角色", "环节时限", "环节时限单位",
                                           "环节时限说明", "并联审批部门", "环节条件"]
    assert steps.max_row - 1 == sum(len(i["process"]) for i in items)
    assert steps["D2"].value == "审批人员"
    basis = [[c.value for c in row] for row in book["设定依据"].iter_rows(min_row=2)]
    assert [r[1:] for r in basis if r[0] == items[0]["item_code"]] == [
        ["《促进个体工商户发展条例》", "第八条", "第一行\n第二行"], ["《市场主体登记管理条例》", None, None]]
    assert [c.value for c in book["常见问题"][1]] == ["实施编码", "问题", "解答"]


def test_a_workbook_filled_in_by_hand_is_read_in_any_column_order() -> None:
    book = Workbook()
    main = book.active
    main.title = "事项"
    main.append(["事项名称", "实施编码", "事项类型", "行政区划代码", "实施主体", "法定时限", "法定时限单位",
                 "承诺时限", "承诺时限单位", "联合办理", "办件类型", "fee_charged"])
    # Numbers where Excel turns codes into numbers, labels instead of codes, yes/no in several spellings.
    main.append(["测试事项", "X-1", 1, 320102000000, "某局", 20, "working_days", 10.0, "工作日", "是", 2, "FALSE"])
    steps = book.create_sheet("办理流程")
    steps.append(["环节编码", "实施编码", "环节名称", "办理角色", "并联审批部门"])
    steps.append(["joint", "X-1", "联合审查", "审批人员", "甲局、乙局\n丙局"])
    steps.append([None, None, None, None, None])  # blank rows are skipped
    steps.append(["decide", "X-1", "决定", "department_head", None])
    read = read_workbook(_save(book), ItemDefinitionIn)
    assert read.problems == []
    (item,) = read.items
    data = item.data
    assert (data["item_code"], data["item_type"], data["region_code"], data["case_type"]) == ("X-1", "1",
                                                                                              "320102000000", "2")
    assert data["promised_limit"] == {"value": 10, "unit": "working_days"}
    assert (data["joint"], data["fee_charged"]) == (True, False)
    assert data["process"] == [
        {"code": "joint", "name": "联合审查", "role": "approver", "departments": ["甲局", "乙局", "丙局"]},
        {"code": "decide", "name": "决定", "role": "department_head"}]
    # Every value keeps its cell: the second step's role is D4 of 办理流程 (row 3 is blank).
    assert item.locate("process.1.role") == CellRef("办理流程", 4, "D", "办理角色")
    assert item.locate("legal_limit") == CellRef("事项", 2, "F", "法定时限")
    assert item.locate("process") == CellRef("办理流程", 2, "A", "环节编码")
    assert item.locate("elements.faq.0.question") == item.row == CellRef("事项", 2, "B", "实施编码")


def test_cells_that_cannot_be_read_are_all_named_by_sheet_row_column_and_header() -> None:
    book = _book(write_workbook(demo_items()[:2], ItemDefinitionIn))
    main, materials, steps = book["事项"], book["申请材料"], book["办理流程"]
    column = {c.value: c.column_letter for c in main[1]}
    main[f"{column['承诺时限']}2"] = "三天"
    main[f"{column['联合办理']}3"] = "也许"
    main[f"{column['承诺时限单位']}3"] = "周"
    main["AZ1"] = "备注二"  # a column nobody knows
    materials["A2"] = "NO-SUCH-ITEM"
    steps["D2"] = "局长"
    book.create_sheet("附件")
    problems = {(p.where.sheet, p.where.row, p.where.column): p for p in
                read_workbook(_save(book), ItemDefinitionIn).problems}
    assert set(problems) == {
        ("事项", 2, column["承诺时限"]), ("事项", 3, column["联合办理"]), ("事项", 3, column["承诺时限单位"]),
        ("事项", 1, "AZ"), ("申请材料", 2, "A"), ("办理流程", 2, "D"), ("附件", None, None)}
    assert problems[("事项", 2, column["承诺时限"])].message == "承诺时限：应为整数，当前为「三天」"
    assert problems[("事项", 2, column["承诺时限"])].where.header == "承诺时限"
    assert problems[("事项", 2, column["承诺时限"])].field == "promised_limit.value"
    assert "是" in problems[("事项", 3, column["联合办理"])].message
    assert "工作日（working_days）" in problems[("事项", 3, column["承诺时限单位"])].message
    assert "备注二" in problems[("事项", 1, "AZ")].message
    assert "NO-SUCH-ITEM" in problems[("申请材料", 2, "A")].message
    assert problems[("办理流程", 2, "D")].field == "process.0.role"


def test_missing_sheets_and_columns_are_problems_not_crashes() -> None:
    book = Workbook()
    book.active.title = "申请材料"
    book.active.append(["材料编码", "材料名称"])
    read = read_workbook(_save(book), ItemDefinitionIn)
    assert read.items == []
    assert [(p.where.sheet, p.message) for p in read.problems] == [("事项", "缺少工作表「事项」")]

    book = Workbook()
    book.active.title = "事项"
    book.active.append(["事项名称", "事项名称"])
    book.active.append(["甲", "乙"])
    messages = [p.message for p in read_workbook(_save(book), ItemDefinitionIn).problems]
    assert any("重复" in m for m in messages) and any("缺少「实施编码」列" in m for m in messages)


def test_a_file_that_is_not_a_workbook_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WorkbookError, match="xlsx"):
        read_workbook(b"name,code\n", ItemDefinitionIn)
    data = write_workbook(demo_items(), ItemDefinitionIn)
    monkeypatch.setattr(sheet, "MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(WorkbookError, match="解压后超过"):
        read_workbook(data, ItemDefinitionIn)


def test_columns_follow_the_model() -> None:
    """A field added to the input model gets a column without touching the adapter (its path as header)."""
    from pydantic import Field

    class Extended(ItemDefinitionIn):
        service_hotline: str = Field(default="")

    main = layout(Extended)[0]
    assert main.columns[-1].header == "service_hotline"
    item = demo_items()[0] | {"service_hotline": "12345"}
    read = read_workbook(write_workbook([item], Extended), Extended)
    assert read.items[0].data["service_hotline"] == "12345"
