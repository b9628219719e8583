"""Request and response bodies of the disclosure API.

Input models forbid unknown fields. The catalogue's business rules (region code, item type, limits,
duplicate codes) are checked by the domain, not here, so each refusal names its field in Chinese.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts.catalogue import MaterialSpec, ProcessStep
from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.disclosure.domain.catalogue import ItemDefinition

_CODE = r"^[0-9A-Za-z][0-9A-Za-z._\-]*$"  # used in URLs, so no '/', spaces or '%'


class TimeLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: int = Field(ge=0, le=100_000)
    unit: LimitUnit
    note: str = Field(default="", max_length=500, description="时限说明")


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

    def to_domain(self) -> ItemDefinition:
        return ItemDefinition.model_validate(self.model_dump())


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500, description="废止原因")


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
    created_at: datetime
    published_at: datetime | None = None
    retired_at: datetime | None = None
    retire_reason: str = ""


class ItemList(BaseModel):
    items: list[ItemOut]


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
