"""The item catalogue (实施清单): an item's definition, the rules it must satisfy, and its version lifecycle.

A version is a draft until published; a published version never changes again (动态调整 means a new
version, domain.md §9), and publishing a new one retires the one it replaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts.catalogue import ItemElements, MaterialSpec, ProcessStep
from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.principal import region_prefix

# GB/T 39046 事项类型 codes (domain.md §9).
ITEM_TYPES: dict[str, str] = {
    "00": "权力事项总类", "01": "行政许可", "02": "行政处罚", "03": "行政强制", "04": "行政征收",
    "05": "行政给付", "06": "行政检查", "07": "行政确认", "08": "行政奖励", "09": "行政裁决",
    "10": "其他行政权力", "20": "公共服务",
}
CASE_TYPES: dict[str, str] = {"1": "即办件", "2": "承诺件"}
# 行使层级 (domain.md §9); "" means not stated, which older versions are.
LEVELS: dict[str, str] = {"1": "国家级", "2": "省级", "3": "设区的市级", "4": "县级", "5": "乡镇（街道）级",
                          "6": "村（社区）级", "7": "分级行使"}
# 办理形式: the ways an applicant can hand in an application.
HANDLING_FORMS: dict[str, str] = {"window": "窗口办理", "web": "网上办理", "mobile": "掌上办理", "post": "邮寄申请"}
# 时限单位, for messages that must list the allowed units.
LIMIT_UNITS: dict[str, str] = {"working_days": "工作日", "calendar_days": "自然日", "hours": "小时",
                               "minutes": "分钟"}

_UNIT_ZH = {
    LimitUnit.working_days: "个工作日", LimitUnit.calendar_days: "个自然日",
    LimitUnit.hours: "小时", LimitUnit.minutes: "分钟",
}

# How limits in different units are compared (product rule, documented in the README):
# every limit is turned into wall-clock minutes. A calendar day is 24 hours. A working day is taken at
# the rate of an ordinary week, 5 working days = 7 calendar days, because holidays differ by year and an
# item's definition must not depend on the year it is used in. Limits in the same unit therefore compare
# exactly; across units the rule is an approximation that errs on the strict side for working days
# against calendar days (1 working day counts as 1.4 calendar days).
_MINUTES_PER_UNIT: dict[LimitUnit, Fraction] = {
    LimitUnit.minutes: Fraction(1),
    LimitUnit.hours: Fraction(60),
    LimitUnit.calendar_days: Fraction(24 * 60),
    LimitUnit.working_days: Fraction(24 * 60 * 7, 5),
}

_REGION_CODE = re.compile(r"^\d{12}$")


def limit_minutes(limit: TimeLimit) -> Fraction:
    """A limit as wall-clock minutes, by the comparison rule above."""
    return limit.value * _MINUTES_PER_UNIT[limit.unit]


def describe_limit(limit: TimeLimit) -> str:
    return f"{limit.value}{_UNIT_ZH[limit.unit]}"


class ItemDefinition(BaseModel):
    """What an administrator writes for one version of an item: ItemVersionPublished without version/time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_code: str  # 实施编码, opaque
    name: str  # 事项名称
    item_type: str  # 事项类型 (GB/T 39046)
    department: str  # 实施主体
    region_code: str  # 行政区划代码, 12 digits
    case_type: str = "2"  # 办件类型: 1 即办件, 2 承诺件
    legal_limit: TimeLimit  # 法定时限
    promised_limit: TimeLimit  # 承诺时限
    joint: bool = False  # 联合/并联办理
    materials: list[MaterialSpec] = Field(default_factory=list)  # 申请材料
    process: list[ProcessStep] = Field(default_factory=list)  # 办理流程
    publish_results: bool = True  # 办件结果公示
    fee_charged: bool = False  # 是否收费
    elements: ItemElements = Field(default_factory=ItemElements)  # the rest of the guide (办事指南)


@dataclass(frozen=True)
class DefinitionIssue:
    """One reason a definition is refused: the field it concerns and what is wrong (中文)."""

    field: str
    message: str


def _duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    dupes: list[str] = []
    for v in values:
        if v in seen and v not in dupes:
            dupes.append(v)
        seen.add(v)
    return dupes


def validate_definition(item: ItemDefinition) -> list[DefinitionIssue]:
    """Every problem of the definition at once, so an administrator fixes them in one pass."""
    issues: list[DefinitionIssue] = []
    if not _REGION_CODE.match(item.region_code):
        issues.append(DefinitionIssue(
            "region_code", f"region_code（行政区划代码）应为12位数字，当前为「{item.region_code}」"))
    if item.item_type not in ITEM_TYPES:
        issues.append(DefinitionIssue(
            "item_type",
            f"item_type（事项类型）「{item.item_type}」不是 GB/T 39046 规定的类型代码（{'、'.join(ITEM_TYPES)}）"))
    if item.case_type not in CASE_TYPES:
        issues.append(DefinitionIssue(
            "case_type", f"case_type（办件类型）「{item.case_type}」无效，应为 1（即办件）或 2（承诺件）"))

    promised, legal = item.promised_limit, item.legal_limit
    if limit_minutes(promised) > limit_minutes(legal):
        note = "" if promised.unit is legal.unit else "（按5个工作日折合7个自然日、1个自然日折合24小时比较）"
        issues.append(DefinitionIssue(
            "promised_limit",
            f"promised_limit（承诺时限）{describe_limit(promised)}长于 legal_limit（法定时限）"
            f"{describe_limit(legal)}{note}，承诺时限不得超过法定时限"))
    if item.case_type == "1" and limit_minutes(promised) > 24 * 60:
        issues.append(DefinitionIssue(
            "promised_limit",
            f"promised_limit（承诺时限）{describe_limit(promised)}：即办件应当日办结，承诺时限不得超过1天"))

    step_limits = [s.limit for s in item.process if s.limit is not None]
    if step_limits:
        total = sum((limit_minutes(lim) for lim in step_limits), Fraction(0))
        if total > limit_minutes(promised):
            if all(lim.unit is promised.unit for lim in step_limits):
                shown = describe_limit(TimeLimit(value=sum(lim.value for lim in step_limits), unit=promised.unit))
            else:
                shown = "、".join(describe_limit(lim) for lim in step_limits) + "（折算后）"
            issues.append(DefinitionIssue(
                "process",
                f"process（办理流程）各环节时限合计 {shown} 超过 promised_limit（承诺时限）{describe_limit(promised)}"))

    for code in _duplicates([m.code for m in item.materials]):
        issues.append(DefinitionIssue("materials", f"materials（申请材料）编码「{code}」重复，材料编码应唯一"))
    for code in _duplicates([s.code for s in item.process]):
        issues.append(DefinitionIssue("process", f"process（办理流程）环节编码「{code}」重复，环节编码应唯一"))
    if item.joint and not any(s.departments for s in item.process):
        issues.append(DefinitionIssue(
            "process", "joint（联合办理）为是时，process（办理流程）应至少有一个列明协办部门（departments）的并联环节"))
    for n, step in enumerate(item.process):
        # 条件环节: an earlier step decides it for the case, so never the first; one person's step, not joint.
        if step.condition and (n == 0 or step.departments):
            issues.append(DefinitionIssue(
                "process", f"process（办理流程）环节「{step.name}」的条件（condition）只能用于第一个环节之后的"
                           "非并联环节：由前面的环节决定是否需要它"))
    issues.extend(_element_issues(item))
    return issues


def _element_issues(item: ItemDefinition) -> list[DefinitionIssue]:
    """The guide's elements against each other and against the item: what a citizen reads must not contradict
    what the platform does (a fee the case would not record, a 零跑腿 promise with no online handling)."""
    e = item.elements
    issues: list[DefinitionIssue] = []
    if e.fee is not None and not item.fee_charged:
        issues.append(DefinitionIssue(
            "elements.fee",
            "elements.fee（收费依据与标准）：事项标为不收费（fee_charged 为否），不得填写收费标准；"
            "确需收费的，请将 fee_charged 设为是"))
    if item.fee_charged and e.fee is None:
        issues.append(DefinitionIssue(
            "elements.fee",
            "elements.fee（收费依据与标准）：事项标为收费（fee_charged 为是），应填写收费依据和收费标准"
            "（《行政许可法》第五十八条：收费须有法律、行政法规依据）"))
    if e.level not in ("", *LEVELS):
        allowed = "、".join(f"{code}（{label}）" for code, label in LEVELS.items())
        issues.append(DefinitionIssue(
            "elements.level", f"elements.level（行使层级）「{e.level}」无效，应为 {allowed} 之一，或留空"))
    unknown_forms = [f for f in e.handling_forms if f not in HANDLING_FORMS]
    if unknown_forms:
        allowed = "、".join(f"{code}（{label}）" for code, label in HANDLING_FORMS.items())
        issues.append(DefinitionIssue(
            "elements.handling_forms",
            f"elements.handling_forms（办理形式）「{'、'.join(unknown_forms)}」无效，应为 {allowed}"))
    for form in _duplicates(list(e.handling_forms)):
        issues.append(DefinitionIssue(
            "elements.handling_forms", f"elements.handling_forms（办理形式）「{form}」重复"))
    if e.visits == 0 and not e.online:
        issues.append(DefinitionIssue(
            "elements.visits",
            "elements.visits（到现场次数）为0（零跑腿）时，事项须支持网上办理（elements.online 为是）"))
    return issues


# ---- lifecycle --------------------------------------------------------------------------------------

class VersionStatus(StrEnum):
    draft = "draft"  # 草稿
    published = "published"  # 已发布
    retired = "retired"  # 已废止


class CatalogueError(Exception):
    """A command the catalogue's state does not allow; `slug` names it for the HTTP problem type."""

    slug = "catalogue-conflict"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OpenDraftExists(CatalogueError):
    slug = "draft-exists"


class NoDraft(CatalogueError):
    slug = "no-draft"


class NothingPublished(CatalogueError):
    slug = "not-published"


class InvalidDefinition(CatalogueError):
    slug = "invalid-item"

    def __init__(self, issues: list[DefinitionIssue]) -> None:
        super().__init__("事项定义未通过校验：" + "；".join(i.message for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class Editor:
    """Who wrote a version (变更人): the account and the name it was shown under at the time."""

    subject: str  # account id
    name: str = ""  # 姓名, as the principal carried it


@dataclass(frozen=True)
class ItemVersion:
    item_code: str
    version: int
    definition: ItemDefinition
    status: VersionStatus
    created_at: datetime
    published_at: datetime | None = None
    retired_at: datetime | None = None
    retire_reason: str = ""
    changed_by: Editor | None = None  # 变更人; None for versions written before it was recorded
    change_reason: str = ""  # 变更原因 (动态调整的理由); may be empty only on the first version


@dataclass(frozen=True)
class Publication:
    """What a publish changed: the new published version and the one it replaced, if any."""

    published: ItemVersion
    retired: ItemVersion | None


@dataclass
class CatalogueItem:
    """All versions of one item code; the only way its versions change."""

    item_code: str
    versions: list[ItemVersion] = field(default_factory=list)

    def newest(self) -> ItemVersion | None:
        return max(self.versions, key=lambda v: v.version, default=None)

    def current(self) -> ItemVersion | None:
        """The published version, if any (at most one at a time)."""
        return next((v for v in self.versions if v.status is VersionStatus.published), None)

    def _replace(self, version: ItemVersion) -> None:
        self.versions = [version if v.version == version.version else v for v in self.versions]

    def add_draft(self, definition: ItemDefinition, now: datetime, changed_by: Editor | None = None,
                  change_reason: str = "") -> ItemVersion:
        """A new version as a draft; one open draft at a time, and the item stays in its region.

        Every version after the first must say why it changes the item (动态调整): the published
        guide is public record, and a change nobody can explain cannot be reviewed or supervised.
        """
        if definition.item_code != self.item_code:
            raise ValueError("definition belongs to another item code")
        issues = validate_definition(definition)
        newest = self.newest()
        if newest is not None and newest.definition.region_code != definition.region_code:
            issues.append(DefinitionIssue(
                "region_code",
                f"region_code（行政区划代码）：实施编码 {self.item_code} 属于区划 {newest.definition.region_code}，"
                "新版本不能更改区划"))
        change_reason = change_reason.strip()
        # With a draft still open the request fails as draft-exists whatever its reason, so the reason is
        # only asked for when this would really become the next version.
        if newest is not None and newest.status is not VersionStatus.draft and not change_reason:
            issues.append(DefinitionIssue(
                "change_reason",
                f"change_reason（变更原因）：事项 {self.item_code} 已有第 {newest.version} 版，"
                "动态调整须说明变更原因（如依据文件修订、压缩承诺时限）"))
        if issues:
            raise InvalidDefinition(issues)
        if newest is not None and newest.status is VersionStatus.draft:
            raise OpenDraftExists(
                f"事项 {self.item_code} 已有未发布的草稿（第 {newest.version} 版），请先发布该草稿")
        draft = ItemVersion(self.item_code, (newest.version + 1) if newest else 1, definition,
                            VersionStatus.draft, created_at=now, changed_by=changed_by,
                            change_reason=change_reason)
        self.versions.append(draft)
        return draft

    def publish(self, now: datetime) -> Publication:
        """Publishes the newest draft and retires the version it replaces."""
        newest = self.newest()
        if newest is None or newest.status is not VersionStatus.draft:
            raise NoDraft(f"事项 {self.item_code} 没有待发布的草稿")
        issues = validate_definition(newest.definition)  # rules may have tightened since the draft was written
        if issues:
            raise InvalidDefinition(issues)
        previous = self.current()
        retired = None
        if previous is not None:
            retired = replace(previous, status=VersionStatus.retired, retired_at=now,
                              retire_reason=f"被第 {newest.version} 版取代")
            self._replace(retired)
        published = replace(newest, status=VersionStatus.published, published_at=now)
        self._replace(published)
        return Publication(published, retired)

    def retire(self, reason: str, now: datetime) -> ItemVersion:
        """废止 the published version: the item is no longer offered until a new version is published."""
        current = self.current()
        if current is None:
            raise NothingPublished(f"事项 {self.item_code} 没有已发布的版本可废止")
        retired = replace(current, status=VersionStatus.retired, retired_at=now, retire_reason=reason)
        self._replace(retired)
        return retired


def offered_in(item_region_code: str, region_code: str) -> bool:
    """An item of a county is offered in its townships and villages: its scope is a prefix of the region."""
    return region_code.startswith(region_prefix(item_region_code))
