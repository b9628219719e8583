"""The approval process (办理流程) as a state machine: steps in order, a decision only on the last one.

Pure: no I/O, no clock. The service layer loads the state, asks this module what happens, and
writes the answer down with its events in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.approval.domain.exceptions import (
    CaseNotActive,
    DecisionNotAllowed,
    DecisionRequired,
    ReasonsRequired,
    StepNotInProcess,
    TaskNotOpen,
)
from services.common.contracts.payloads import TimeLimit


class CaseStatus(StrEnum):
    in_review = "in_review"  # 审查中
    decided = "decided"  # 已决定 (a certificate or delivery may still follow)
    completed = "completed"  # 办结
    withdrawn = "withdrawn"  # 撤回


class TaskStatus(StrEnum):
    open = "open"  # 待办
    done = "done"  # 已办
    cancelled = "cancelled"  # 撤回时作废


class Action(StrEnum):
    complete_task = "complete_task"  # 办理环节（审查/审核/决定）
    withdraw = "withdraw"  # 申请人撤回
    complete = "complete"  # 办结 after a decision that needs no further step


class Decision(StrEnum):
    approve = "approve"  # 准予许可
    deny = "deny"  # 不予许可


class StepOutcome(StrEnum):
    passed = "pass"  # 通过, handed to the next step
    approve = "approve"
    deny = "deny"


# Which action each case state allows; a state absent from a row allows nothing.
ALLOWED_ACTIONS: dict[CaseStatus, tuple[Action, ...]] = {
    CaseStatus.in_review: (Action.complete_task, Action.withdraw),
    CaseStatus.decided: (Action.complete,),
    CaseStatus.completed: (),
    CaseStatus.withdrawn: (),
}

_NEXT_STATE: dict[tuple[CaseStatus, Action], CaseStatus] = {
    (CaseStatus.in_review, Action.withdraw): CaseStatus.withdrawn,
    (CaseStatus.decided, Action.complete): CaseStatus.completed,
}

# 行政复议法 Art. 20 (60 days) and 行政诉讼法 Art. 46 (6 months): a refusal must tell the applicant both remedies.
REMEDY_NOTICE = (
    "申请人如对本不予许可决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，"
    "或者自收到本决定书之日起六个月内依法向人民法院提起行政诉讼。"
)


@dataclass(frozen=True)
class Step:
    """One step of the item's process (办理环节), frozen on the case when it opens."""

    code: str
    name: str
    role: str
    limit: TimeLimit | None = None


# 一审一核: common practice for general items when the catalogue gives no process (domain.md §3).
DEFAULT_PROCESS: tuple[Step, ...] = (
    Step(code="review", name="审查", role="approver"),
    Step(code="decide", name="决定", role="department_head"),
)


def process_of(steps: Iterable[Step]) -> tuple[Step, ...]:
    """The pinned version's steps in order, or 一审一核 when it has none (or is not known yet)."""
    ordered = tuple(steps)
    if not ordered:
        return DEFAULT_PROCESS
    codes = [s.code for s in ordered]
    if len(codes) != len(set(codes)):
        # A step code names a step uniquely inside a case; a repeated code would make "next" ambiguous.
        raise ValueError(f"process has repeated step codes: {codes}")
    return ordered


def allowed_actions(status: CaseStatus) -> list[str]:
    return [a.value for a in ALLOWED_ACTIONS[status]]


def _require(status: CaseStatus, action: Action) -> None:
    if action not in ALLOWED_ACTIONS[status]:
        raise CaseNotActive(status.value, allowed_actions(status))


def first_step(process: tuple[Step, ...]) -> Step:
    return process[0]


def step_index(process: tuple[Step, ...], step_code: str) -> int:
    for i, step in enumerate(process):
        if step.code == step_code:
            return i
    raise StepNotInProcess(step_code)


def next_step(process: tuple[Step, ...], step_code: str) -> Step | None:
    """The step after `step_code`, or None when it is the last (the deciding step)."""
    i = step_index(process, step_code)
    return process[i + 1] if i + 1 < len(process) else None


def is_final(process: tuple[Step, ...], step_code: str) -> bool:
    return next_step(process, step_code) is None


@dataclass(frozen=True)
class Completion:
    """What completing a step means: its outcome, the step that follows, and the case state after it."""

    outcome: StepOutcome
    next_step: Step | None
    decision: Decision | None
    case_status: CaseStatus


def complete_step(
    case_status: CaseStatus,
    task_status: TaskStatus,
    process: tuple[Step, ...],
    step_code: str,
    decision: Decision | None,
    reasons: str = "",
) -> Completion:
    """Validates completing the open task of `step_code` and says what follows.

    A decision belongs to the last step only: an earlier step passes the case on, so a decision there
    would be a decision taken by someone without the authority to take it.
    """
    _require(case_status, Action.complete_task)
    if task_status is not TaskStatus.open:
        raise TaskNotOpen(task_status.value)
    following = next_step(process, step_code)
    if following is not None:
        if decision is not None:
            raise DecisionNotAllowed(step_code)
        return Completion(StepOutcome.passed, following, None, CaseStatus.in_review)
    if decision is None:
        raise DecisionRequired(step_code)
    if decision is Decision.deny and not reasons.strip():
        raise ReasonsRequired()
    return Completion(StepOutcome(decision.value), None, decision, CaseStatus.decided)


def finish(case_status: CaseStatus) -> CaseStatus:
    """办结 after the decision: nothing (certificate, delivery) is modelled between them yet."""
    _require(case_status, Action.complete)
    return _NEXT_STATE[(case_status, Action.complete)]


def withdraw(case_status: CaseStatus) -> CaseStatus | None:
    """The state after a withdrawal, or None when the case is already withdrawn (nothing to do)."""
    if case_status is CaseStatus.withdrawn:
        return None
    _require(case_status, Action.withdraw)
    return _NEXT_STATE[(case_status, Action.withdraw)]


def remedy_notice(decision: Decision) -> str:
    return REMEDY_NOTICE if decision is Decision.deny else ""


def result_summary(decision: Decision, item_name: str) -> str:
    """The published line (办件结果公示). Reasons stay out: they may name the applicant (domain.md §5)."""
    verdict = "准予许可" if decision is Decision.approve else "不予许可"
    return f"{item_name}：{verdict}"
