"""What changed between two versions of an item (版本比对), in words an administrator or citizen reads.

Versions are immutable and stored whole, so a diff is always computed from the two definitions, never
stored: it cannot drift from what was published, and a better wording of the labels applies to history too.

Materials and process steps are matched by their codes, not by position: inserting a material in the
middle is one addition, not a cascade of changes. The guide's elements are compared field by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.common.contracts.catalogue import ItemElements, MaterialSpec, ProcessStep
from services.disclosure.domain.catalogue import ItemDefinition


class ChangeKind(StrEnum):
    added = "added"  # 新增
    removed = "removed"  # 删除
    changed = "changed"  # 修改


@dataclass(frozen=True)
class Change:
    """One difference: a dotted field path, its Chinese label, and the JSON values on either side."""

    field: str  # e.g. promised_limit, materials.M03, materials.M01.copies, elements.fee
    label: str  # 中文, e.g. 申请材料「身份证明」· 复印件份数
    kind: ChangeKind
    before: Any = None
    after: Any = None


# Top-level fields of ItemDefinition in the order a guide shows them. item_code is never compared: a diff
# is between versions of one item.
_ITEM_LABELS: dict[str, str] = {
    "name": "事项名称", "item_type": "事项类型", "department": "实施主体", "region_code": "行政区划",
    "case_type": "办件类型", "legal_limit": "法定时限", "promised_limit": "承诺时限", "joint": "联合办理",
    "publish_results": "办件结果公示", "fee_charged": "是否收费",
}
_MATERIAL_LABELS: dict[str, str] = {
    "name": "材料名称", "required": "是否必需", "originals": "原件份数", "copies": "复印件份数",
    "issuer": "来源（出具单位）", "note": "备注",
}
_STEP_LABELS: dict[str, str] = {
    "name": "环节名称", "role": "办理岗位", "limit": "环节时限", "departments": "并联审查部门", "condition": "环节条件",
}
_ELEMENT_LABELS: dict[str, str] = {
    "basic_code": "基本编码", "handling_code": "业务办理项编码", "legal_basis": "设定依据", "level": "行使层级",
    "implementing_body_nature": "实施主体性质", "handling_unit": "办理机构", "co_departments": "联办机构",
    "conditions": "受理条件", "intermediary_services": "中介服务", "quantity_limit": "数量限制",
    "result_name": "审批结果名称", "result_sample": "审批结果样本", "fee": "收费依据与标准",
    "service_scope": "通办范围", "service_objects": "服务对象", "handling_forms": "办理形式",
    "special_procedures": "特别程序", "online": "是否网办", "booking": "是否支持预约",
    "online_payment": "是否支持网上支付", "delivery": "是否支持物流快递", "visits": "到现场次数",
    "address": "办理地点", "hours": "办理时间", "consultation_phone": "咨询电话",
    "supervision_phone": "监督投诉电话", "faq": "常见问题",
}


def _empty(value: Any) -> bool:
    """A text, list or optional object that says nothing; False and 0 are values, not absence."""
    return value is None or value == "" or value == [] or value == {}


def _compare(field: str, label: str, before: Any, after: Any) -> Change | None:
    if before == after:
        return None
    if _empty(before):
        return Change(field, label, ChangeKind.added, None, after)
    if _empty(after):
        return Change(field, label, ChangeKind.removed, before, None)
    return Change(field, label, ChangeKind.changed, before, after)


def _by_code(old: Sequence[MaterialSpec | ProcessStep], new: Sequence[MaterialSpec | ProcessStep], prefix: str,
             noun: str, labels: dict[str, str]) -> list[Change]:
    """Entries matched by code: removed ones in their old order, then each new one added or changed."""
    old_by_code = {entry.code: entry.model_dump(mode="json") for entry in old}
    new_by_code = {entry.code: entry.model_dump(mode="json") for entry in new}
    changes: list[Change] = []
    for code, before in old_by_code.items():
        if code not in new_by_code:
            changes.append(Change(f"{prefix}.{code}", f"{noun}「{before['name']}」", ChangeKind.removed, before, None))
    for code, after in new_by_code.items():
        before = old_by_code.get(code)
        if before is None:
            changes.append(Change(f"{prefix}.{code}", f"{noun}「{after['name']}」", ChangeKind.added, None, after))
            continue
        for attr, attr_label in labels.items():
            # Named by its old name, so a renamed material still reads as the one the reader knew.
            change = _compare(f"{prefix}.{code}.{attr}", f"{noun}「{before['name']}」· {attr_label}",
                              before.get(attr), after.get(attr))
            if change is not None:
                changes.append(change)
    return changes


def _step_order(old: list[ProcessStep], new: list[ProcessStep]) -> Change | None:
    """The order of the steps that both versions have: approval runs them in sequence, so order is content."""
    new_codes = {s.code for s in new}
    old_codes = {s.code for s in old}
    kept_before = [s.code for s in old if s.code in new_codes]
    kept_after = [s.code for s in new if s.code in old_codes]
    if kept_before == kept_after:
        return None
    return Change("process.order", "办理流程 · 环节顺序", ChangeKind.changed,
                  [s.code for s in old], [s.code for s in new])


def _elements(old: ItemElements, new: ItemElements) -> list[Change]:
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changes: list[Change] = []
    for name in type(new).model_fields:
        change = _compare(f"elements.{name}", _ELEMENT_LABELS.get(name, name), before.get(name), after.get(name))
        if change is not None:
            changes.append(change)
    return changes


def diff_definitions(old: ItemDefinition, new: ItemDefinition) -> list[Change]:
    """Every difference from `old` to `new`: item fields, then materials, process and the guide's elements."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changes = [c for name, label in _ITEM_LABELS.items()
               if (c := _compare(name, label, before[name], after[name])) is not None]
    changes += _by_code(list(old.materials), list(new.materials), "materials", "申请材料", _MATERIAL_LABELS)
    changes += _by_code(list(old.process), list(new.process), "process", "办理环节", _STEP_LABELS)
    order = _step_order(list(old.process), list(new.process))
    if order is not None:
        changes.append(order)
    changes += _elements(old.elements, new.elements)
    return changes
