"""Catalogue events (实施清单), produced by disclosure, keyed by item code on a compacted topic."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts.payloads import EventPayload, TimeLimit
from services.common.contracts.topics import Topic


class MaterialSpec(BaseModel):
    """One entry of the item's material list (申请材料)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str
    name: str
    required: bool = True  # False: conditional (视情形提供)
    originals: int = Field(default=0, ge=0)
    copies: int = Field(default=1, ge=0)
    issuer: str = ""
    note: str = ""


class ProcessStep(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str  # e.g. review (承办/审查), audit (审核), decide (决定)
    name: str
    role: str
    limit: TimeLimit | None = None
    departments: list[str] = Field(default_factory=list)  # joint review (并联审批) departments
    # A routing condition (e.g. site_survey 现场核查): the step runs only for a case whose earlier step said
    # it needs it; otherwise the case goes past it. Empty: the step always runs.
    condition: str = Field(default="", pattern=r"^([a-z][a-z0-9_]{0,39})?$")


class LegalBasis(BaseModel):
    """设定依据: one law or regulation and the articles the item rests on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    document: str  # e.g. 《中华人民共和国行政许可法》
    articles: str = ""  # e.g. 第十二条
    text: str = ""  # the provision's wording, as published in the guide


class FeeStandard(BaseModel):
    """收费依据与标准, for an item that charges (fee_charged)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    basis: str  # the pricing document, e.g. 苏价费〔2019〕xx号
    standard: str  # as published, e.g. 每证10元
    amount_fen: int | None = Field(default=None, ge=0, description="the fixed amount in fen, when there is one")


class Faq(BaseModel):
    """常见问题."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    question: str
    answer: str


class ItemElements(BaseModel):
    """The guide's elements of an item beyond what acceptance and approval act on (domain.md §9, GB/T 39046
    表4): shared by the administrator's definition and the published event, every field optional so that
    older versions stay readable."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    basic_code: str = ""  # 基本编码
    handling_code: str = ""  # 业务办理项编码
    legal_basis: list[LegalBasis] = Field(default_factory=list)  # 设定依据
    level: str = ""  # 行使层级: 1 国家 2 省 3 市 4 县 5 乡镇 6 村 7 分级
    implementing_body_nature: str = ""  # 实施主体性质: 法定机关 / 授权组织 / 受委托组织
    handling_unit: str = ""  # 办理机构 (the office inside the implementing body)
    co_departments: list[str] = Field(default_factory=list)  # 联办机构
    conditions: list[str] = Field(default_factory=list)  # 受理条件
    intermediary_services: list[str] = Field(default_factory=list)  # 中介服务
    quantity_limit: str = ""  # 数量限制
    result_name: str = ""  # 审批结果名称, e.g. 营业执照
    result_sample: str = ""  # 审批结果样本 (file reference)
    fee: FeeStandard | None = None  # 收费依据与标准; only with fee_charged
    service_scope: str = ""  # 通办范围: 全省 / 全市 / 全县 / 本乡镇
    service_objects: list[str] = Field(default_factory=list)  # 服务对象: 自然人 / 企业法人 / ...
    handling_forms: list[str] = Field(default_factory=list)  # 办理形式: window / web / mobile / post
    special_procedures: list[str] = Field(default_factory=list)  # 特别程序 (听证, 检验, 专家评审 …)
    online: bool = False  # 是否网办
    booking: bool = False  # 是否支持预约
    online_payment: bool = False  # 是否支持网上支付
    delivery: bool = False  # 是否支持物流快递
    visits: int = Field(default=1, ge=0)  # 到现场次数
    address: str = ""  # 办理地点
    hours: str = ""  # 办理时间
    consultation_phone: str = ""  # 咨询电话
    supervision_phone: str = ""  # 监督投诉电话
    faq: list[Faq] = Field(default_factory=list)  # 常见问题


class ItemVersionPublished(EventPayload):
    """事项版本发布: the full published version; acceptance and approval keep read models of it."""

    event_type: ClassVar[str] = "zwfw.catalogue.item_published.v1"
    topic: ClassVar[Topic] = Topic.catalogue
    subject_field: ClassVar[str] = "item_code"

    item_code: str = Field(description="实施编码, opaque")
    version: int = Field(ge=1)
    name: str
    item_type: str = Field(description="GB/T 39046 type code, e.g. 01 许可")
    department: str
    region_code: str
    case_type: str = Field(default="2", description="1 即办件, 2 承诺件")
    legal_limit: TimeLimit
    promised_limit: TimeLimit
    joint: bool = False  # 联合/并联办理: legal limit 45 working days, extension 15
    materials: list[MaterialSpec] = Field(default_factory=list)
    process: list[ProcessStep] = Field(default_factory=list)
    publish_results: bool = True  # 办件结果公示
    fee_charged: bool = False
    elements: ItemElements = Field(default_factory=ItemElements)  # the rest of the guide (办事指南)
    process_bpmn: str = Field(default="", description=(
        "this version's process as BPMN 2.0 XML (the exchange format), which approval executes; "
        "empty from versions published before it"))


class ItemVersionRetired(EventPayload):
    event_type: ClassVar[str] = "zwfw.catalogue.item_retired.v1"
    topic: ClassVar[Topic] = Topic.catalogue
    subject_field: ClassVar[str] = "item_code"

    item_code: str
    version: int
    reason: str = ""
