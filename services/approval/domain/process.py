"""What may happen to a case in approval (审批), and in which state: plain rules, no I/O, no clock.

The route a case takes through its steps is its BPMN process, run by the engine (adapters/bpmn_engine.py);
this module holds what the engine does not know: the case's states around the steps (补正, 特别程序, 决定,
制证, 送达, 办结), the actions each state allows, and the law's conditions on each action (reasons for a
refusal, one extension of 10 or 15 working days, a lawful reason and a told duration for a suspension, one
request for supplements during review).
"""

from __future__ import annotations

from enum import StrEnum

from services.approval.domain.exceptions import (
    ApprovalConflict,
    CaseNotActive,
    ReasonsRequired,
)
from services.common.contracts.case import SuspensionReason
from services.common.contracts.payloads import LimitUnit, TimeLimit


class CaseStatus(StrEnum):
    in_review = "in_review"  # 审查中
    supplement_requested = "supplement_requested"  # 补正中 (the case clock paused)
    suspended = "suspended"  # 特别程序中 (the clock paused, 行政许可法 Art. 45)
    decided = "decided"  # 已决定
    certified = "certified"  # 已制证
    delivered = "delivered"  # 已送达
    completed = "completed"  # 办结
    withdrawn = "withdrawn"  # 撤回


class TaskStatus(StrEnum):
    open = "open"  # 待办
    done = "done"  # 已办
    cancelled = "cancelled"  # 撤回时作废


class TaskKind(StrEnum):
    step = "step"  # 承办 / 审核 / 决定
    department = "department"  # 并联审批: one department's opinion


class Action(StrEnum):
    claim = "claim"  # 签收
    release = "release"  # 退回待办
    complete_task = "complete_task"  # 办理环节（审查/审核/决定，会签意见）
    request_supplement = "request_supplement"  # 审查中一次性告知补正
    supplement_received = "supplement_received"  # 补正材料收到，恢复审查
    suspend = "suspend"  # 特别程序
    resume = "resume"
    extend = "extend"  # 延长审批期限
    issue_certificate = "issue_certificate"  # 制证
    deliver = "deliver"  # 送达
    complete = "complete"  # 办结
    withdraw = "withdraw"  # 申请人撤回 (from acceptance's event)


class Decision(StrEnum):
    approve = "approve"  # 准予许可
    deny = "deny"  # 不予许可


class StepOutcome(StrEnum):
    passed = "pass"  # 通过, handed to the next step
    approve = "approve"
    deny = "deny"
    consent = "consent"  # 会签同意
    dissent = "dissent"  # 会签不同意


_IN_REVIEW = (Action.claim, Action.release, Action.complete_task, Action.request_supplement, Action.suspend,
              Action.extend, Action.withdraw)
ALLOWED_ACTIONS: dict[CaseStatus, tuple[Action, ...]] = {
    CaseStatus.in_review: _IN_REVIEW,
    CaseStatus.supplement_requested: (Action.supplement_received, Action.extend, Action.withdraw),
    CaseStatus.suspended: (Action.resume, Action.extend, Action.withdraw),
    # A refusal is served without a licence; an approval gets its licence first (Art. 44).
    CaseStatus.decided: (Action.issue_certificate, Action.deliver),
    CaseStatus.certified: (Action.deliver,),
    CaseStatus.delivered: (Action.complete,),
    CaseStatus.completed: (),
    CaseStatus.withdrawn: (),
}

# 行政复议法 Art. 20 (60 days) and 行政诉讼法 Art. 46 (6 months): a refusal must tell the applicant both remedies.
REMEDY_NOTICE = (
    "申请人如对本不予许可决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，"
    "或者自收到本决定书之日起六个月内依法向人民法院提起行政诉讼。"
)
# 行政许可法 Art. 42: 10 working days more with the head's approval; Art. 26 joint handling: 15.
EXTENSION_DAYS = 10
JOINT_EXTENSION_DAYS = 15
MAX_SUSPENSION_DAYS = 365
# The applicant's supplement has its own action (request_supplement), with the notice's list.
SUSPENSION_REASONS = frozenset(SuspensionReason) - {SuspensionReason.applicant_supplement}


def _actions(status: CaseStatus, decision: str | None) -> tuple[Action, ...]:
    if status is CaseStatus.decided:  # the licence for an approval, the decision served for a refusal
        return (Action.issue_certificate,) if decision == Decision.approve.value else (Action.deliver,)
    return ALLOWED_ACTIONS[status]


def allowed_actions(status: CaseStatus, decision: str | None = None) -> list[str]:
    return [a.value for a in _actions(status, decision)]


def require(status: CaseStatus, action: Action, decision: str | None = None) -> None:
    if action not in _actions(status, decision):
        raise CaseNotActive(status.value, allowed_actions(status, decision))


def check_decision(decision: str | None, reasons: str, deciding: bool) -> Decision | None:
    """The deciding step must decide, other steps must not; a refusal states its reasons (Art. 38)."""
    if not deciding:
        if decision is not None:
            raise ApprovalConflict("该环节不是决定环节，不能作出许可决定", slug_override="decision-not-allowed")
        return None
    if decision is None:
        raise ApprovalConflict("决定环节必须作出准予或不予许可的决定", slug_override="decision-required")
    chosen = Decision(decision)
    if chosen is Decision.deny and not reasons.strip():
        raise ReasonsRequired()
    return chosen


def extension_limit(joint: bool) -> TimeLimit:
    days = JOINT_EXTENSION_DAYS if joint else EXTENSION_DAYS
    note = "联合办理延长十五个工作日（行政许可法第四十二条）" if joint else "延长十个工作日（行政许可法第四十二条）"
    return TimeLimit(value=days, unit=LimitUnit.working_days, note=note)


def check_extension(already_extended: bool) -> None:
    if already_extended:
        raise ApprovalConflict("审批期限只能延长一次（行政许可法第四十二条）", slug_override="already-extended")


def check_suspension(reason: SuspensionReason, expected_days: int) -> None:
    if reason not in SUSPENSION_REASONS:
        raise ApprovalConflict("申请人补正请使用一次性告知补正", slug_override="suspension-reason-invalid")
    if not 1 <= expected_days <= MAX_SUSPENSION_DAYS:
        raise ApprovalConflict("特别程序须告知申请人所需时间（1–365 日）", slug_override="suspension-duration-invalid")


def check_supplement_request(already_requested: bool) -> None:
    """审查中的补正 is asked once, listing everything (一次性告知): a second request cannot add materials."""
    if already_requested:
        raise ApprovalConflict("审查阶段已一次性告知补正，不能再次要求补正",
                               slug_override="supplement-already-requested")


def remedy_notice(decision: Decision) -> str:
    return REMEDY_NOTICE if decision is Decision.deny else ""


def result_summary(decision: Decision, item_name: str) -> str:
    """The published line (办件结果公示). Reasons stay out: they may name the applicant (domain.md §5)."""
    verdict = "准予许可" if decision is Decision.approve else "不予许可"
    return f"{item_name}：{verdict}"
