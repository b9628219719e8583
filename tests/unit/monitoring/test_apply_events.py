"""Public case events translated into clock facts (pure: no database, no broker)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.common.contracts.case import (
    CaseCompleted,
    CaseDecided,
    CaseResumed,
    CaseSuspended,
    CaseWithdrawn,
    Decision,
    StepCompleted,
    StepStarted,
    SuspensionReason,
)
from services.common.contracts.payloads import Actor, LimitUnit, TimeLimit
from services.common.workdays import WorkingDayCalendar
from services.monitoring.domain.clock import CaseClock, ClockState, Verdict
from services.monitoring.handlers import apply_event, case_event_types

SH = ZoneInfo("Asia/Shanghai")
CASE = "320102202509300001"
ACTOR = Actor(user_id="u1")


def t(d: int, h: int = 9) -> datetime:
    return datetime(2025, 10, d, h, tzinfo=SH)


def new_clock(calendar: WorkingDayCalendar) -> CaseClock:
    return CaseClock.start(
        case_no=CASE, item_code="I", item_version=1, item_name="事项", region_code="320102000000",
        department="行政审批局", started_at=datetime(2025, 9, 30, 10, tzinfo=SH),
        promised_limit=TimeLimit(value=5, unit=LimitUnit.working_days),
        legal_limit=TimeLimit(value=20, unit=LimitUnit.working_days), calendar=calendar,
    )


def test_every_case_event_type_is_logged() -> None:
    types = case_event_types()
    assert "zwfw.case.accepted.v1" in types and "zwfw.case.fee_charged.v1" in types
    assert all(t.startswith("zwfw.case.") for t in types)


def test_events_move_and_close_the_clock() -> None:
    calendar = WorkingDayCalendar()
    clock = new_clock(calendar)
    assert apply_event(clock, StepStarted(occurred_at=t(9), case_no=CASE, step_code="review", step_name="审查",
                                          task_id="k1", role="approver"), calendar) is None
    apply_event(clock, CaseSuspended(occurred_at=t(9, 11), case_no=CASE, suspension_id="s1",
                                     reason=SuspensionReason.expert_review, actor=ACTOR), calendar)
    assert clock.state is ClockState.paused
    apply_event(clock, CaseResumed(occurred_at=t(10), case_no=CASE, suspension_id="s1"), calendar)
    assert clock.state is ClockState.running
    apply_event(clock, StepCompleted(occurred_at=t(10, 11), case_no=CASE, step_code="review", step_name="审查",
                                     task_id="k1", actor=ACTOR, opinion="同意"), calendar)
    assert clock.current_step is None
    apply_event(clock, CaseDecided(occurred_at=t(13), case_no=CASE, decision=Decision.approve, actor=ACTOR),
                calendar)
    closing = apply_event(clock, CaseCompleted(occurred_at=t(14, 16), case_no=CASE, item_code="I", item_name="事项",
                                               region_code="320102000000", result="approve"), calendar)
    assert closing is not None and closing.verdict is Verdict.on_time and closing.used_working_days == 5
    assert apply_event(clock, CaseWithdrawn(occurred_at=t(15), case_no=CASE), calendar) is None


def test_withdrawal_closes_the_clock() -> None:
    calendar = WorkingDayCalendar()
    clock = new_clock(calendar)
    closing = apply_event(clock, CaseWithdrawn(occurred_at=t(13), case_no=CASE, reason="申请人撤回"), calendar)
    assert closing is not None and closing.verdict is Verdict.withdrawn
    assert clock.state is ClockState.closed
