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


class ItemVersionRetired(EventPayload):
    event_type: ClassVar[str] = "zwfw.catalogue.item_retired.v1"
    topic: ClassVar[Topic] = Topic.catalogue
    subject_field: ClassVar[str] = "item_code"

    item_code: str
    version: int
    reason: str = ""
