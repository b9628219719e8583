"""The outcomes of 行政许可法 Art. 32 as one decision function, and the rules around them. No I/O.

The clerk chooses two outcomes by judgement: 不予受理 (refusal: no licence needed, or not this agency's
competence) and 当场更正 (an error corrected on the spot). The rest follows from the materials alone:
complete → 受理 (or 即办 for a case_type "1" item, Art. 34); short only of materials the clerk lists as
容缺 → 容缺受理 with a dated promise; otherwise → 一次性告知 of everything missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from services.acceptance.domain.documents import PRIMARY_KIND, TITLES
from services.acceptance.domain.model import Shortfall, SubmittedMaterial, missing_materials
from services.common.contracts.catalogue import MaterialSpec

INSTANT_CASE_TYPE = "1"  # GB/T 39046: 1 即办件, 2 承诺件
# 容缺受理 never covers the application itself: without the signed form there is no application to accept.
APPLICATION_FORM_WORDS = ("申请书", "申请表")
# Longest promise a clerk may take for 容缺 materials (calendar days); longer is a notice, not a 容缺.
MAX_DEFERRAL_DAYS = 30


class Outcome(StrEnum):
    accepted = "accepted"  # 受理 (受理凭证)
    supplement_requested = "supplement_requested"  # 一次性告知 (补正告知书)
    rejected = "rejected"  # 不予受理 (不予受理决定书)
    corrected = "corrected"  # 当场更正, then 受理
    completed = "completed"  # 即办件: accepted and completed at the window
    deferred = "deferred"  # 容缺受理: accepted, listed minor materials promised by a date
    # Not an outcome of Art. 32 but the wait before one: materials received (online, or left at a centre),
    # the decision due within 5 working days (domain/intake.py). decide() never returns it.
    received = "received"  # 收件 (收件凭证)


# The title of the document each outcome issues: the printed page's (domain/documents.py), one name each.
DOCUMENT_TITLES = {outcome: TITLES[PRIMARY_KIND[outcome.value]] for outcome in Outcome}
DOCUMENT_PREFIXES = {
    Outcome.accepted: "SL", Outcome.supplement_requested: "BZ", Outcome.rejected: "BY",
    Outcome.corrected: "SL", Outcome.completed: "JB", Outcome.deferred: "RQ", Outcome.received: "SJ",
}




class OutcomeRefused(ValueError):
    """The request cannot lead to any outcome as sent: the API answers 422 with `code` and the reason."""

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra


@dataclass(frozen=True)
class Refusal:
    """不予受理, chosen by the clerk: why, under which provision, and who is competent where known."""

    reason: str
    legal_basis: str = ""
    competent_agency: str = ""


@dataclass(frozen=True)
class Correction:
    """当场更正: what was wrong on the form and what the applicant wrote instead, initialled at the window."""

    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Deferral:
    """容缺: the materials the clerk lists as minor, the date the applicant promises, the promise's number."""

    materials: tuple[str, ...]
    due_date: date
    promise_ref: str = ""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    missing: list[Shortfall] = field(default_factory=list)  # for the notice: everything, at once
    deferred: list[Shortfall] = field(default_factory=list)  # for 容缺: what the promise covers

    @property
    def accepts(self) -> bool:
        return self.outcome in (Outcome.accepted, Outcome.corrected, Outcome.completed, Outcome.deferred)


def is_application_form(spec: MaterialSpec) -> bool:
    return any(word in spec.name for word in APPLICATION_FORM_WORDS)


def check_deferral(specs: list[MaterialSpec], shortfalls: list[Shortfall], deferral: Deferral,
                   today: date) -> None:
    """The 容缺 rule: only materials the clerk lists, each a required one that is actually short, never the
    application form, never every required material, and a promise date after today within the limit."""
    by_code = {s.code: s for s in specs}
    short = {s.code for s in shortfalls}
    listed = list(deferral.materials)
    if len(listed) != len(set(listed)):
        raise OutcomeRefused("deferral-invalid", "容缺材料重复")
    for code in listed:
        spec = by_code.get(code)
        if spec is None or not spec.required:
            raise OutcomeRefused("deferral-invalid", f"材料 {code} 不是该事项的必要材料，不能容缺", material=code)
        if is_application_form(spec):
            raise OutcomeRefused("deferral-not-allowed", f"{spec.name}不能容缺：没有申请书就没有申请",
                                 material=code)
        if code not in short:
            raise OutcomeRefused("deferral-invalid", f"{spec.name}已经齐全，无需容缺", material=code)
    required = [s.code for s in specs if s.required]
    if required and set(required) <= set(listed):
        raise OutcomeRefused("deferral-not-allowed", "不能全部必要材料容缺")
    if not today < deferral.due_date <= date.fromordinal(today.toordinal() + MAX_DEFERRAL_DAYS):
        raise OutcomeRefused("deferral-due-date",
                             f"容缺材料承诺补齐日期须在今天之后 {MAX_DEFERRAL_DAYS} 日以内",
                             due_date=deferral.due_date.isoformat())


def decide(specs: list[MaterialSpec], submitted: list[SubmittedMaterial], case_type: str, today: date,
           refusal: Refusal | None = None, corrections: list[Correction] | None = None,
           deferral: Deferral | None = None) -> Decision:
    """One of the outcomes of Art. 32 for this application (raises OutcomeRefused when none fits as sent)."""
    if refusal is not None:
        if corrections or deferral is not None:
            raise OutcomeRefused("outcome-conflict", "不予受理不能同时当场更正或容缺受理")
        return Decision(Outcome.rejected)
    shortfalls = missing_materials(specs, submitted)
    if deferral is not None and deferral.materials:
        check_deferral(specs, shortfalls, deferral, today)
        deferred_codes = set(deferral.materials)
        rest = [s for s in shortfalls if s.code not in deferred_codes]
        if not rest:
            return Decision(Outcome.deferred, deferred=[s for s in shortfalls if s.code in deferred_codes])
        # Something else is missing too: the notice lists everything, 容缺 materials included (一次性告知).
        return Decision(Outcome.supplement_requested, missing=shortfalls)
    if shortfalls:
        return Decision(Outcome.supplement_requested, missing=shortfalls)
    if case_type == INSTANT_CASE_TYPE:
        return Decision(Outcome.completed)  # Art. 34: decided on the spot
    if corrections:
        return Decision(Outcome.corrected)
    return Decision(Outcome.accepted)


def check_supplement(notice: list[str], brought: list[str]) -> list[str]:
    """补正 may bring only what the notice listed: the codes outside it (the service refuses them, so a
    second notice with new materials cannot happen — 一次性告知 enforced)."""
    listed = set(notice)
    return [code for code in brought if code not in listed]


def check_imported_times(received_at: datetime, accepted_at: datetime | None, now: datetime) -> str | None:
    """A provincial platform's times are its own, never silently trusted: the reason to refuse, or None."""
    if received_at > now:
        return "收件时间晚于当前时间"
    if accepted_at is not None and accepted_at > now:
        return "受理时间晚于当前时间"
    if accepted_at is not None and accepted_at < received_at:
        return "受理时间早于收件时间"
    return None


def check_fee(fee_charged: bool, standard_fen: int | None, amount_fen: int) -> str | None:
    """Art. 58: free unless published; never above the published standard. The reason to refuse, or None."""
    if not fee_charged:
        return "该事项不收费（行政许可法第五十八条），不能收取费用"
    if amount_fen <= 0:
        return "收费金额必须大于零"
    if standard_fen is not None and amount_fen > standard_fen:
        return f"收费金额 {amount_fen} 分高于公布的收费标准 {standard_fen} 分"
    return None


def document_number(outcome: Outcome, case_no: str) -> str:
    return f"{DOCUMENT_PREFIXES[outcome]}{case_no}"


def outcome_texts(outcome: Outcome, item_name: str, record: dict[str, Any]) -> dict[str, str]:
    """The sentences of the printable document, in Chinese; the renderer lays them out, it does not word them."""
    case_no = record["case_no"]
    progress = f"可凭办件编号 {case_no} 及申请人证件号码后六位查询办理进度。"
    if outcome is Outcome.rejected:
        refusal = record.get("refusal") or {}
        body = f"您申请的「{item_name}」，经审查决定不予受理。理由：{refusal.get('reason', '')}。"
        if refusal.get("legal_basis"):
            body += f"依据：{refusal['legal_basis']}。"
        if refusal.get("competent_agency"):
            body += f"请向{refusal['competent_agency']}提出申请。"
        remedy = "如不服本决定，可自收到本通知书之日起六十日内申请行政复议，或者六个月内提起行政诉讼。"
        return {"body": body, "remedy": remedy, "progress_hint": ""}
    if outcome is Outcome.received:
        body = (f"您申请的「{item_name}」的申请材料已收到。本机关将于 {record.get('decision_due_date')} 前作出是否受理"
                "的决定；材料不齐全的，在此之前一次性告知需要补正的全部内容，逾期未告知的，自收到申请材料之日起即为受理。")
        return {"body": body, "progress_hint": progress}
    if outcome is Outcome.supplement_requested:
        listed = "；".join(f"{m['name']}（{m['reason']}）" for m in record["missing"])
        body = (f"您申请的「{item_name}」，申请材料不齐全或者不符合法定形式，请一次性补正以下材料：{listed}。"
                "补齐后本机关即予受理，补正期间不再要求本告知书以外的材料。")
        return {"body": body, "progress_hint": progress}
    due = record.get("promised_due_date")
    body = f"您申请的「{item_name}」，申请材料齐全、符合法定形式，决定予以受理，承诺办结日期为 {due}。"
    if record.get("deemed_accepted"):
        body = (f"您申请的「{item_name}」，本机关未在收到申请材料之日起五个工作日内告知补正，依照《中华人民共和国"
                f"行政许可法》第三十二条第一款第（四）项，自收到申请材料之日起即为受理，承诺办结日期为 {due}。")
    if outcome is Outcome.corrected:
        fixed = "；".join(f"{c['field']}：「{c['before']}」更正为「{c['after']}」"
                         for c in record.get("corrections") or [])
        body = f"申请材料中存在可以当场更正的错误，已由申请人当场更正（{fixed}）。" + body
    elif outcome is Outcome.completed:
        body = f"您申请的「{item_name}」为即办件，申请材料齐全、符合法定形式，已当场办结。"
    elif outcome is Outcome.deferred:
        names = "、".join(m["name"] for m in record.get("deferred_materials") or [])
        body += (f"其中{names}实行容缺受理，申请人已书面承诺于 {record.get('deferred_due_date')} 前补齐；"
                 "逾期未补齐的，按承诺书约定处理。")
    return {"body": body, "progress_hint": progress}
