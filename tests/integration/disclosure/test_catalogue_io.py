"""Catalogue import and export over real HTTP on a real SQLite file: JSON and xlsx imports all or nothing,
bad rows named by sheet, row and column, export → import round trips, and the flow chart and BPMN of an item."""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from services.common.contracts.bpmn import BPMN_NS, parse_bpmn
from services.common.principal import PrincipalKind, Role
from services.disclosure import catalogue_io
from services.disclosure.api.schemas import ItemDefinitionIn
from services.disclosure.domain.flowchart import SVG_NS
from tests.conftest import principal_headers

pytestmark = pytest.mark.kafka

COUNTY = "320102000000"
TOWNSHIP = "320102001000"
ADMIN = principal_headers(Role.catalogue_admin, COUNTY)
PUBLIC = principal_headers(Role.public, "", kind=PrincipalKind.public, subject="anonymous")
XLSX = catalogue_io.XLSX_MEDIA_TYPE
IMPORT = "/api/v1/catalogue/import"
EXPORT = "/api/v1/catalogue/export"


def _items(tag: str) -> list[dict[str, Any]]:
    """Three items: a county licence with the guide's elements, a joint township item, a 即办件."""
    licence = {
        "item_code": f"{COUNTY}-01-{tag}a", "name": "个体工商户设立登记", "item_type": "01",
        "department": "玄武区市场监督管理局", "region_code": COUNTY,
        "legal_limit": {"value": 15, "unit": "working_days"}, "promised_limit": {"value": 3, "unit": "working_days"},
        "fee_charged": True,
        "materials": [{"code": "M01", "name": "申请书", "originals": 1, "copies": 0},
                      {"code": "M02", "name": "经营者身份证明", "originals": 1, "copies": 1, "required": False,
                       "note": "委托办理的另附委托书"}],
        "process": [
            {"code": "review", "name": "受理审查", "role": "approver", "limit": {"value": 1, "unit": "working_days"}},
            {"code": "decide", "name": "核准决定", "role": "department_head",
             "limit": {"value": 2, "unit": "working_days"}},
        ],
        "elements": {
            "legal_basis": [{"document": "《促进个体工商户发展条例》", "articles": "第八条", "text": "申请登记…"}],
            "conditions": ["有经营能力的公民", "经营场所符合要求"],
            "fee": {"basis": "苏价费〔2019〕1号", "standard": "每证10元", "amount_fen": 1000},
            "handling_forms": ["window", "web"], "level": "4", "online": True,
            "faq": [{"question": "可以网上办理吗？", "answer": "可以，登录政务服务网办理。"}],
        },
    }
    joint = {
        "item_code": f"{TOWNSHIP}-01-{tag}b", "name": "农村村民住宅建设审批", "item_type": "01",
        "department": "玄武门街道办事处", "region_code": TOWNSHIP, "joint": True,
        "legal_limit": {"value": 45, "unit": "working_days"}, "promised_limit": {"value": 20, "unit": "working_days"},
        "process": [
            {"code": "review", "name": "受理审查", "role": "approver", "limit": {"value": 3, "unit": "working_days"}},
            {"code": "joint", "name": "联合审查", "role": "approver", "limit": {"value": 12, "unit": "working_days"},
             "departments": ["自然资源和规划分局", "农业农村局", "住房和城乡建设局"]},
            {"code": "decide", "name": "审批决定", "role": "department_head",
             "limit": {"value": 5, "unit": "working_days"}},
        ],
    }
    instant = {
        "item_code": f"{COUNTY}-07-{tag}c", "name": "生育登记", "item_type": "07", "department": "玄武区卫生健康委员会",
        "region_code": COUNTY, "case_type": "1", "publish_results": False,
        "legal_limit": {"value": 1, "unit": "working_days"}, "promised_limit": {"value": 0, "unit": "working_days"},
        "process": [{"code": "decide", "name": "登记并出具服务单", "role": "window_clerk",
                     "limit": {"value": 0, "unit": "working_days"}}],
    }
    return [licence, joint, instant]


def _normal(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((ItemDefinitionIn.model_validate(i).model_dump(mode="json") for i in items),
                  key=lambda i: i["item_code"])


def _export(client: TestClient, region: str, fmt: str = "json") -> Any:
    response = client.get(EXPORT, headers=PUBLIC, params={"format": fmt, "region_code": region})
    assert response.status_code == 200, response.text
    return response


def test_json_import_publishes_all_and_export_round_trips_through_xlsx(
        service_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.disclosure.main import create_app

    items = _items(uuid.uuid4().hex[:6])
    with TestClient(create_app()) as client:
        imported = client.post(IMPORT, headers=ADMIN, params={"publish": "true"},
                               json={"format_version": 1, "items": items})
        assert imported.status_code == 201, imported.text
        assert imported.json()["imported"] == 3
        assert {(i["item_code"], i["status"], i["version"]) for i in imported.json()["items"]} == {
            (i["item_code"], "published", 1) for i in items}
        # Published through the ordinary path: the public reads them like any other item.
        licence = client.get(f"/api/v1/catalogue/items/{items[0]['item_code']}", headers=PUBLIC).json()
        assert licence["elements"]["fee"]["standard"] == "每证10元"

        county = _export(client, COUNTY).json()
        assert county["format_version"] == catalogue_io.FORMAT_VERSION
        assert _normal(county["items"]) == _normal(items)  # the county and its township, not above
        township = _export(client, TOWNSHIP).json()["items"]
        assert [i["item_code"] for i in township] == [items[1]["item_code"]]
        assert _export(client, "320104000000").json()["items"] == []

        workbook = _export(client, COUNTY, "xlsx")
        assert workbook.headers["content-type"] == XLSX
        assert "attachment" in workbook.headers["content-disposition"]
        sheets = load_workbook(io.BytesIO(workbook.content), read_only=True).sheetnames
        assert sheets[:5] == ["事项", "申请材料", "办理流程", "设定依据", "常见问题"]

        # Exported, edited and loaded again: a second version of each, which needs its change reason.
        edited = [i | {"name": i["name"] + "（修订）"} for i in county["items"]]
        unexplained = client.post(IMPORT, headers=ADMIN, json={"items": edited})
        assert unexplained.status_code == 422
        assert {(e["item"], e["field"]) for e in unexplained.json()["errors"]} == {
            (n, "change_reason") for n in range(3)}
        explained = client.post(IMPORT, headers=ADMIN, params={"publish": "true"},
                                json={"items": [i | {"change_reason": "名称规范"} for i in edited]})
        assert explained.status_code == 201, explained.text
        assert {i["version"] for i in explained.json()["items"]} == {2}
        assert client.get(f"/api/v1/catalogue/items/{items[0]['item_code']}", headers=PUBLIC).json()[
            "change_reason"] == "名称规范"

    # A second platform (its own database) loads the workbook and exports the same catalogue.
    monkeypatch.setenv("DISCLOSURE_DATABASE_URL", f"sqlite:///{service_env}/disclosure-other.db")
    with TestClient(create_app()) as other:
        assert _export(other, COUNTY).json()["items"] == []
        loaded = other.post(IMPORT, headers=ADMIN | {"Content-Type": XLSX}, params={"publish": "true"},
                            content=workbook.content)
        assert loaded.status_code == 201, loaded.text
        assert _normal(_export(other, COUNTY).json()["items"]) == _normal(items)  # the first versions' content


def test_bad_workbook_is_refused_whole_with_sheet_row_and_column(service_env: Path) -> None:
    from services.disclosure.main import create_app

    items = _items(uuid.uuid4().hex[:6])
    licence, joint, instant = items
    book = load_workbook(io.BytesIO(catalogue_io.xlsx_document(_normal(items))))
    main, steps = book["事项"], book["办理流程"]
    column = {cell.value: cell.column_letter for cell in main[1]}
    step_column = {cell.value: cell.column_letter for cell in steps[1]}
    row = {main[f"A{r}"].value: r for r in range(2, main.max_row + 1)}
    promised = column["承诺时限"]
    main[f"{promised}{row[instant['item_code']]}"] = "二十"  # no number
    main[f"{promised}{row[licence['item_code']]}"] = 30  # longer than the 15-day legal limit: a catalogue rule
    joint_step = next(r for r in range(2, steps.max_row + 1) if steps[f"A{r}"].value == joint["item_code"])
    steps[f"{step_column['办理角色']}{joint_step}"] = "局长"  # no such role
    upload = io.BytesIO()
    book.save(upload)

    with TestClient(create_app()) as client:
        # One good item besides, published already: the refused import must not touch it either.
        good = _items(uuid.uuid4().hex[:6])[0]
        client.post(IMPORT, headers=ADMIN, json={"items": [good]}).raise_for_status()

        refused = client.post(IMPORT, headers=ADMIN | {"Content-Type": XLSX}, content=upload.getvalue())
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert refused.headers["content-type"] == "application/problem+json"
        assert problem["type"].endswith("/invalid-import")
        where = {(e["sheet"], e.get("row"), e.get("column"), e.get("header")) for e in problem["errors"]}
        assert where == {("事项", row[instant["item_code"]], promised, "承诺时限"),
                         ("事项", row[licence["item_code"]], promised, "承诺时限"),
                         ("办理流程", joint_step, step_column["办理角色"], "办理角色")}
        rule = next(e for e in problem["errors"] if e["row"] == row[licence["item_code"]])
        assert "承诺时限" in rule["message"] and rule["type"] == "invalid-item"
        role = next(e for e in problem["errors"] if e["sheet"] == "办理流程")
        assert "局长" in role["message"] and role["field"] == "process.0.role"  # the joint item's first step
        assert len(problem["errors"]) == 3
        # Nothing was imported: no draft of any item in the workbook.
        for item in items:
            assert client.get(f"/api/v1/catalogue/items/{item['item_code']}/versions/1",
                              headers=ADMIN).status_code == 404
        assert client.get(f"/api/v1/catalogue/items/{good['item_code']}/versions/1",
                          headers=ADMIN).json()["status"] == "draft"


def test_bad_json_is_refused_whole_with_item_index_and_field_path(
        service_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.disclosure.main import create_app

    items = _items(uuid.uuid4().hex[:6])
    items[1]["process"][1]["role"] = "mayor"
    items[2]["region_code"] = "320104000000"  # another county: outside the administrator's scope
    duplicate = dict(items[0])
    with TestClient(create_app()) as client:
        refused = client.post(IMPORT, headers=ADMIN, json={"items": [*items, duplicate]})
        assert refused.status_code == 422, refused.text
        errors = {(e["item"], e["field"]): e for e in refused.json()["errors"]}
        assert set(errors) == {(1, "process.1.role"), (2, "region_code"), (3, "item_code")}
        assert errors[(1, "process.1.role")]["pointer"] == "/items/1/process/1/role"
        assert errors[(2, "region_code")]["type"] == "region-out-of-scope"
        assert "重复" in errors[(3, "item_code")]["message"]
        assert client.get(f"/api/v1/catalogue/items/{items[0]['item_code']}/versions/1",
                          headers=ADMIN).status_code == 404

        assert refused.json()["error_count"] == 3

        monkeypatch.setattr(catalogue_io, "MAX_LISTED_ERRORS", 2)
        many = client.post(IMPORT, headers=ADMIN, json={"items": [{"name": "无编码"}] * 3})
        assert many.status_code == 422 and len(many.json()["errors"]) == 2
        assert many.json()["error_count"] > 2 and "列出前 2 处" in many.json()["detail"]

        version = client.post(IMPORT, headers=ADMIN, json={"format_version": 99, "items": []})
        assert version.status_code == 422 and version.json()["type"].endswith("/unsupported-format-version")


def test_import_is_for_catalogue_admins_of_json_or_xlsx_within_the_size_limit(
        service_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.disclosure.main import create_app

    document = {"items": _items(uuid.uuid4().hex[:6])}
    with TestClient(create_app()) as client:
        assert client.post(IMPORT, headers=PUBLIC, json=document).status_code == 401  # must log in
        assert client.post(IMPORT, headers=principal_headers(Role.approver, COUNTY), json=document).status_code == 403
        wrong_type = client.post(IMPORT, headers=ADMIN | {"Content-Type": "text/csv"}, content=b"a,b")
        assert wrong_type.status_code == 415
        not_a_workbook = client.post(IMPORT, headers=ADMIN | {"Content-Type": XLSX}, content=b"PK not a zip")
        assert not_a_workbook.status_code == 422 and not_a_workbook.json()["type"].endswith("/invalid-workbook")
        monkeypatch.setattr(catalogue_io, "MAX_IMPORT_BYTES", 1000)
        too_big = client.post(IMPORT, headers=ADMIN, json=document)
        assert too_big.status_code == 413 and too_big.json()["type"].endswith("/body-too-large")


def test_flow_chart_and_bpmn_of_published_and_retired_versions(service_env: Path) -> None:
    from services.disclosure.main import create_app

    items = _items(uuid.uuid4().hex[:6])
    joint = items[1]
    code = joint["item_code"]
    with TestClient(create_app()) as client:
        client.post(IMPORT, headers=ADMIN, params={"publish": "true"}, json={"items": items}).raise_for_status()
        svg = client.get(f"/api/v1/catalogue/items/{code}/flowchart.svg", headers=PUBLIC)
        assert svg.status_code == 200
        assert svg.headers["content-type"].startswith("image/svg+xml")
        root = ET.fromstring(svg.content)
        assert root.tag == f"{{{SVG_NS}}}svg"
        texts = [t.text for t in root.iter(f"{{{SVG_NS}}}text")]
        assert all(d in texts for d in joint["process"][1]["departments"])
        assert {"申请", "受理", "决定", "办结", "补正材料"} <= set(texts)

        bpmn = client.get(f"/api/v1/catalogue/items/{code}/process.bpmn", headers=PUBLIC)
        assert bpmn.status_code == 200 and bpmn.headers["content-type"].startswith("application/xml")
        assert ET.fromstring(bpmn.content).tag == f"{{{BPMN_NS}}}definitions"
        parsed = parse_bpmn(bpmn.content)
        assert (parsed.item_code, parsed.case_type) == (code, "2")
        assert [s.model_dump(mode="json") for s in parsed.steps] == [
            ItemDefinitionIn.model_validate(joint).model_dump(mode="json")["process"][i] for i in range(3)]

        # A second version: ?version=1 still draws the first (retired) one, the draft is nobody's chart.
        changed = joint | {"process": joint["process"][:1] + joint["process"][2:], "joint": False,
                           "change_reason": "取消联合审查"}
        client.post("/api/v1/catalogue/items", headers=ADMIN, json=changed).raise_for_status()
        assert client.get(f"/api/v1/catalogue/items/{code}/process.bpmn", headers=PUBLIC,
                          params={"version": 2}).status_code == 404
        client.post(f"/api/v1/catalogue/items/{code}/publish", headers=ADMIN).raise_for_status()
        current = parse_bpmn(client.get(f"/api/v1/catalogue/items/{code}/process.bpmn", headers=PUBLIC).content)
        assert [s.code for s in current.steps] == ["review", "decide"]
        first = client.get(f"/api/v1/catalogue/items/{code}/flowchart.svg", headers=PUBLIC, params={"version": 1})
        assert first.status_code == 200 and "联合审查" in first.text
        assert "max-age=86400" in first.headers["cache-control"]

        instant = client.get(f"/api/v1/catalogue/items/{items[2]['item_code']}/flowchart.svg", headers=PUBLIC)
        assert "当场办结" in instant.text and "决定" not in instant.text
        missing = client.get("/api/v1/catalogue/items/no-such-item/flowchart.svg", headers=PUBLIC)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
