"""Request and response bodies of the acceptance API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.acceptance.domain.identifiers import resident_id_problem, uscc_problem
from services.common.contracts.case import Channel
from services.common.workdays import SHANGHAI


class ApplicantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    applicant_type: Literal["1", "2", "3", "4", "5", "6", "9"] = Field(
        description="GB/T 39046: 1 自然人, 2 企业法人, 3 事业法人, 4 社会组织法人, 5 非法人企业, 6 行政机关, "
        "9 其他组织",
    )
    name: str = Field(min_length=1, max_length=100)
    id_type: Literal["resident_id", "uscc"]
    id_number: str = Field(min_length=1, max_length=18)
    phone: str = Field(default="", max_length=20, pattern=r"^[0-9+\-]*$")

    @model_validator(mode="after")
    def _check_id(self) -> ApplicantIn:
        if self.id_type == "resident_id":
            if self.applicant_type != "1":
                raise ValueError("公民身份号码只适用于自然人（applicant_type=1）")
            problem = resident_id_problem(self.id_number.upper(), datetime.now(SHANGHAI).date())
        else:
            if self.applicant_type == "1":
                raise ValueError("自然人应提供公民身份号码（id_type=resident_id）")
            problem = uscc_problem(self.id_number.upper())
        if problem:
            raise ValueError(problem)
        self.id_number = self.id_number.upper()
        return self


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    originals: int = Field(default=0, ge=0, le=100)
    copies: int = Field(default=0, ge=0, le=100)


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_code: str = Field(min_length=1, max_length=64, description="实施编码")
    region_code: str = Field(pattern=r"^\d{12}$", description="12-digit region code where the case is handled")
    channel: Channel = Channel.window
    applicant: ApplicantIn
    materials: list[MaterialIn] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _unique_materials(self) -> ApplicationIn:
        codes = [m.code for m in self.materials]
        if len(codes) != len(set(codes)):
            raise ValueError("材料编码重复")
        return self


class MissingOut(BaseModel):
    code: str
    name: str
    reason: str


class ApplicationOut(BaseModel):
    outcome: Literal["accepted", "supplement_requested"]
    case_no: str
    document_no: str = Field(description="受理凭证 or 一次性告知书 number")
    item_code: str
    item_version: int
    status: str
    received_at: datetime
    accepted_at: datetime | None = None
    promised_due_date: str | None = Field(default=None, description="承诺办结日期")
    missing: list[MissingOut] = Field(default_factory=list, description="一次性告知: everything missing")
    message: str
