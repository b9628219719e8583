"""Request and response bodies of the disclosure API.

Input models forbid unknown fields. The catalogue's business rules (region code, item type, limits,
duplicate codes) are checked by the domain, not here, so each refusal names its field in Chinese.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from services.common.contracts.catalogue import ItemElements, MaterialSpec, ProcessStep
from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.disclosure.domain.catalogue import HANDLING_FORMS, LEVELS, LIMIT_UNITS, ItemDefinition

_CODE = r"^[0-9A-Za-z][0-9A-Za-z._\-]*$"  # used in URLs, so no '/', spaces or '%'
_UNITS_ZH = "、".join(f"{code}（{label}）" for code, label in LIMIT_UNITS.items())


class TimeLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: int = Field(ge=0, le=100_000)
    unit: LimitUnit = Field(description=f"时限单位: {_UNITS_ZH}")
    note: str = Field(default="", max_length=500, description="时限说明")

    @field_validator("unit", mode="before")
    @classmethod
    def _known_unit(cls, value: object) -> object:
        # Pydantic's own enum message is English and lists no meanings; the window staff who write
        # catalogues read the problem's `errors`, whose `field` already names where (legal_limit.unit).
        if isinstance(value, str) and value in LIMIT_UNITS:
            return value
        raise PydanticCustomError(
            "limit_unit", "时限单位（unit）「{unit}」无效，应为 {allowed} 之一",
            {"unit": str(value), "allowed": _UNITS_ZH})


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    required: bool = True
    originals: int = Field(default=0, ge=0, le=100)
    copies: int = Field(default=1, ge=0, le=100)
    issuer: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)


class ProcessStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=64, description="review (承办/审查), audit (审核), decide (决定) …")
    name: str = Field(min_length=1, max_length=100)
    # A staff role that exists: approval gives each step's task to that role, so an unknown one would
    # create tasks nobody can complete.
    role: Literal["approver", "department_head", "window_clerk"] = Field(description="审批人员 / 科室负责人 / 窗口")
    limit: TimeLimitIn | None = None
    departments: list[str] = Field(default_factory=list, max_length=50, description="并联审批 departments")
    condition: str = Field(default="", pattern=r"^([a-z][a-z0-9_]{0,39})?$",
                           description="条件环节: runs only for a case an earlier step marks (e.g. site_survey)")


_TEXT = 200  # a name, an office, an address
_LONG = 2000  # a provision's wording, a condition, an answer


class LegalBasisIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    document: str = Field(min_length=1, max_length=_TEXT, description="法律法规名称，如《中华人民共和国行政许可法》")
    articles: str = Field(default="", max_length=_TEXT, description="条款号，如 第十二条")
    text: str = Field(default="", max_length=_LONG, description="条款内容")


class FeeStandardIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    basis: str = Field(min_length=1, max_length=500, description="收费依据（文件名称及文号）")
    standard: str = Field(min_length=1, max_length=500, description="收费标准，如 每证10元")
    amount_fen: int | None = Field(default=None, ge=0, le=100_000_000, description="固定金额（分），有则填")


class FaqIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(min_length=1, max_length=500, description="问题")
    answer: str = Field(min_length=1, max_length=_LONG, description="解答")


_Texts = list[str]  # each entry's length is checked by the validator below


class ItemElementsIn(BaseModel):
    """办事指南要素 (GB/T 39046 表4) beyond what acceptance and approval act on. Codes with a fixed set
    (level, handling_forms) are checked by the domain, so a wrong one is named in Chinese with the others."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    basic_code: str = Field(default="", max_length=64, description="基本编码")
    handling_code: str = Field(default="", max_length=64, description="业务办理项编码")
    legal_basis: list[LegalBasisIn] = Field(default_factory=list, max_length=30, description="设定依据")
    level: str = Field(default="", max_length=2, description="行使层级: " + "、".join(
        f"{code} {label}" for code, label in LEVELS.items()) + "；可留空")
    implementing_body_nature: str = Field(default="", max_length=50,
                                          description="实施主体性质: 法定机关 / 授权组织 / 受委托组织")
    handling_unit: str = Field(default="", max_length=_TEXT, description="办理机构")
    co_departments: _Texts = Field(default_factory=list, max_length=30, description="联办机构")
    conditions: _Texts = Field(default_factory=list, max_length=50, description="受理条件")
    intermediary_services: _Texts = Field(default_factory=list, max_length=20, description="中介服务")
    quantity_limit: str = Field(default="", max_length=500, description="数量限制")
    result_name: str = Field(default="", max_length=_TEXT, description="审批结果名称，如 营业执照")
    result_sample: str = Field(default="", max_length=500, description="审批结果样本（文件引用）")
    fee: FeeStandardIn | None = Field(default=None, description="收费依据与标准；仅收费事项填写")
    service_scope: str = Field(default="", max_length=100, description="通办范围: 全省 / 全市 / 全县 / 本乡镇")
    service_objects: _Texts = Field(default_factory=list, max_length=10, description="服务对象: 自然人 / 企业法人 …")
    handling_forms: _Texts = Field(default_factory=list, max_length=10, description="办理形式: " + "、".join(
        f"{code}（{label}）" for code, label in HANDLING_FORMS.items()))
    special_procedures: _Texts = Field(default_factory=list, max_length=20,
                                       description="特别程序（听证、检验、专家评审…）")
    online: bool = Field(default=False, description="是否网办")
    booking: bool = Field(default=False, description="是否支持预约办理")
    online_payment: bool = Field(default=False, description="是否支持网上支付")
    delivery: bool = Field(default=False, description="是否支持物流快递")
    visits: int = Field(default=1, ge=0, le=10, description="到现场次数；0 即零跑腿，须支持网办")
    address: str = Field(default="", max_length=500, description="办理地点")
    hours: str = Field(default="", max_length=500, description="办理时间")
    consultation_phone: str = Field(default="", max_length=100, description="咨询电话")
    supervision_phone: str = Field(default="", max_length=100, description="监督投诉电话")
    faq: list[FaqIn] = Field(default_factory=list, max_length=50, description="常见问题")

    @field_validator("co_departments", "conditions", "intermediary_services", "service_objects",
                     "handling_forms", "special_procedures")
    @classmethod
    def _entries_fit(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value or len(value) > 500:
                raise PydanticCustomError("entry_length", "每一项应为1至500个字符，当前有一项为 {length} 个字符",
                                          {"length": len(value)})
        return values


class ItemDefinitionIn(BaseModel):
    """One version of an item (实施清单要素)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_code: str = Field(min_length=1, max_length=64, pattern=_CODE, description="实施编码, opaque")
    name: str = Field(min_length=1, max_length=200, description="事项名称")
    item_type: str = Field(max_length=4, description="GB/T 39046 事项类型: 00 01 … 10 20")
    department: str = Field(min_length=1, max_length=100, description="实施主体")
    region_code: str = Field(max_length=20, description="12-digit 行政区划代码")
    case_type: str = Field(default="2", max_length=2, description="1 即办件, 2 承诺件")
    legal_limit: TimeLimitIn
    promised_limit: TimeLimitIn
    joint: bool = False
    materials: list[MaterialIn] = Field(default_factory=list, max_length=200)
    process: list[ProcessStepIn] = Field(default_factory=list, max_length=50)
    publish_results: bool = True
    fee_charged: bool = False
    elements: ItemElementsIn = Field(default_factory=ItemElementsIn, description="办事指南的其余要素")
    # Not part of the definition: it explains this version against the previous one (动态调整).
    change_reason: str = Field(default="", max_length=500,
                               description="变更原因：第2版起必填，说明为何调整（首版可留空）")

    def to_domain(self) -> ItemDefinition:
        return ItemDefinition.model_validate(self.model_dump(exclude={"change_reason"}))


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500, description="废止原因")


class EditorOut(BaseModel):
    subject: str = Field(description="账号；仅本区划事项目录管理员可见，其他人为空")
    name: str = Field(description="姓名")


class ItemOut(BaseModel):
    item_code: str
    version: int
    status: str = Field(description="draft / published / retired")
    name: str
    item_type: str
    department: str
    region_code: str
    case_type: str
    legal_limit: TimeLimit
    promised_limit: TimeLimit
    joint: bool
    materials: list[MaterialSpec]
    process: list[ProcessStep]
    publish_results: bool
    fee_charged: bool
    elements: ItemElements = Field(default_factory=ItemElements, description="办事指南的其余要素")
    created_at: datetime
    published_at: datetime | None = None
    retired_at: datetime | None = None
    retire_reason: str = ""
    changed_by: EditorOut | None = Field(default=None, description="变更人；记录前的旧版本为空")
    change_reason: str = Field(default="", description="变更原因")


class ItemList(BaseModel):
    items: list[ItemOut]


class VersionSideOut(BaseModel):
    """One side of a comparison: which version, who wrote it, why, and when it moved through its lifecycle."""

    version: int
    status: str
    changed_by: EditorOut | None = None
    change_reason: str = ""
    created_at: datetime
    published_at: datetime | None = None
    retired_at: datetime | None = None


class ChangeOut(BaseModel):
    field: str = Field(description="字段路径，如 promised_limit、materials.M03、elements.fee")
    label: str = Field(description="中文名称")
    kind: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


class VersionDiffOut(BaseModel):
    """版本比对: what version `after` changed against the version before it."""

    item_code: str
    before: VersionSideOut
    after: VersionSideOut
    changes: list[ChangeOut]


class ResultOut(BaseModel):
    """One public case result (办件结果公示): the applicant appears only masked."""

    case_no: str
    item_code: str
    item_name: str
    region_code: str
    applicant_name_masked: str
    applicant_id_masked: str
    result: str = Field(description="approve / deny / done")
    result_label: str = Field(description="准予许可 / 不予许可 / 已办结")
    result_summary: str
    completed_at: datetime
    published_at: datetime


class ResultList(BaseModel):
    items: list[ResultOut]
