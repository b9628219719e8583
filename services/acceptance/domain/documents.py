"""The documents (文书) the acceptance outcomes issue, named once: the API's answer and the printed page use
the same kind, title and number prefix (行政许可法 Art. 32: every outcome is given in writing)."""

from __future__ import annotations

from enum import StrEnum

from services.common.contracts.case import Channel


class DocumentKind(StrEnum):
    """The URL slug of each document; the Chinese title is in TITLES."""

    receipt = "receipt"  # 受理凭证
    supplement_notice = "supplement-notice"  # 一次性告知书（补正材料）
    refusal = "refusal"  # 不予受理决定书
    correction = "correction"  # 当场更正记录
    completion = "completion"  # 即办件办结通知书
    deferral_promise = "deferral-promise"  # 容缺受理承诺书
    intake_receipt = "intake-receipt"  # 收件凭证: received, acceptance decided later (5-working-day rule)


TITLES = {
    DocumentKind.receipt: "受理凭证",
    DocumentKind.supplement_notice: "补正材料一次性告知书",
    DocumentKind.refusal: "不予受理决定书",
    DocumentKind.correction: "当场更正记录",
    DocumentKind.completion: "即办件办结通知书",
    DocumentKind.deferral_promise: "容缺受理承诺书",
    DocumentKind.intake_receipt: "申请材料收件凭证",
}
# Every document number is prefix + case number, so a document can be numbered again identically when it is
# printed again. An outcome's own document keeps the number stored with the case (document_no), which for a
# 容缺 case is RQ (domain/outcomes.py): its receipt says at a glance that materials are still owed.
PREFIXES = {
    DocumentKind.receipt: "SL", DocumentKind.supplement_notice: "BZ", DocumentKind.refusal: "BY",
    DocumentKind.correction: "GZ", DocumentKind.completion: "JB", DocumentKind.deferral_promise: "CN",
    DocumentKind.intake_receipt: "SJ",
}
# The document each outcome issues (by the outcome's value: stored cases carry it as text).
PRIMARY_KIND = {
    "accepted": DocumentKind.receipt, "corrected": DocumentKind.receipt, "deferred": DocumentKind.receipt,
    "supplement_requested": DocumentKind.supplement_notice, "rejected": DocumentKind.refusal,
    "completed": DocumentKind.completion, "received": DocumentKind.intake_receipt,
}
# 受理窗口 as each channel is named on the documents and in the answer.
CHANNEL_NAMES = {
    Channel.window: "县级政务服务中心综合窗口",
    Channel.township: "乡镇（街道）为民服务中心",
    Channel.village_agent: "村（社区）代办点（免费代办）",
    Channel.online: "网上办理",
    Channel.provincial: "省级政务服务平台推送",
}
