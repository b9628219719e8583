"""Version diffs (版本比对): computed from two definitions, materials and steps matched by code."""

from __future__ import annotations

from typing import Any

from services.disclosure.domain.catalogue import ItemDefinition
from services.disclosure.domain.diff import Change, ChangeKind, diff_definitions


def definition(**changes: Any) -> ItemDefinition:
    base: dict[str, Any] = dict(
        item_code="320102000000-01-0001", name="个体工商户设立登记", item_type="01", department="区市场监督管理局",
        region_code="320102000000", case_type="2",
        legal_limit={"value": 15, "unit": "working_days"}, promised_limit={"value": 3, "unit": "working_days"},
        materials=[
            {"code": "M01", "name": "申请书", "originals": 1, "copies": 0},
            {"code": "M02", "name": "身份证明", "originals": 1, "copies": 1},
        ],
        process=[
            {"code": "review", "name": "受理审查", "role": "approver", "limit": {"value": 1, "unit": "working_days"}},
            {"code": "decide", "name": "决定", "role": "department_head",
             "limit": {"value": 2, "unit": "working_days"}},
        ],
        elements={"conditions": ["有经营能力的公民"], "handling_forms": ["window"], "visits": 1},
    )
    return ItemDefinition.model_validate(base | changes)


def by_field(changes: list[Change]) -> dict[str, Change]:
    return {c.field: c for c in changes}


def test_identical_versions_have_no_changes() -> None:
    assert diff_definitions(definition(), definition()) == []


def test_a_changed_limit_is_one_change_with_both_values() -> None:
    [change] = diff_definitions(definition(), definition(promised_limit={"value": 2, "unit": "working_days"}))
    assert (change.field, change.label, change.kind) == ("promised_limit", "承诺时限", ChangeKind.changed)
    assert change.before == {"value": 3, "unit": "working_days", "note": ""}
    assert change.after == {"value": 2, "unit": "working_days", "note": ""}


def test_top_level_flags_and_names() -> None:
    changes = by_field(diff_definitions(definition(), definition(name="个体工商户登记", joint=False,
                                                                 publish_results=False)))
    assert set(changes) == {"name", "publish_results"}
    assert changes["publish_results"].label == "办件结果公示"
    assert (changes["publish_results"].before, changes["publish_results"].after) == (True, False)


def test_materials_are_matched_by_code_not_position() -> None:
    new = definition(materials=[
        {"code": "M03", "name": "经营场所证明", "originals": 0, "copies": 1},  # inserted first
        {"code": "M01", "name": "申请书", "originals": 1, "copies": 0},
        {"code": "M02", "name": "身份证明", "originals": 1, "copies": 2},  # one more copy
    ])
    changes = diff_definitions(definition(), new)
    assert [(c.field, c.kind) for c in changes] == [
        ("materials.M03", ChangeKind.added), ("materials.M02.copies", ChangeKind.changed),
    ]
    added, copies = changes
    assert added.label == "申请材料「经营场所证明」" and added.before is None and added.after["copies"] == 1
    assert copies.label == "申请材料「身份证明」· 复印件份数" and (copies.before, copies.after) == (1, 2)


def test_a_removed_material_keeps_what_it_was() -> None:
    [change] = diff_definitions(definition(), definition(materials=[{"code": "M01", "name": "申请书", "originals": 1,
                                                                     "copies": 0}]))
    assert (change.field, change.kind, change.after) == ("materials.M02", ChangeKind.removed, None)
    assert change.before["name"] == "身份证明" and change.label == "申请材料「身份证明」"


def test_a_renamed_material_reads_under_its_old_name() -> None:
    new = definition(materials=[{"code": "M01", "name": "设立登记申请书", "originals": 1, "copies": 0},
                                {"code": "M02", "name": "身份证明", "originals": 1, "copies": 1}])
    [change] = diff_definitions(definition(), new)
    assert (change.field, change.label) == ("materials.M01.name", "申请材料「申请书」· 材料名称")
    assert (change.before, change.after) == ("申请书", "设立登记申请书")


def test_steps_by_code_with_a_new_audit_step_and_changed_limits() -> None:
    new = definition(process=[
        {"code": "review", "name": "受理审查", "role": "approver", "limit": {"value": 1, "unit": "working_days"}},
        {"code": "audit", "name": "审核", "role": "approver", "limit": {"value": 1, "unit": "working_days"}},
        {"code": "decide", "name": "决定", "role": "department_head", "limit": {"value": 1, "unit": "working_days"}},
    ])
    changes = diff_definitions(definition(), new)
    assert [(c.field, c.kind) for c in changes] == [
        ("process.audit", ChangeKind.added), ("process.decide.limit", ChangeKind.changed),
    ]
    assert changes[1].label == "办理环节「决定」· 环节时限"


def test_reordered_steps_are_a_change_of_order() -> None:
    old = definition(process=[{"code": "review", "name": "审查", "role": "approver"},
                              {"code": "audit", "name": "审核", "role": "approver"},
                              {"code": "decide", "name": "决定", "role": "department_head"}])
    new = definition(process=[{"code": "audit", "name": "审核", "role": "approver"},
                              {"code": "review", "name": "审查", "role": "approver"},
                              {"code": "decide", "name": "决定", "role": "department_head"}])
    [change] = diff_definitions(old, new)
    assert (change.field, change.label) == ("process.order", "办理流程 · 环节顺序")
    assert (change.before, change.after) == (["review", "audit", "decide"], ["audit", "review", "decide"])


def test_adding_a_step_in_the_middle_is_not_a_reordering() -> None:
    old = definition(process=[{"code": "review", "name": "审查", "role": "approver"},
                              {"code": "decide", "name": "决定", "role": "department_head"}])
    new = definition(process=[{"code": "review", "name": "审查", "role": "approver"},
                              {"code": "joint", "name": "联合审查", "role": "approver", "departments": ["甲", "乙"]},
                              {"code": "decide", "name": "决定", "role": "department_head"}])
    assert [c.field for c in diff_definitions(old, new)] == ["process.joint"]


def test_joint_departments_change() -> None:
    old = definition(process=[{"code": "joint", "name": "联合审查", "role": "approver", "departments": ["甲", "乙"]}])
    new = definition(process=[{"code": "joint", "name": "联合审查", "role": "approver",
                               "departments": ["甲", "乙", "丙"]}])
    [change] = diff_definitions(old, new)
    assert (change.field, change.label, change.after) == (
        "process.joint.departments", "办理环节「联合审查」· 并联审查部门", ["甲", "乙", "丙"])


def test_elements_field_by_field_with_added_and_removed() -> None:
    fee = {"basis": "发改价格〔2003〕2322号", "standard": "每证20元", "amount_fen": 2000}
    old = definition(elements={"conditions": ["有经营能力的公民"], "handling_forms": ["window"], "visits": 1,
                               "address": "玄武区政务服务中心"})
    new = definition(fee_charged=True, elements={
        "conditions": ["有经营能力的公民", "经营场所符合要求"], "handling_forms": ["window", "web"], "visits": 0,
        "online": True, "fee": fee})
    changes = by_field(diff_definitions(old, new))
    assert list(changes) == ["fee_charged", "elements.conditions", "elements.fee", "elements.handling_forms",
                             "elements.online", "elements.visits", "elements.address"]
    assert changes["elements.fee"].kind is ChangeKind.added and changes["elements.fee"].after == fee
    assert changes["elements.fee"].label == "收费依据与标准"
    assert changes["elements.address"].kind is ChangeKind.removed
    assert changes["elements.address"].before == "玄武区政务服务中心"
    # False → True and 1 → 0 are changes of value, not additions or removals.
    assert changes["elements.online"].kind is ChangeKind.changed
    assert (changes["elements.visits"].kind, changes["elements.visits"].after) == (ChangeKind.changed, 0)
    assert changes["elements.conditions"].before == ["有经营能力的公民"]


def test_every_element_has_a_chinese_label() -> None:
    from services.common.contracts.catalogue import ItemElements
    from services.disclosure.domain.diff import _ELEMENT_LABELS

    assert set(_ELEMENT_LABELS) == set(ItemElements.model_fields)
