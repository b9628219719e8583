"""Request and response bodies of the acceptance API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services.acceptance.domain.identifiers import normalise_resident_id, resident_id_problem, uscc_problem
from services.common.contracts.case import Channel
from services.common.workdays import SHANGHAI


def checked_identity(id_type: str, id_number: str) -> str:
    """The identity number normalised (x → X, credit codes in upper case), or a validation error naming why.

    Raised as a custom error so the 422 problem carries the Chinese reason as its message and the kind of
    identity as its code, on the id_number field itself."""
    if id_type == "resident_id":
        number = normalise_resident_id(id_number)
        problem = resident_id_problem(number, datetime.now(SHANGHAI).date())
        code = "resident_id"
    else:
        number = id_number.strip().upper()
        problem = uscc_problem(number)
        code = "uscc"
    if problem:
        raise PydanticCustomError(code, "{reason}", {"reason": problem})
    return number


class ApplicantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    applicant_type: Literal["1", "2", "3", "4", "5", "6", "9"] = Field(
        description="GB/T 39046: 1 自然人, 2 企业法人, 3 事业法人, 4 社会组织法人, 5 非法人企业, 6 行政机关, "
        "9 其他组织",
    )
    name: str = Field(min_length=1, max_length=100)
    id_type: Literal["resident_id", "uscc"]
    id_number: str = Field(min_length=1, max_length=18,
                           description="公民身份号码 (GB 11643) or 统一社会信用代码 (GB 32100), checked")
    phone: str = Field(default="", max_length=20, pattern=r"^[0-9+\-]*$")

    @field_validator("id_type")
    @classmethod
    def _id_type_fits_applicant(cls, id_type: str, info: ValidationInfo) -> str:
        applicant_type = info.data.get("applicant_type")
        if id_type == "resident_id" and applicant_type not in (None, "1"):
            raise ValueError("公民身份号码只适用于自然人（applicant_type=1）")
        if id_type == "uscc" and applicant_type == "1":
            raise ValueError("自然人应提供公民身份号码（id_type=resident_id）")
        return id_type

    @field_validator("id_number")
    @classmethod
    def _check_id(cls, id_number: str, info: ValidationInfo) -> str:
        id_type = info.data.get("id_type")
        if id_type is None:  # id_type itself was refused: its error already says why
            return id_number
        return checked_identity(id_type, id_number)


class AgentIn(BaseModel):
    """代办人: the person who brings an application for someone else (a village agent, a relative). Always a
    natural person, so always a 公民身份号码. Not yet taken by ApplicationIn: see the service README."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    id_type: Literal["resident_id"] = "resident_id"
    id_number: str = Field(min_length=1, max_length=18, description="公民身份号码 (GB 11643), check character verified")
    phone: str = Field(default="", max_length=20, pattern=r"^[0-9+\-]*$")

    @field_validator("id_number")
    @classmethod
    def _check_id(cls, id_number: str) -> str:
        return checked_identity("resident_id", id_number)


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
