"""The case lifecycle (办件), keyed by case number on `zwfw.case`.

Producers: acceptance (received … fee charged at the window, withdrawn before review) and approval
(steps, joint review, suspensions, extension, decision, certificate, delivery, completion).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.contracts.catalogue import ProcessStep
from services.common.contracts.payloads import Actor, Applicant, EventPayload, TimeLimit
from services.common.contracts.topics import Topic


class Channel(StrEnum):
    window = "window"  # 综合窗口 (county 政务服务中心)
    township = "township"  # 乡镇（街道）为民服务中心
    village_agent = "village_agent"  # 村（社区）代办
    online = "online"  # 网上办理
    provincial = "provincial"  # pushed by the provincial platform (imported)


class _CaseEvent(EventPayload):
    topic: ClassVar[Topic] = Topic.case
    case_no: str = Field(description="办件编号")


class CaseReceived(_CaseEvent):
    """收件: materials received, acceptance not yet decided (the 5-working-day rule starts)."""

    event_type: ClassVar[str] = "zwfw.case.received.v1"
    item_code: str
    item_version: int
    region_code: str
    channel: Channel
    applicant: Applicant
    imported: bool = False  # pushed by the provincial platform: occurred_at is the source's receipt time


class ReceivedMaterial(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str
    name: str
    originals: int = 0
    copies: int = 0
    sha256: str | None = None


class CaseAccepted(_CaseEvent):
    """受理: carries what the case is pinned to from its item version (limits, process, publication),
    so no consumer depends on having seen that version on the catalogue topic first."""

    event_type: ClassVar[str] = "zwfw.case.accepted.v1"
    item_code: str
    item_version: int
    item_name: str
    item_type: str
    department: str
    region_code: str
    channel: Channel
    applicant: Applicant
    materials: list[ReceivedMaterial] = Field(default_factory=list)
    legal_limit: TimeLimit
    promised_limit: TimeLimit
    joint: bool = False
    case_type: str = "2"
    received_at: AwareDatetime
    promised_due_date: str = Field(description="承诺办结日期 on the receipt, YYYY-MM-DD")
    clerk: Actor
    receipt_no: str = Field(description="受理凭证编号")
    deferred_materials: list[str] = Field(default_factory=list, description="容缺 materials promised later")
    deferred_due_date: str | None = None
    imported: bool = False  # pushed by the provincial platform with its own times
    # 视为受理 (Art. 32(4)): no notice within 5 working days of receipt, so the case counts as accepted from the
    # day of receipt; occurred_at is then the receipt time, and the event is sent when the period ran out.
    deemed: bool = False
    process: list[ProcessStep] = Field(default_factory=list, description="the pinned version's steps")
    publish_results: bool = False  # 办件结果公示 as the pinned version says
    fee_charged: bool = False  # the pinned version charges a fee (行政许可法 Art. 58: free unless a law says so)
    process_bpmn: str = Field(default="", description=(
        "the pinned version's process as BPMN 2.0 XML (the exchange format), which approval executes; "
        "empty from versions published before it"))


class MissingMaterial(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str
    name: str
    reason: str


class SupplementRequested(_CaseEvent):
    """一次性告知: everything missing, listed once. During review it pauses the case clock."""

    event_type: ClassVar[str] = "zwfw.case.supplement_requested.v1"
    stage: str = Field(description="'acceptance' or 'review'")
    missing: list[MissingMaterial]
    notice_no: str
    actor: Actor
    supply_by: str | None = None


class SupplementSupplied(_CaseEvent):
    """补正: the applicant brought what the notice listed."""

    event_type: ClassVar[str] = "zwfw.case.supplement_supplied.v1"
    stage: str
    materials: list[ReceivedMaterial] = Field(default_factory=list)
    actor: Actor | None = None


class CaseRejected(_CaseEvent):
    """不予受理: with reason, legal basis and the competent agency where known."""

    event_type: ClassVar[str] = "zwfw.case.rejected.v1"
    reason: str
    legal_basis: str = ""
    competent_agency: str = ""
    actor: Actor


class StepStarted(_CaseEvent):
    event_type: ClassVar[str] = "zwfw.case.step_started.v1"
    step_code: str
    step_name: str
    task_id: str
    role: str
    department: str = ""
    limit: TimeLimit | None = None


class StepCompleted(_CaseEvent):
    event_type: ClassVar[str] = "zwfw.case.step_completed.v1"
    step_code: str
    step_name: str
    task_id: str
    actor: Actor
    opinion: str
    outcome: str = Field(default="pass", description="pass / approve / deny / return")


class JointReviewRequested(_CaseEvent):
    """并联审批 opinion requested from a department, with its limit and its default (超时默认)."""

    event_type: ClassVar[str] = "zwfw.case.joint_review_requested.v1"
    department: str
    task_id: str
    limit: TimeLimit
    default_on_timeout: str = "consent"


class JointReviewAnswered(_CaseEvent):
    event_type: ClassVar[str] = "zwfw.case.joint_review_answered.v1"
    department: str
    task_id: str
    opinion: str
    consent: bool
    by_default: bool = False  # 超时默认 / 缺席默认
    actor: Actor | None = None


class SuspensionReason(StrEnum):
    """Time the law excludes from the clock (行政许可法 Art. 45) and the applicant's supplement."""

    hearing = "hearing"  # 听证
    tendering = "tendering"  # 招标
    auction = "auction"  # 拍卖
    inspection = "inspection"  # 检验
    testing = "testing"  # 检测
    quarantine = "quarantine"  # 检疫
    appraisal = "appraisal"  # 鉴定
    expert_review = "expert_review"  # 专家评审
    applicant_supplement = "applicant_supplement"  # 申请人补正
    third_party_consultation = "third_party_consultation"  # 征求第三方意见


class CaseSuspended(_CaseEvent):
    """特别程序 (GB/T 39046 kind 2): the clock stops."""

    event_type: ClassVar[str] = "zwfw.case.suspended.v1"
    suspension_id: str
    reason: SuspensionReason
    explanation: str = ""
    expected_days: int | None = None
    actor: Actor


class CaseResumed(_CaseEvent):
    event_type: ClassVar[str] = "zwfw.case.resumed.v1"
    suspension_id: str
    result: str = ""
    actor: Actor | None = None


class CaseExtended(_CaseEvent):
    """延长审批 (GB/T 39046 特别程序 kind 1): the legal limit moves once."""

    event_type: ClassVar[str] = "zwfw.case.extended.v1"
    extension: TimeLimit
    reason: str
    approved_by: Actor


class Decision(StrEnum):
    approve = "approve"  # 准予许可
    deny = "deny"  # 不予许可


class CaseDecided(_CaseEvent):
    event_type: ClassVar[str] = "zwfw.case.decided.v1"
    decision: Decision
    reasons: str = ""
    remedy_notice: str = ""  # right to administrative review (60 days) or litigation (6 months)
    actor: Actor


class CertificateIssued(_CaseEvent):
    """制证: licence number, verification code and the electronic licence's content hash."""

    event_type: ClassVar[str] = "zwfw.case.certificate_issued.v1"
    certificate_no: str
    verification_code: str
    content_sha256: str
    actor: Actor


class DeliveryMethod(StrEnum):
    window = "window"
    post = "post"
    electronic = "electronic"


class CaseDelivered(_CaseEvent):
    """送达."""

    event_type: ClassVar[str] = "zwfw.case.delivered.v1"
    method: DeliveryMethod
    receiver: str
    actor: Actor | None = None


class CaseCompleted(_CaseEvent):
    """办结: the clock ends; results are published where the item says so."""

    event_type: ClassVar[str] = "zwfw.case.completed.v1"
    item_code: str
    item_version: int | None = None
    item_name: str
    region_code: str
    result: str = Field(description="approve / deny / done (即办) ")
    result_summary: str = ""
    publish_result: bool = False  # never publish by default: only what the item says (domain.md §5)


class CaseWithdrawn(_CaseEvent):
    """撤回 by the applicant before decision; a published result disappears."""

    event_type: ClassVar[str] = "zwfw.case.withdrawn.v1"
    reason: str = ""
    actor: Actor | None = None


class FeeCharged(_CaseEvent):
    """收费 from the published fee standard, with the lawful receipt (票据) number."""

    event_type: ClassVar[str] = "zwfw.case.fee_charged.v1"
    amount_fen: int = Field(ge=0, description="amount in fen (分)")
    fee_item: str
    receipt_no: str
    actor: Actor


def deadline_date(dt: datetime) -> str:
    return dt.date().isoformat()
