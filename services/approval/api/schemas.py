"""Request and response bodies of the approval API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.contracts.case import DeliveryMethod, SuspensionReason

CaseStatusName = Literal["in_review", "supplement_requested", "suspended", "decided", "certified", "delivered",
                         "completed", "withdrawn"]


class DeputyIn(BaseModel):
    """AB岗: the absent colleague the caller acts for; the pair must be configured (APPROVAL_DEPUTIES)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=100)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deputy_for: DeputyIn | None = None


class AbsenceIn(BaseModel):
    """缺席默认: why the department does not take part (e.g. 经函询不涉及本部门职责)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)


class CompleteTaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    opinion: str = Field(min_length=1, max_length=2000, description="办理意见 (written, always)")
    decision: Literal["approve", "deny"] | None = Field(
        default=None, description="准予/不予许可: required on the deciding step, refused on the others")
    reasons: str = Field(default="", max_length=2000, description="理由: required when the decision is deny")
    consent: bool | None = Field(default=None, description="并联审批: the department agrees or not")
    conditions: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")], bool] = Field(
        default_factory=dict, max_length=10,
        description="条件环节 later in the process that this case needs, e.g. {\"site_survey\": true} (现场核查)")
    deputy_for: DeputyIn | None = None

    @model_validator(mode="after")
    def _deny_states_reasons(self) -> CompleteTaskIn:
        if self.decision == "deny" and not self.reasons:
            raise ValueError("不予许可必须说明理由（reasons）")
        return self


class MissingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)


class SupplementRequestIn(BaseModel):
    """审查中补正: everything at once (一次性告知)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    missing: list[MissingIn] = Field(min_length=1, max_length=100)
    supply_by: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")


class SuppliedIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    materials: list[MissingIn] = Field(min_length=1, max_length=100, description="code, name, and a note")


class SuspendIn(BaseModel):
    """特别程序 (行政许可法 Art. 45): the reason, and how long the applicant was told it takes."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: SuspensionReason
    explanation: str = Field(min_length=1, max_length=1000)
    expected_days: int = Field(ge=1, le=365, description="告知申请人的所需时间（日）")


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    result: str = Field(min_length=1, max_length=1000, description="特别程序的结果")


class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=1000, description="延期理由, told to the applicant")


class DeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    method: DeliveryMethod
    receiver: str = Field(min_length=1, max_length=200, description="签收人 (or the e-mail/portal account)")


class TaskOut(BaseModel):
    task_id: str
    case_no: str
    step_code: str
    step_name: str
    kind: Literal["step", "department"]
    element_id: str | None = Field(description="the BPMN user task it stands for")
    role: str
    department: str
    region_code: str
    status: Literal["open", "done", "cancelled"]
    time_limit: dict[str, Any] | None
    claimed_by: str | None
    claimed_name: str | None
    claimed_at: datetime | None
    assignee: str | None = Field(description="user id of who completed the task")
    assignee_name: str | None
    acting_for: dict[str, Any] | None = Field(description="AB岗: the absent colleague the actor stood in for")
    opinion: str | None
    outcome: str | None = Field(description="pass / approve / deny / consent / dissent")
    defaulted: bool = Field(description="超时默认: nobody answered in time, taken as consent")
    created_at: datetime
    completed_at: datetime | None


class TaskListOut(BaseModel):
    items: list[TaskOut]


class CaseOut(BaseModel):
    case_no: str
    item_code: str
    item_version: int
    item_name: str
    region_code: str
    department: str
    status: CaseStatusName
    allowed_actions: list[str]
    decision: Literal["approve", "deny"] | None
    reasons: str
    process_source: str = Field(description="catalogue: the version's BPMN; default: 一审一核")
    joint: bool
    supplement: dict[str, Any] | None
    suspension: dict[str, Any] | None
    extension: dict[str, Any] | None
    certificate: dict[str, Any] | None
    delivery: dict[str, Any] | None
    decided_at: datetime | None
    tasks: list[TaskOut]


class CompleteTaskOut(BaseModel):
    task_id: str
    case_no: str
    status: Literal["done"]
    next_task_ids: list[str]
    case_status: CaseStatusName
