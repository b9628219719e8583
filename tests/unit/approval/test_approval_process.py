"""The approval state machine: step order, where a decision may be taken, what each state allows."""

from __future__ import annotations

import pytest

from services.approval.domain import process as flow
from services.approval.domain.exceptions import (
    CaseNotActive,
    DecisionNotAllowed,
    DecisionRequired,
    ReasonsRequired,
    StepNotInProcess,
    TaskNotOpen,
)
from services.approval.domain.process import CaseStatus, Decision, Step, StepOutcome, TaskStatus
from services.common.contracts.payloads import LimitUnit, TimeLimit

THREE_STEPS = (
    Step("undertake", "承办", "approver", TimeLimit(value=3, unit=LimitUnit.working_days)),
    Step("audit", "审核", "approver"),
    Step("decide", "决定", "department_head"),
)


def test_empty_process_falls_back_to_one_review_one_decision() -> None:
    steps = flow.process_of([])
    assert [(s.code, s.name, s.role) for s in steps] == [
        ("review", "审查", "approver"), ("decide", "决定", "department_head")]


def test_published_process_is_kept_in_order() -> None:
    assert flow.process_of(THREE_STEPS) == THREE_STEPS
    assert flow.first_step(THREE_STEPS).code == "undertake"


def test_repeated_step_codes_are_refused() -> None:
    with pytest.raises(ValueError):
        flow.process_of([Step("review", "审查", "approver"), Step("review", "复审", "approver")])


def test_next_step_walks_the_process_and_ends_on_the_last() -> None:
    assert flow.next_step(THREE_STEPS, "undertake") == THREE_STEPS[1]
    assert flow.next_step(THREE_STEPS, "audit") == THREE_STEPS[2]
    assert flow.next_step(THREE_STEPS, "decide") is None
    assert flow.is_final(THREE_STEPS, "decide")
    assert not flow.is_final(THREE_STEPS, "audit")


def test_unknown_step_is_a_conflict() -> None:
    with pytest.raises(StepNotInProcess):
        flow.next_step(THREE_STEPS, "publish")


def test_non_final_step_passes_to_the_next() -> None:
    done = flow.complete_step(CaseStatus.in_review, TaskStatus.open, THREE_STEPS, "undertake", None)
    assert done.outcome is StepOutcome.passed
    assert done.next_step == THREE_STEPS[1]
    assert done.decision is None
    assert done.case_status is CaseStatus.in_review


def test_decision_refused_before_the_last_step() -> None:
    with pytest.raises(DecisionNotAllowed):
        flow.complete_step(CaseStatus.in_review, TaskStatus.open, THREE_STEPS, "audit", Decision.approve)


def test_last_step_requires_a_decision() -> None:
    with pytest.raises(DecisionRequired):
        flow.complete_step(CaseStatus.in_review, TaskStatus.open, THREE_STEPS, "decide", None)


@pytest.mark.parametrize("decision", [Decision.approve, Decision.deny])
def test_last_step_decides(decision: Decision) -> None:
    done = flow.complete_step(CaseStatus.in_review, TaskStatus.open, flow.DEFAULT_PROCESS, "decide", decision,
                              reasons="材料所载内容与实际不符")
    assert done.outcome.value == decision.value
    assert done.next_step is None
    assert done.decision is decision
    assert done.case_status is CaseStatus.decided
    assert flow.finish(done.case_status) is CaseStatus.completed


@pytest.mark.parametrize("reasons", ["", "   "])
def test_deny_without_reasons_is_refused(reasons: str) -> None:
    with pytest.raises(ReasonsRequired):
        flow.complete_step(CaseStatus.in_review, TaskStatus.open, flow.DEFAULT_PROCESS, "decide", Decision.deny,
                           reasons=reasons)


@pytest.mark.parametrize("status", [CaseStatus.withdrawn, CaseStatus.completed, CaseStatus.decided])
def test_no_step_is_completed_outside_review(status: CaseStatus) -> None:
    with pytest.raises(CaseNotActive) as info:
        flow.complete_step(status, TaskStatus.open, flow.DEFAULT_PROCESS, "review", None)
    assert info.value.extras["state"] == status.value
    assert info.value.extras["allowed_actions"] == flow.allowed_actions(status)
    assert "complete_task" not in info.value.extras["allowed_actions"]


@pytest.mark.parametrize("task_status", [TaskStatus.done, TaskStatus.cancelled])
def test_only_an_open_task_is_completed(task_status: TaskStatus) -> None:
    with pytest.raises(TaskNotOpen):
        flow.complete_step(CaseStatus.in_review, task_status, flow.DEFAULT_PROCESS, "review", None)


def test_allowed_actions_per_state() -> None:
    assert flow.allowed_actions(CaseStatus.in_review) == ["complete_task", "withdraw"]
    assert flow.allowed_actions(CaseStatus.decided) == ["complete"]
    assert flow.allowed_actions(CaseStatus.completed) == []
    assert flow.allowed_actions(CaseStatus.withdrawn) == []


def test_withdraw_closes_a_case_in_review_and_is_idempotent() -> None:
    assert flow.withdraw(CaseStatus.in_review) is CaseStatus.withdrawn
    assert flow.withdraw(CaseStatus.withdrawn) is None


@pytest.mark.parametrize("status", [CaseStatus.decided, CaseStatus.completed])
def test_withdraw_after_the_decision_is_refused(status: CaseStatus) -> None:
    with pytest.raises(CaseNotActive):
        flow.withdraw(status)


def test_finish_only_after_a_decision() -> None:
    with pytest.raises(CaseNotActive):
        flow.finish(CaseStatus.in_review)


def test_refusal_tells_both_remedies_and_approval_none() -> None:
    notice = flow.remedy_notice(Decision.deny)
    assert "行政复议" in notice and "六十日" in notice
    assert "行政诉讼" in notice and "六个月" in notice
    assert flow.remedy_notice(Decision.approve) == ""


def test_published_summary_leaves_reasons_out() -> None:
    assert flow.result_summary(Decision.approve, "食品经营许可") == "食品经营许可：准予许可"
    assert flow.result_summary(Decision.deny, "食品经营许可") == "食品经营许可：不予许可"
