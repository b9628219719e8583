"""The rules around the steps (domain/process.py): states, allowed actions, and what the law asks of each."""

from __future__ import annotations

import pytest

from services.approval.domain import process as flow
from services.approval.domain.exceptions import ApprovalConflict, CaseNotActive, ReasonsRequired
from services.approval.domain.process import Action, CaseStatus, Decision
from services.common.contracts.case import SuspensionReason
from services.common.contracts.payloads import LimitUnit


def test_each_state_allows_its_actions_and_names_them() -> None:
    assert flow.allowed_actions(CaseStatus.in_review) == [
        "claim", "release", "complete_task", "request_supplement", "suspend", "extend", "withdraw"]
    assert flow.allowed_actions(CaseStatus.decided, "approve") == ["issue_certificate"]
    assert flow.allowed_actions(CaseStatus.decided, "deny") == ["deliver"]  # served without a licence
    assert flow.allowed_actions(CaseStatus.completed) == flow.allowed_actions(CaseStatus.withdrawn) == []


@pytest.mark.parametrize("status", [CaseStatus.supplement_requested, CaseStatus.suspended, CaseStatus.decided,
                                    CaseStatus.completed, CaseStatus.withdrawn])
def test_no_step_is_done_while_paused_or_after_the_decision(status: CaseStatus) -> None:
    with pytest.raises(CaseNotActive) as refused:
        flow.require(status, Action.complete_task)
    assert refused.value.extras == {"state": status.value, "allowed_actions": flow.allowed_actions(status)}


def test_withdrawal_only_before_the_decision() -> None:
    for status in (CaseStatus.in_review, CaseStatus.supplement_requested, CaseStatus.suspended):
        flow.require(status, Action.withdraw)
    for status in (CaseStatus.decided, CaseStatus.certified, CaseStatus.delivered):
        with pytest.raises(CaseNotActive):
            flow.require(status, Action.withdraw)


def test_the_deciding_step_decides_and_only_it() -> None:
    assert flow.check_decision(None, "", deciding=False) is None
    with pytest.raises(ApprovalConflict) as not_here:
        flow.check_decision("approve", "", deciding=False)
    assert not_here.value.slug == "decision-not-allowed"
    with pytest.raises(ApprovalConflict) as missing:
        flow.check_decision(None, "", deciding=True)
    assert missing.value.slug == "decision-required"
    assert flow.check_decision("approve", "", deciding=True) is Decision.approve


@pytest.mark.parametrize("reasons", ["", "   "])
def test_a_refusal_states_its_reasons(reasons: str) -> None:
    with pytest.raises(ReasonsRequired):
        flow.check_decision("deny", reasons, deciding=True)
    assert flow.check_decision("deny", "不符合条件", deciding=True) is Decision.deny


def test_one_extension_of_ten_or_fifteen_working_days() -> None:
    assert (flow.extension_limit(False).value, flow.extension_limit(False).unit) == (10, LimitUnit.working_days)
    assert flow.extension_limit(True).value == 15
    flow.check_extension(already_extended=False)
    with pytest.raises(ApprovalConflict) as twice:
        flow.check_extension(already_extended=True)
    assert twice.value.slug == "already-extended"


def test_a_suspension_has_a_lawful_reason_and_a_told_duration() -> None:
    flow.check_suspension(SuspensionReason.expert_review, 10)
    with pytest.raises(ApprovalConflict):
        flow.check_suspension(SuspensionReason.applicant_supplement, 10)  # that is the supplement request
    for days in (0, 366):
        with pytest.raises(ApprovalConflict):
            flow.check_suspension(SuspensionReason.hearing, days)


def test_supplements_are_asked_once_in_review() -> None:
    flow.check_supplement_request(already_requested=False)
    with pytest.raises(ApprovalConflict):
        flow.check_supplement_request(already_requested=True)


def test_a_refusal_tells_both_remedies_and_the_published_line_keeps_reasons_out() -> None:
    assert "六十日" in flow.remedy_notice(Decision.deny) and "六个月" in flow.remedy_notice(Decision.deny)
    assert flow.remedy_notice(Decision.approve) == ""
    assert flow.result_summary(Decision.deny, "食品经营许可") == "食品经营许可：不予许可"
