"""Catalogue rules: what a definition must satisfy, and the draft → published → retired lifecycle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.contracts.catalogue import ItemVersionPublished
from services.common.contracts.payloads import LimitUnit
from services.disclosure.api.schemas import ItemDefinitionIn
from services.disclosure.domain.catalogue import (
    LIMIT_UNITS,
    CatalogueItem,
    Editor,
    InvalidDefinition,
    ItemDefinition,
    NoDraft,
    NothingPublished,
    OpenDraftExists,
    VersionStatus,
    offered_in,
    validate_definition,
)

DEMO = Path(__file__).resolve().parents[3] / "services" / "disclosure" / "demo" / "catalogue.json"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def definition(**changes: Any) -> ItemDefinition:
    base: dict[str, Any] = dict(
        item_code="320102000000-01-0001", name="个体工商户设立登记", item_type="01", department="区市场监督管理局",
        region_code="320102000000", case_type="2",
        legal_limit={"value": 15, "unit": "working_days"}, promised_limit={"value": 3, "unit": "working_days"},
        materials=[{"code": "M01", "name": "申请书"}, {"code": "M02", "name": "身份证明"}],
        process=[
            {"code": "review", "name": "受理审查", "role": "approver", "limit": {"value": 1, "unit": "working_days"}},
            {"code": "decide", "name": "决定", "role": "department_head",
             "limit": {"value": 2, "unit": "working_days"}},
        ],
    )
    return ItemDefinition.model_validate(base | changes)


def fields(item: ItemDefinition) -> list[str]:
    return [i.field for i in validate_definition(item)]


# ---- validation ------------------------------------------------------------------------------------------

def test_a_sound_definition_passes() -> None:
    assert validate_definition(definition()) == []


def test_promise_longer_than_the_law_is_refused_with_the_field_named() -> None:
    issues = validate_definition(definition(promised_limit={"value": 16, "unit": "working_days"}))
    assert [i.field for i in issues] == ["promised_limit"]
    assert "承诺时限" in issues[0].message and "16个工作日" in issues[0].message and "15个工作日" in issues[0].message


def test_promise_equal_to_the_law_is_allowed() -> None:
    assert fields(definition(promised_limit={"value": 15, "unit": "working_days"}, process=[])) == []


@pytest.mark.parametrize(("promised", "legal", "refused"), [
    ({"value": 25, "unit": "hours"}, {"value": 1, "unit": "calendar_days"}, True),
    ({"value": 24, "unit": "hours"}, {"value": 1, "unit": "calendar_days"}, False),
    ({"value": 90, "unit": "minutes"}, {"value": 1, "unit": "hours"}, True),
    ({"value": 60, "unit": "minutes"}, {"value": 1, "unit": "hours"}, False),
    # 5 working days count as 7 calendar days (an ordinary week).
    ({"value": 5, "unit": "working_days"}, {"value": 7, "unit": "calendar_days"}, False),
    ({"value": 5, "unit": "working_days"}, {"value": 6, "unit": "calendar_days"}, True),
    ({"value": 10, "unit": "calendar_days"}, {"value": 5, "unit": "working_days"}, True),
    ({"value": 4, "unit": "hours"}, {"value": 1, "unit": "working_days"}, False),
])
def test_limits_in_different_units_are_compared_by_the_documented_rule(
    promised: dict[str, Any], legal: dict[str, Any], refused: bool,
) -> None:
    item = definition(promised_limit=promised, legal_limit=legal, process=[])
    assert ("promised_limit" in fields(item)) is refused


def test_step_limits_summing_past_the_promise_are_refused() -> None:
    item = definition(process=[
        {"code": "review", "name": "审查", "role": "approver", "limit": {"value": 2, "unit": "working_days"}},
        {"code": "decide", "name": "决定", "role": "department_head", "limit": {"value": 2, "unit": "working_days"}},
    ])
    issues = validate_definition(item)
    assert [i.field for i in issues] == ["process"]
    assert "合计 4个工作日" in issues[0].message and "3个工作日" in issues[0].message


def test_steps_without_limits_do_not_count() -> None:
    item = definition(process=[{"code": "review", "name": "审查", "role": "approver"}])
    assert fields(item) == []


def test_unknown_item_type_is_refused() -> None:
    issues = validate_definition(definition(item_type="11"))
    assert [i.field for i in issues] == ["item_type"]
    assert "GB/T 39046" in issues[0].message


@pytest.mark.parametrize("code", ["00", "01", "05", "07", "10", "20"])
def test_every_gbt_39046_type_is_known(code: str) -> None:
    assert fields(definition(item_type=code)) == []


def test_duplicate_material_codes_are_refused() -> None:
    item = definition(materials=[{"code": "M01", "name": "a"}, {"code": "M01", "name": "b"}])
    issues = validate_definition(item)
    assert [i.field for i in issues] == ["materials"] and "M01" in issues[0].message


@pytest.mark.parametrize("region", ["3201020000", "32010200000a", "3201020000001", ""])
def test_region_code_must_be_twelve_digits(region: str) -> None:
    issues = validate_definition(definition(region_code=region))
    assert [i.field for i in issues] == ["region_code"] and "12位数字" in issues[0].message


def test_immediate_items_must_finish_the_same_day() -> None:
    assert fields(definition(case_type="1", promised_limit={"value": 0, "unit": "working_days"}, process=[])) == []
    assert fields(definition(case_type="1", promised_limit={"value": 2, "unit": "working_days"}, process=[])) == [
        "promised_limit"]
    assert fields(definition(case_type="3")) == ["case_type"]


def test_joint_items_need_a_step_with_departments() -> None:
    assert fields(definition(joint=True)) == ["process"]


def test_all_problems_are_reported_at_once() -> None:
    item = definition(region_code="3201", item_type="99", promised_limit={"value": 30, "unit": "working_days"},
                      materials=[{"code": "M01", "name": "a"}, {"code": "M01", "name": "b"}])
    assert set(fields(item)) == {"region_code", "item_type", "promised_limit", "materials"}


# ---- the guide's elements --------------------------------------------------------------------------------

FEE = {"basis": "《江苏省物价局 江苏省财政厅关于规范证照工本费的通知》（苏价费〔2017〕123号）",
       "standard": "每证10元", "amount_fen": 1000}


def test_a_fee_on_an_item_marked_free_is_refused() -> None:
    issues = validate_definition(definition(fee_charged=False, elements={"fee": FEE}))
    assert [i.field for i in issues] == ["elements.fee"]
    assert "收费依据与标准" in issues[0].message and "不收费" in issues[0].message


def test_a_charging_item_needs_its_fee_standard() -> None:
    issues = validate_definition(definition(fee_charged=True))
    assert [i.field for i in issues] == ["elements.fee"] and "应填写收费依据" in issues[0].message
    assert fields(definition(fee_charged=True, elements={"fee": FEE})) == []


@pytest.mark.parametrize("level", ["", "1", "4", "5", "6", "7"])
def test_known_levels_pass(level: str) -> None:
    assert fields(definition(elements={"level": level})) == []


@pytest.mark.parametrize("level", ["0", "8", "县级", "44"])
def test_an_unknown_level_is_refused_listing_the_levels(level: str) -> None:
    issues = validate_definition(definition(elements={"level": level}))
    assert [i.field for i in issues] == ["elements.level"]
    assert "行使层级" in issues[0].message and "5（乡镇（街道）级）" in issues[0].message


def test_an_unknown_handling_form_is_refused_naming_it() -> None:
    issues = validate_definition(definition(elements={"handling_forms": ["window", "fax", "web"]}))
    assert [i.field for i in issues] == ["elements.handling_forms"]
    assert "「fax」" in issues[0].message and "window（窗口办理）" in issues[0].message
    assert fields(definition(elements={"handling_forms": ["window", "web", "mobile", "post"]})) == []
    assert fields(definition(elements={"handling_forms": ["web", "web"]})) == ["elements.handling_forms"]


def test_no_visit_needs_online_handling() -> None:
    issues = validate_definition(definition(elements={"visits": 0, "online": False}))
    assert [i.field for i in issues] == ["elements.visits"] and "零跑腿" in issues[0].message
    assert fields(definition(elements={"visits": 0, "online": True})) == []
    assert fields(definition(elements={"visits": 1, "online": False})) == []


def test_element_problems_come_with_the_others() -> None:
    item = definition(item_type="99", fee_charged=True,
                      elements={"level": "9", "handling_forms": ["fax"], "visits": 0})
    assert fields(item) == ["item_type", "elements.fee", "elements.level", "elements.handling_forms",
                            "elements.visits"]


def test_limit_unit_labels_cover_every_unit() -> None:
    assert set(LIMIT_UNITS) == {u.value for u in LimitUnit}


def _api(**changes: Any) -> dict[str, Any]:
    return definition().model_dump(mode="json") | changes


def test_an_unknown_limit_unit_names_the_field_and_the_units() -> None:
    with pytest.raises(ValidationError) as caught:
        ItemDefinitionIn.model_validate(_api(legal_limit={"value": 15, "unit": "days"}))
    [error] = caught.value.errors()
    assert error["loc"] == ("legal_limit", "unit") and error["type"] == "limit_unit"
    assert "「days」" in error["msg"] and "working_days（工作日）" in error["msg"] and "minutes（分钟）" in error["msg"]


def test_a_step_limit_unit_is_checked_too() -> None:
    process = [{"code": "review", "name": "审查", "role": "approver", "limit": {"value": 1, "unit": "weeks"}}]
    with pytest.raises(ValidationError) as caught:
        ItemDefinitionIn.model_validate(_api(process=process))
    assert [e["loc"] for e in caught.value.errors()] == [("process", 0, "limit", "unit")]


def test_elements_in_forbid_unknown_fields_and_bound_sizes() -> None:
    with pytest.raises(ValidationError):
        ItemDefinitionIn.model_validate(_api(elements={"colour": "red"}))
    with pytest.raises(ValidationError):
        ItemDefinitionIn.model_validate(_api(elements={"conditions": ["x" * 501]}))
    with pytest.raises(ValidationError):
        ItemDefinitionIn.model_validate(_api(elements={"faq": [{"question": "q", "answer": "a"}] * 51}))
    with pytest.raises(ValidationError):
        ItemDefinitionIn.model_validate(_api(elements={"fee": {"basis": "", "standard": "10元"}}))


def test_the_change_reason_is_not_part_of_the_definition() -> None:
    body = ItemDefinitionIn.model_validate(_api(change_reason="  压缩承诺时限  "))
    assert body.change_reason == "压缩承诺时限"
    assert body.to_domain() == definition()


# ---- lifecycle -------------------------------------------------------------------------------------------

def test_first_version_is_a_draft_numbered_one() -> None:
    item = CatalogueItem("320102000000-01-0001")
    draft = item.add_draft(definition(), T0)
    assert (draft.version, draft.status) == (1, VersionStatus.draft)
    assert item.current() is None


def test_only_one_open_draft_at_a_time() -> None:
    item = CatalogueItem("320102000000-01-0001")
    item.add_draft(definition(), T0)
    with pytest.raises(OpenDraftExists):
        item.add_draft(definition(name="个体工商户设立登记（修订）"), T1)


def test_an_invalid_definition_never_becomes_a_draft() -> None:
    item = CatalogueItem("320102000000-01-0001")
    with pytest.raises(InvalidDefinition) as caught:
        item.add_draft(definition(item_type="99"), T0)
    assert "item_type" in caught.value.message
    assert item.versions == []


def test_publishing_a_new_version_retires_the_old_one() -> None:
    item = CatalogueItem("320102000000-01-0001")
    item.add_draft(definition(), T0)
    first = item.publish(T0)
    assert first.retired is None and first.published.status is VersionStatus.published
    item.add_draft(definition(promised_limit={"value": 3, "unit": "working_days"}, name="个体工商户设立登记"), T1,
                   change_reason="复核后重新发布")
    second = item.publish(T2)
    assert second.published.version == 2
    assert second.retired is not None and second.retired.version == 1
    assert second.retired.status is VersionStatus.retired and second.retired.retired_at == T2
    assert [v.status for v in item.versions] == [VersionStatus.retired, VersionStatus.published]
    assert item.current() == second.published


def test_a_published_version_is_never_changed_by_a_new_draft() -> None:
    item = CatalogueItem("320102000000-01-0001")
    item.add_draft(definition(), T0)
    published = item.publish(T0).published
    item.add_draft(definition(name="新名称"), T1, change_reason="事项更名")
    assert item.current() == published and item.current().definition.name == "个体工商户设立登记"  # type: ignore[union-attr]
    with pytest.raises(Exception):  # noqa: B017 - frozen: a published definition cannot be edited in place
        published.definition.name = "改名"  # type: ignore[misc]


def test_publish_without_a_draft_is_refused() -> None:
    item = CatalogueItem("320102000000-01-0001")
    with pytest.raises(NoDraft):
        item.publish(T0)
    item.add_draft(definition(), T0)
    item.publish(T0)
    with pytest.raises(NoDraft):
        item.publish(T1)


def test_retire_takes_the_item_out_of_service() -> None:
    item = CatalogueItem("320102000000-01-0001")
    with pytest.raises(NothingPublished):
        item.retire("调整", T0)
    item.add_draft(definition(), T0)
    item.publish(T0)
    retired = item.retire("法律依据废止", T1)
    assert retired.status is VersionStatus.retired and retired.retire_reason == "法律依据废止"
    assert item.current() is None
    # A retired item can come back as a new version, saying why.
    assert item.add_draft(definition(), T2, change_reason="依据恢复，重新实施").version == 2


def test_versions_record_who_changed_them_and_why() -> None:
    item = CatalogueItem("320102000000-01-0001")
    first = item.add_draft(definition(), T0, Editor("u-1", "王科长"))
    assert (first.changed_by, first.change_reason) == (Editor("u-1", "王科长"), "")  # a first version need not say
    item.publish(T0)
    second = item.add_draft(definition(name="新名称"), T1, Editor("u-2", "李四"), "  依据《条例》修订更名 ")
    assert second.changed_by == Editor("u-2", "李四") and second.change_reason == "依据《条例》修订更名"
    # Publishing keeps them.
    assert item.publish(T2).published.change_reason == "依据《条例》修订更名"


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_later_version_must_say_why(reason: str) -> None:
    item = CatalogueItem("320102000000-01-0001")
    item.add_draft(definition(), T0)
    item.publish(T0)
    with pytest.raises(InvalidDefinition) as caught:
        item.add_draft(definition(item_type="99"), T1, change_reason=reason)
    # Reported together with the definition's own problems.
    assert [i.field for i in caught.value.issues] == ["item_type", "change_reason"]
    assert "变更原因" in caught.value.issues[1].message and "动态调整" in caught.value.issues[1].message
    assert len(item.versions) == 1


def test_an_open_draft_is_reported_as_such_even_without_a_reason() -> None:
    item = CatalogueItem("320102000000-01-0001")
    item.add_draft(definition(), T0)
    with pytest.raises(OpenDraftExists):
        item.add_draft(definition(), T1)


def test_a_new_version_stays_in_the_items_region() -> None:
    item = CatalogueItem("320102000000-01-0001")
    item.add_draft(definition(), T0)
    item.publish(T0)
    with pytest.raises(InvalidDefinition):
        item.add_draft(definition(region_code="320102001000"), T1)


def test_a_county_item_is_offered_in_its_townships_and_villages() -> None:
    assert offered_in("320102000000", "320102001000")
    assert offered_in("320102000000", "320102001001")
    assert offered_in("320102001000", "320102001001")
    assert not offered_in("320102001000", "320102000000")
    assert not offered_in("320102000000", "320104000000")


# ---- the demo catalogue ------------------------------------------------------------------------------------

def _demo() -> list[dict[str, Any]]:
    return json.loads(DEMO.read_text(encoding="utf-8"))


# The eight items the first demo shipped: tests, the e2e flow and people's notes use their codes.
ORIGINAL_DEMO_CODES = {
    "320102000000-01-0001", "320102000000-07-0001", "320102000000-05-0001", "320102001000-01-0001",
    "320102001000-05-0001", "320102001000-20-0001", "320102001001-20-0001", "320102001002-20-0001",
}
# The kinds of item the policy documents name (/work/shared/seeds), each found by a word of its name.
DEMO_KINDS = {
    "社会保险": ("养老保险", "参保", "失业保险"), "社会救助": ("最低生活保障", "特困", "临时救助", "医疗救助"),
    "计划生育": ("生育", "计划生育"), "农村建房": ("住宅建设",), "户籍": ("身份证", "出生登记"),
    "企业登记": ("设立登记", "注销登记"), "涉农补贴": ("耕地", "农机"), "残疾人": ("残疾人",),
    "老年人": ("老年人", "尊老金", "养老服务"), "医保": ("医疗保险", "医疗费用", "异地就医"),
}
# Processes approval runs: 一审一核, 承办-审核-决定, and a joint review between the first and last step.
APPROVAL_SHAPES = [["review", "decide"], ["review", "audit", "decide"], ["review", "joint", "decide"]]


def test_demo_catalogue_is_rich_enough() -> None:
    items = _demo()
    assert len(items) >= 30
    assert len({i["item_code"] for i in items}) == len(items)
    assert {i["item_code"] for i in items} >= ORIGINAL_DEMO_CODES
    assert {i["item_type"] for i in items} >= {"01", "05", "07", "20"}
    assert {i["region_code"] for i in items} == {"320102000000", "320102001000", "320102001001", "320102001002"}
    for kind, words in DEMO_KINDS.items():
        assert any(w in i["name"] for i in items for w in words), kind
    shapes = [[s["code"] for s in i["process"]] for i in items if i["case_type"] == "2"]
    assert all(shape in APPROVAL_SHAPES for shape in shapes)
    assert {tuple(s) for s in shapes} == {tuple(s) for s in APPROVAL_SHAPES}
    assert sum(1 for i in items if i["joint"] and any(len(s.get("departments", [])) == 3 for s in i["process"])) >= 2
    assert any(i["case_type"] == "1" and i["promised_limit"]["value"] == 0 and not i["process"] for i in items)
    charging = [i for i in items if i["fee_charged"]]
    assert len(charging) >= 3 and all(i["elements"]["fee"]["basis"].startswith("《") for i in charging)
    assert any(i["elements"]["visits"] == 0 for i in items)


@pytest.mark.parametrize("raw", _demo(), ids=lambda raw: raw["name"])
def test_every_demo_item_passes_the_api_schema_and_the_rules(raw: dict[str, Any]) -> None:
    item = ItemDefinitionIn.model_validate(raw).to_domain()  # what the launcher POSTs
    assert validate_definition(item) == []
    assert 2 <= len(item.materials) <= 4
    assert all(m.issuer for m in item.materials)
    if item.case_type == "2":
        # A 承诺件 runs through approval: the last step decides, and only a department head decides.
        assert item.process and item.process[-1].code == "decide"
        assert item.process[-1].role == "department_head"
    else:
        # A 即办件 finishes at the window: no process, or a single window step.
        assert [s.role for s in item.process] in ([], ["window_clerk"])
    # And it makes a valid published event.
    ItemVersionPublished(occurred_at=T0, version=1, **item.model_dump())


@pytest.mark.parametrize("raw", _demo(), ids=lambda raw: raw["name"])
def test_every_demo_item_has_a_full_guide(raw: dict[str, Any]) -> None:
    e = ItemDefinitionIn.model_validate(raw).to_domain().elements
    assert e.legal_basis and all(b.document.startswith("《") for b in e.legal_basis)
    level = {"320102000000": "4", "320102001000": "5"}.get(raw["region_code"], "6")
    assert e.level == level
    assert e.conditions and e.service_objects and e.handling_forms and e.faq
    assert e.handling_unit and e.result_name and e.implementing_body_nature and e.service_scope
    assert e.address and e.hours and e.consultation_phone and e.supervision_phone
    assert (e.fee is not None) is raw["fee_charged"]
