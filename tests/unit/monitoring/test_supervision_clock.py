"""The supervision clock: budgets on their axes, pauses, extensions, restarts, levels (domain.md §1, §6)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseExtended,
    CaseResumed,
    CaseSuspended,
    Channel,
    StepStarted,
    SuspensionReason,
)
from services.common.contracts.disclosure import (
    ConsultationEnded,
    ConsultationStarted,
    RequestReceived,
    RequestSupplemented,
    RequestSupplementRequested,
)
from services.common.contracts.payloads import Actor, Applicant, EventPayload, LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, WorkingDayCalendar, YearSchedule
from services.monitoring.domain.clocks import (
    Clock,
    ClockKind,
    ClockState,
    Level,
    LimitSpec,
    Pause,
    Verdict,
    WarningPolicy,
)
from services.monitoring.domain.subjects import Recorded, case_subject, request_subject

CAL = WorkingDayCalendar()
ACTOR = Actor(user_id="u1")
WD = LimitUnit.working_days


def sh(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI)


def accepted(at: datetime, promised: int = 5, legal: int = 20, unit: LimitUnit = WD, joint: bool = False,
             case_no: str = "C1") -> CaseAccepted:
    return CaseAccepted(
        occurred_at=at, case_no=case_no, item_code="I", item_version=1, item_name="测试事项", item_type="01",
        department="审批局", region_code="320102000000", channel=Channel.window,
        applicant=Applicant(applicant_type="2", name="某公司", id_type="uscc", id_number="91110000600037341L"),
        legal_limit=TimeLimit(value=legal, unit=unit), promised_limit=TimeLimit(value=promised, unit=unit),
        received_at=at, promised_due_date="2000-01-01", clerk=ACTOR, receipt_no="R", joint=joint,
    )


def rec(payloads: list[EventPayload]) -> list[Recorded]:
    return [Recorded(f"e{i}", p, p.occurred_at) for i, p in enumerate(payloads)]


def handling(payloads: list[EventPayload]) -> Clock:
    return case_subject(rec(payloads)).clocks["case:C1:handling"]


def due(clock: Clock, name: str = "promised") -> datetime | None:
    spec = next(s for s in clock.limits if s.name == name)
    answer = clock.deadline(spec, CAL)
    return None if answer is None else answer.due_at


# ---- table tests across real holiday periods -------------------------------------------------------

def test_national_day_2025_with_its_make_up_saturday() -> None:
    clock = handling([accepted(sh(2025, 9, 30, 15))])
    assert due(clock) == sh(2025, 10, 15)  # Oct 9, 10, Sat 11 (调休), 13, 14 → 24:00 of the 14th


def test_spring_festival_2026() -> None:
    # Thu Feb 12: Feb 13 (1), Sat Feb 14 make-up (2), holiday Feb 15–23, Feb 24 (3) → 24:00 Feb 24.
    clock = handling([accepted(sh(2026, 2, 12, 10), promised=3)])
    assert due(clock) == sh(2026, 2, 25)


def test_year_boundary_into_an_unloaded_year_is_provisional_then_recomputed() -> None:
    clock = handling([accepted(sh(2026, 12, 28, 9), promised=5)])
    spec = clock.limits[0]
    answer = clock.deadline(spec, CAL)
    assert answer is not None and answer.provisional
    assert answer.due_at == sh(2027, 1, 5)  # Dec 29, 30, 31, Jan 1 (unknown), Jan 4: weekends alone
    loaded = CAL.with_years([YearSchedule(2027, frozenset({date(2027, 1, 1)}), frozenset(), "test notice")])
    again = clock.deadline(spec, loaded)
    assert again is not None and not again.provisional and again.due_at == sh(2027, 1, 6)


def test_a_pause_moves_the_deadline_by_the_working_time_it_held() -> None:
    clock = handling([
        accepted(sh(2025, 9, 30, 15)),
        CaseSuspended(occurred_at=sh(2025, 10, 9, 12), case_no="C1", suspension_id="s1",
                      reason=SuspensionReason.expert_review, actor=ACTOR),
        CaseResumed(occurred_at=sh(2025, 10, 13, 12), case_no="C1", suspension_id="s1"),
    ])
    # 0.5 day used on Oct 9; 4.5 left from Oct 13 noon: Oct 13 pm, 14, 15, 16, 17 → 24:00 Oct 17.
    assert due(clock) == sh(2025, 10, 18)


def test_a_paused_clock_has_no_due_instant_and_reaches_no_level() -> None:
    clock = handling([
        accepted(sh(2025, 9, 30, 15)),
        CaseSuspended(occurred_at=sh(2025, 10, 9, 12), case_no="C1", suspension_id="s1",
                      reason=SuspensionReason.testing, actor=ACTOR),
    ])
    assert clock.state is ClockState.paused
    assert due(clock) is None
    assert clock.level_at(sh(2026, 1, 1), CAL, _policy()) is Level.normal


def test_extension_moves_the_legal_limit_once_within_the_bound() -> None:
    events: list[EventPayload] = [
        accepted(sh(2025, 3, 3, 10), promised=5, legal=20),
        CaseExtended(occurred_at=sh(2025, 3, 20), case_no="C1", extension=TimeLimit(value=12, unit=WD),
                     reason="复杂", approved_by=ACTOR),
        CaseExtended(occurred_at=sh(2025, 3, 21), case_no="C1", extension=TimeLimit(value=5, unit=WD),
                     reason="再延", approved_by=ACTOR),
    ]
    subject = case_subject(rec(events))
    clock = subject.clocks["case:C1:handling"]
    assert clock.extension == TimeLimit(value=10, unit=WD)  # capped at 10 (Art. 42)
    assert due(clock, "legal") == sh(2025, 4, 16)  # 30 working days after Mar 3 (Qingming Apr 4 off): Apr 15
    assert {c.rule for c in subject.contradictions} == {"extension_beyond_bound", "second_extension"}


def test_disclosure_request_restarts_after_a_supplement_and_pauses_for_consultation() -> None:
    events: list[EventPayload] = [
        RequestReceived(occurred_at=sh(2025, 3, 3, 10), request_no="Q1", region_code="320102000000",
                        agency="区政府办", receipt_channel="online", information_wanted="x"),
        RequestSupplementRequested(occurred_at=sh(2025, 3, 5, 10), request_no="Q1", what="范围",
                                   supply_within=TimeLimit(value=10, unit=WD), actor=ACTOR),
        RequestSupplemented(occurred_at=sh(2025, 3, 10, 10), request_no="Q1"),
    ]
    clock = request_subject(rec(events)).clocks["request:Q1:reply"]
    # Renewed from Mon Mar 10: 20 working days → Apr 7 (Qingming Apr 4 is a holiday) → 24:00 Apr 8.
    assert clock.deadline(clock.limits[0], CAL).due_at == sh(2025, 4, 9)
    with_consultation = [*events,
                         ConsultationStarted(occurred_at=sh(2025, 3, 12), request_no="Q1", consultation_id="k",
                                             party="第三方"),
                         ConsultationEnded(occurred_at=sh(2025, 3, 14), request_no="Q1", consultation_id="k")]
    paused = request_subject(rec(with_consultation)).clocks["request:Q1:reply"]
    assert paused.deadline(paused.limits[0], CAL).due_at == sh(2025, 4, 11)  # two working days later


def test_levels_and_verdicts() -> None:
    clock = handling([accepted(sh(2025, 9, 30, 15), promised=5, legal=10)])
    instants = clock.level_instants(CAL, _policy())
    assert instants[Level.warning] == sh(2025, 10, 14)  # one working day left: start of the 5th
    assert instants[Level.breach] == sh(2025, 10, 15)
    assert instants[Level.severe] == sh(2025, 10, 22)
    assert clock.level_at(sh(2025, 10, 14, 9), CAL, _policy()) is Level.warning
    done = handling([accepted(sh(2025, 9, 30, 15), promised=5, legal=10),
                     CaseCompleted(occurred_at=sh(2025, 10, 16, 9), case_no="C1", item_code="I", item_name="n",
                                   region_code="320102000000", result="approve")])
    assert done.verdict(CAL) is Verdict.late_promise
    assert done.level_at(sh(2026, 1, 1), CAL, _policy()) is Level.breach  # frozen at closing


def test_minutes_run_on_wall_time() -> None:
    clock = handling([accepted(datetime(2025, 10, 1, 3, tzinfo=UTC), promised=10, legal=20,
                               unit=LimitUnit.minutes)])
    assert due(clock) == datetime(2025, 10, 1, 3, 10, tzinfo=UTC)
    assert clock.level_instants(CAL, _policy())[Level.warning] == datetime(2025, 10, 1, 3, 8, tzinfo=UTC)


def test_a_step_started_during_a_suspension_waits_for_the_resumption() -> None:
    subject = case_subject(rec([
        accepted(sh(2025, 3, 3, 10)),
        CaseSuspended(occurred_at=sh(2025, 3, 4, 10), case_no="C1", suspension_id="s",
                      reason=SuspensionReason.hearing, actor=ACTOR),
        StepStarted(occurred_at=sh(2025, 3, 4, 11), case_no="C1", step_code="review", step_name="审查",
                    task_id="t1", role="approver", limit=TimeLimit(value=2, unit=WD)),
        CaseResumed(occurred_at=sh(2025, 3, 6, 10), case_no="C1", suspension_id="s"),
    ]))
    step = subject.clocks["case:C1:step:t1"]
    # Counting from Mar 5 00:00 but held until Mar 6 10:00: 14 h on Mar 6, 10 h on Mar 7, budget out Mar 10.
    assert step.deadline(step.limits[0], CAL).due_at == sh(2025, 3, 11)


def _policy() -> WarningPolicy:
    return WarningPolicy()


# ---- properties ----------------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 10, 1)).map(
    lambda d: d.replace(tzinfo=SHANGHAI))
units = st.sampled_from(list(LimitUnit))


@settings(max_examples=150, deadline=None)
@given(start=instants, value=st.integers(min_value=0, max_value=40), unit=units,
       pauses=st.lists(st.tuples(st.integers(0, 30 * 24 * 60), st.integers(1, 10 * 24 * 60)), max_size=4))
def test_deadline_never_before_start_and_pauses_never_bring_it_forward(
    start: datetime, value: int, unit: LimitUnit, pauses: list[tuple[int, int]],
) -> None:
    limit = TimeLimit(value=value, unit=unit)
    plain = Clock("k", ClockKind.handling, "S", start, [LimitSpec("legal", limit, Level.severe)])
    paused = Clock("k", ClockKind.handling, "S", start, [LimitSpec("legal", limit, Level.severe)],
                   pauses=[Pause(f"p{i}", "testing", start + timedelta(minutes=a), start + timedelta(minutes=a + b))
                           for i, (a, b) in enumerate(pauses)])
    d0 = plain.deadline(plain.limits[0], CAL)
    d1 = paused.deadline(paused.limits[0], CAL)
    assert d0 is not None and d1 is not None
    assert d0.due_at >= start
    assert d1.due_at >= d0.due_at


@settings(max_examples=150, deadline=None)
@given(start=instants, unit=units, minutes=st.lists(st.integers(1, 20 * 24 * 60), min_size=1, max_size=6),
       horizon=st.integers(0, 60 * 24 * 60))
def test_time_used_never_exceeds_wall_time(start: datetime, unit: LimitUnit, minutes: list[int], horizon: int) -> None:
    marks = sorted({start + timedelta(minutes=m) for m in minutes})
    pauses = [Pause(f"p{i}", "testing", marks[i], marks[i + 1]) for i in range(0, len(marks) - 1, 2)]
    clock = Clock("k", ClockKind.handling, "S", start,
                  [LimitSpec("legal", TimeLimit(value=5, unit=unit), Level.severe)], pauses=pauses)
    at = start + timedelta(minutes=horizon)
    assert 0 <= clock.used_seconds(clock.limits[0], at, CAL) <= (at - start).total_seconds() + 1e-6


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), gaps=st.lists(st.integers(60, 5 * 24 * 60), min_size=2, max_size=8))
def test_shuffled_delivery_gives_the_same_clock(seed: int, gaps: list[int]) -> None:
    """Pauses and resumes delivered in any order: the clock is a function of when things happened."""
    start = sh(2025, 3, 3, 10)
    events: list[EventPayload] = [accepted(start)]
    at = start
    for i, gap in enumerate(gaps):
        at += timedelta(minutes=gap)
        if i % 2 == 0:
            events.append(CaseSuspended(occurred_at=at, case_no="C1", suspension_id=f"s{i}",
                                        reason=SuspensionReason.inspection, actor=ACTOR))
        else:
            events.append(CaseResumed(occurred_at=at, case_no="C1", suspension_id=f"s{i - 1}"))
    recorded = rec(events)
    shuffled = recorded[:]
    random.Random(seed).shuffle(shuffled)
    a = case_subject(recorded).clocks["case:C1:handling"]
    b = case_subject(shuffled).clocks["case:C1:handling"]
    assert a.ledger() == b.ledger()
    assert due(a, "legal") == due(b, "legal")


def test_explain_accounts_for_every_day_up_to_the_deadline() -> None:
    from services.monitoring.domain.explain import explain

    clock = handling([accepted(sh(2025, 9, 30, 15))])
    days = explain(clock, clock.limits[0], CAL)
    by_day = {d.day: d for d in days}
    assert days[0].day == date(2025, 9, 30) and days[0].counted_seconds == 0 and "起算日不计入" in days[0].notes
    holiday, makeup = by_day[date(2025, 10, 1)], by_day[date(2025, 10, 11)]
    assert holiday.calendar.startswith("法定节假日") and holiday.counted_seconds == 0
    assert makeup.calendar.startswith("调休上班") and makeup.counted_seconds > 0
    assert days[-1].day == date(2025, 10, 14) and days[-1].cumulative_days == 5


def test_what_if_suspended_moves_the_legal_deadline() -> None:
    from services.monitoring.domain.explain import what_if_suspended

    clock = handling([accepted(sh(2025, 3, 3, 10), promised=5, legal=20)])
    projected = what_if_suspended(clock, sh(2025, 3, 10), sh(2025, 3, 17))  # a week of expert review
    assert due(clock, "legal") == sh(2025, 4, 1)
    assert due(projected, "legal") == sh(2025, 4, 9)  # five working days later (Apr 4 is Qingming)
    assert clock.pauses == []  # the real clock is untouched


def test_a_second_supplement_notice_does_not_leave_the_clock_paused() -> None:
    from services.common.contracts.case import MissingMaterial, SupplementRequested, SupplementSupplied

    def notice(at: datetime, code: str) -> SupplementRequested:
        return SupplementRequested(occurred_at=at, case_no="C1", stage="review", notice_no=code, actor=ACTOR,
                                   missing=[MissingMaterial(code=code, name=code, reason="未提交")])

    clock = handling([accepted(sh(2025, 3, 3, 10)), notice(sh(2025, 3, 4, 10), "M1"), notice(sh(2025, 3, 5, 10), "M2"),
                      SupplementSupplied(occurred_at=sh(2025, 3, 6, 10), case_no="C1", stage="review")])
    assert clock.state is ClockState.running
    assert due(clock) is not None


def test_a_closed_clock_keeps_the_levels_it_reached_before_its_end() -> None:
    """A completion recorded after the breach fell due must still raise the breach, once."""
    done = handling([accepted(sh(2025, 9, 30, 15), promised=5, legal=10),
                     CaseCompleted(occurred_at=sh(2025, 10, 16, 9), case_no="C1", item_code="I", item_name="n",
                                   region_code="320102000000", result="approve")])
    assert set(done.level_instants(CAL, _policy())) == {Level.warning, Level.breach}


def test_an_extension_in_working_days_on_a_calendar_day_limit_runs_on_from_its_end() -> None:
    clock = handling([
        accepted(sh(2025, 3, 3, 10), promised=10, legal=30, unit=LimitUnit.calendar_days),
        CaseExtended(occurred_at=sh(2025, 3, 20), case_no="C1", extension=TimeLimit(value=10, unit=WD),
                     reason="复杂", approved_by=ACTOR),
    ])
    # 30 calendar days from Mar 3 end on Apr 2 (a Wednesday); 10 working days after it, Qingming Apr 4 off:
    # Apr 3, 7, 8, 9, 10, 11, 14, 15, 16, 17 → 24:00 Apr 17.
    assert due(clock, "legal") == sh(2025, 4, 18)
