"""Request bodies of the information-disclosure API (政府信息公开). Unknown fields are refused and every
string and list is bounded; the rules themselves (Art. 30 notice window, extension bound, reply reasons)
are the domain's, so each refusal says in Chinese which rule."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.common.bounds import Day, Instant
from services.common.contracts.payloads import LimitUnit
from services.disclosure.domain.information_directory import DocumentKind, Validity
from services.disclosure.domain.information_requests import (
    ApplicantKind,
    Channel,
    ConsultationOutcome,
    Ground,
    PartyKind,
    ReplyType,
)
from services.disclosure.domain.processing_fee import FeeMode

_REGION = r"^\d{12}$"
_CODE = r"^[0-9A-Za-z][0-9A-Za-z_\-]{0,31}$"
# The gateway refuses bodies over 1 MiB (gateway/config.py max_body_bytes): base64 of 700 KiB is ~933 KiB,
# which leaves room for the rest of the document within one request.
MAX_ATTACHMENT_BYTES = 700 * 1024
_MAX_BASE64 = (MAX_ATTACHMENT_BYTES + 2) // 3 * 4


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---- directory (主动公开目录) ---------------------------------------------------------------------------

class CategoryIn(_In):
    region_code: str = Field(pattern=_REGION, description="12-digit region code of the body")
    code: str = Field(pattern=_CODE, description="类别编码")
    name: str = Field(min_length=1, max_length=100, description="类别名称")
    parent_code: str | None = Field(default=None, pattern=_CODE, description="上级类别编码")


class AttachmentIn(_In):
    filename: str = Field(min_length=1, max_length=200)
    media_type: str = Field(default="application/pdf", max_length=100, pattern=r"^[\w.+\-]+/[\w.+\-]+$")
    content_base64: str = Field(min_length=1, max_length=_MAX_BASE64, description="the file, base64 (≤ 700 KiB)")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$",
                               description="optional: checked against the file's own hash")


class DocumentContentIn(_In):
    category_code: str = Field(pattern=_CODE)
    title: str = Field(min_length=1, max_length=300, description="标题")
    issuing_body: str = Field(min_length=1, max_length=100, description="发布机构")
    document_number: str = Field(default="", max_length=100, description="文号")
    issue_date: Day = Field(description="成文日期")
    valid_from: Day | None = Field(default=None, description="生效日期")
    valid_to: Day | None = Field(default=None, description="失效日期")
    validity: Validity = Field(default=Validity.valid, description="效力: valid 有效 / expired 失效 / repealed 废止")
    kind: DocumentKind = Field(default=DocumentKind.other, description="regulation 规章 / normative 规范性文件 / other")
    body_text: str = Field(default="", max_length=200_000, description="正文")
    attachment: AttachmentIn | None = None


class DocumentIn(DocumentContentIn):
    region_code: str = Field(pattern=_REGION)


class AmendIn(_In):
    reason: str = Field(min_length=1, max_length=500, description="修订理由")
    content: DocumentContentIn


class ReasonIn(_In):
    reason: str = Field(min_length=1, max_length=500)


# ---- requests (依申请公开) -----------------------------------------------------------------------------

class ApplicantIn(_In):
    kind: ApplicantKind = ApplicantKind.natural_person
    name: str = Field(min_length=1, max_length=100, description="姓名或名称")
    id_type: str = Field(default="resident_id", pattern=r"^(resident_id|uscc|passport|other)$",
                         description="resident_id 身份证 / uscc 统一社会信用代码 / passport / other")
    id_number: str = Field(min_length=4, max_length=40, pattern=r"^[0-9A-Za-z\-]+$", description="证件号码")
    contact_person: str = Field(default="", max_length=100, description="联系人（法人或其他组织）")
    phone: str = Field(default="", max_length=30, pattern=r"^[0-9+\- ]*$")
    email: str = Field(default="", max_length=100)
    address: str = Field(default="", max_length=300, description="通信地址")


class RequestIn(_In):
    region_code: str = Field(pattern=_REGION, description="the region of the agency asked")
    agency: str = Field(min_length=1, max_length=100, description="受理申请的行政机关")
    applicant: ApplicantIn
    information_wanted: str = Field(min_length=1, max_length=4000, description="所需政府信息的名称、文号或描述")
    delivery_form: str = Field(default="electronic", pattern=r"^(paper|electronic|email|post|pickup)$",
                               description="获取信息的方式: paper / electronic / email / post / pickup")
    # Registered at the window by an officer; a public submission is always online.
    channel: Channel = Channel.online
    submitted_at: Instant | None = Field(default=None, description="递交时间 (in person; default now)")
    signed_for_at: Instant | None = Field(default=None, description="签收时间 (registered post)")
    confirmed_at: Instant | None = Field(default=None, description="与申请人确认收到的时间 (post, fax, email)")


class SupplyWithinIn(_In):
    value: int = Field(ge=1, le=1000)
    unit: LimitUnit = LimitUnit.working_days


class SupplementNoticeIn(_In):
    what: str = Field(min_length=1, max_length=2000, description="需要补正的事项")
    supply_within: SupplyWithinIn = Field(description="合理的补正期限")


class SupplementIn(_In):
    note: str = Field(default="", max_length=2000)
    received_at: Instant | None = Field(default=None, description="补正材料收到的时间 (default now)")


class ConsultationIn(_In):
    party: str = Field(min_length=1, max_length=100, description="第三方或其他机关")
    party_kind: PartyKind = PartyKind.third_party


class ConsultationEndIn(_In):
    outcome: ConsultationOutcome
    answer: str = Field(default="", max_length=2000)


class ExtensionIn(_In):
    working_days: int = Field(ge=1, le=1000, description="延长的工作日数 (at most 20, Art. 33)")
    reason: str = Field(min_length=1, max_length=1000)
    approved_by: str = Field(min_length=1, max_length=100, description="批准的政府信息公开工作机构负责人")


class ReplyIn(_In):
    reply_type: ReplyType
    reasons: str = Field(default="", max_length=4000, description="理由 (required for refusals and partial disclosure)")
    grounds: list[Ground] = Field(default_factory=list, max_length=8, description="年度报告统计的理由分类")
    where: str = Field(default="", max_length=500, description="已主动公开的获取方式和途径")
    competent_agency: str = Field(default="", max_length=100, description="负责公开的机关 (not this agency's)")
    fee_mode: FeeMode = FeeMode.none
    pages: int | None = Field(default=None, ge=0, le=1_000_000, description="按量计收的页数")


class WithdrawIn(_In):
    reason: str = Field(default="", max_length=500)
    access_code: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="the code printed on the receipt: lets the applicant withdraw")
