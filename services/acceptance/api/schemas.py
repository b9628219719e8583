"""Request and response bodies of the acceptance API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

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
    natural person, so always a 公民身份号码. Recorded beside the applicant; required on channel village_agent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    id_type: Literal["resident_id"] = "resident_id"
    id_number: str = Field(min_length=1, max_length=18, description="公民身份号码 (GB 11643), check character verified")
    phone: str = Field(default="", max_length=20, pattern=r"^[0-9+\-]*$")

    @field_validator("id_number")
    @classmethod
    def _check_id(cls, id_number: str) -> str:
        return checked_identity("resident_id", id_number)


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="an uploaded file's sha256, lower-case hex")]


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    originals: int = Field(default=0, ge=0, le=100)
    copies: int = Field(default=0, ge=0, le=100)
    files: list[Sha256] = Field(default_factory=list, max_length=20,
                                description="scans uploaded through POST /api/v1/applications/files")


class RefusalIn(BaseModel):
    """不予受理, the clerk's judgement (Art. 32 (1)/(2)): no licence needed, or not this agency's competence."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)
    legal_basis: str = Field(default="", max_length=500, description="e.g. 《行政许可法》第三十二条第一款第二项")
    competent_agency: str = Field(default="", max_length=200, description="the competent agency, where known")


class CorrectionIn(BaseModel):
    """当场更正: what was wrong and what the applicant wrote instead, at the window."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    field: str = Field(min_length=1, max_length=100, description="e.g. 申请书·经营场所地址")
    before: str = Field(default="", max_length=500)
    after: str = Field(min_length=1, max_length=500)


class DeferralIn(BaseModel):
    """容缺: the minor materials the clerk lists, and the applicant's written promise (承诺书) to bring them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    materials: list[str] = Field(min_length=1, max_length=20, description="material codes accepted as missing")
    due_date: date = Field(description="the promised date (Asia/Shanghai), after today, within 30 days")
    promise_ref: str = Field(min_length=1, max_length=100, description="承诺书编号")


class DeputyIn(BaseModel):
    """AB岗: the absent clerk the caller acts for; the pair must be configured (ACCEPTANCE_DEPUTIES)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=100)


class IntakeIn(BaseModel):
    """收件: an application as received, for a decision later (within 5 working days)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_code: str = Field(min_length=1, max_length=64, description="实施编码")
    region_code: str = Field(pattern=r"^\d{12}$", description="12-digit region code where the case is handled")
    channel: Channel = Channel.window
    applicant: ApplicantIn
    materials: list[MaterialIn] = Field(default_factory=list, max_length=200)
    agent: AgentIn | None = Field(default=None, description="代办人; required on channel village_agent")
    deputy_for: DeputyIn | None = Field(default=None, description="AB岗: the absent clerk the caller acts for")
    received_at: datetime | None = Field(default=None, description="provincial platform only: its receipt time")

    @model_validator(mode="after")
    def _unique_materials(self) -> IntakeIn:
        codes = [m.code for m in self.materials]
        if len(codes) != len(set(codes)):
            raise ValueError("材料编码重复")
        if self.received_at is not None and self.received_at.tzinfo is None:
            raise ValueError("received_at 须带时区")
        return self


class ApplicationIn(IntakeIn):
    """申请受理 at the window: received and decided at once (one of the outcomes of Art. 32)."""

    refusal: RefusalIn | None = Field(default=None, description="不予受理, the clerk's judgement")
    corrections: list[CorrectionIn] = Field(default_factory=list, max_length=50, description="当场更正")
    deferral: DeferralIn | None = Field(default=None, description="容缺受理")
    accepted_at: datetime | None = Field(default=None, description="provincial platform only: its acceptance time")

    @model_validator(mode="after")
    def _aware_acceptance_time(self) -> ApplicationIn:
        if self.accepted_at is not None and self.accepted_at.tzinfo is None:
            raise ValueError("accepted_at 须带时区")
        return self


class ExamineIn(BaseModel):
    """审查受理 of a received case: the clerk's judgement on the materials as received."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    refusal: RefusalIn | None = Field(default=None, description="不予受理, the clerk's judgement")
    corrections: list[CorrectionIn] = Field(default_factory=list, max_length=50, description="当场更正")
    deferral: DeferralIn | None = Field(default=None, description="容缺受理")
    deputy_for: DeputyIn | None = Field(default=None, description="AB岗: the absent clerk the caller acts for")


class SupplementIn(BaseModel):
    """补正: what the applicant brings now, only materials the notice listed."""

    model_config = ConfigDict(extra="forbid")

    materials: list[MaterialIn] = Field(min_length=1, max_length=200)
    deputy_for: DeputyIn | None = None

    @model_validator(mode="after")
    def _unique_materials(self) -> SupplementIn:
        codes = [m.code for m in self.materials]
        if len(codes) != len(set(codes)):
            raise ValueError("材料编码重复")
        return self


class FeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount_fen: int = Field(gt=0, le=100_000_000, description="amount in fen (分), at most the published standard")
    receipt_no: str = Field(min_length=1, max_length=60, pattern=r"^[0-9A-Za-z\-]+$",
                            description="票据号 of the lawful receipt")
    deputy_for: DeputyIn | None = None


class FeeOut(BaseModel):
    case_no: str
    receipt_no: str
    amount_fen: int
    fee_item: str
    charged_at: datetime


class MissingOut(BaseModel):
    code: str
    name: str
    reason: str


class ApplicationOut(BaseModel):
    outcome: Literal["accepted", "supplement_requested", "rejected", "corrected", "completed", "deferred",
                     "received"]
    case_no: str
    document_no: str = Field(description="受理凭证 or 一次性告知书 number")
    item_code: str
    item_version: int
    status: str
    received_at: datetime
    accepted_at: datetime | None = None
    promised_due_date: str | None = Field(default=None, description="承诺办结日期")
    missing: list[MissingOut] = Field(default_factory=list, description="一次性告知: everything missing")
    channel: str = "window"
    imported: bool = False
    clerk: dict[str, Any] | None = Field(default=None, description="首问负责: the first clerk")
    acting_for: dict[str, Any] | None = Field(default=None, description="AB岗: the absent clerk")
    agent: dict[str, Any] | None = None
    refusal: dict[str, Any] | None = None
    corrections: list[dict[str, Any]] | None = None
    deferred_materials: list[MissingOut] | None = None
    deferred_due_date: str | None = None
    completed_at: datetime | None = None
    decision_due_at: datetime | None = Field(
        default=None, description="received for a later decision: acceptance decides before this instant, "
        "else the case counts as accepted from receipt (行政许可法 Art. 32(4))")
    deemed_accepted: bool = Field(default=False, description="视为受理: nobody decided within 5 working days")
    materials: list[dict[str, Any]] = Field(default_factory=list)
    outcome_document: dict[str, Any] | None = Field(default=None, description="what the printable document needs")
    message: str
