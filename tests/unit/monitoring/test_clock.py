"""The case clock: deadlines, levels at chosen instants, verdicts and ratios (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.workdays import WorkingDayCalendar
from services.monitoring.domain.clock import (
    CaseClock,
    ClockState,
    Level,
    Verdict,
    WarningPolicy,
    remaining_before,
    speed_up_ratio,
    used_working_days,
)

SH = ZoneInfo("Asia/Shanghai")
POLICY = WarningPolicy()


def at(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SH)


def wd(n: int) -> TimeLimit:
    return TimeLimit(value=n, unit=LimitUnit.working_days)


@pytest.fixture(scope="module")
def calendar() -> WorkingDayCalendar:
    return WorkingDayCalendar()


def make_clock(
    calendar: WorkingDayCalendar, started_at: datetime, promised: TimeLimit, legal: TimeLimit,
) -> CaseClock:
    return CaseClock.start(
        case_no="320102202509300001", item_code="ITEM-001", item_version=3, item_name="食品经营许可",
        region_code="320102000000", department="行政审批局", started_at=started_at,
        promised_limit=promised, legal_limit=legal, calendar=calendar,
    )


@pytest.fixture
def national_day(calendar: WorkingDayCalendar) -> CaseClock:
    """Accepted Tue 2025-09-30 10:00, promised 5 and legal 20 working days, across the National Day holiday."""
    return make_clock(calendar, at(2025, 9, 30, 10), wd(5), wd(20))


# ---- deadlines -----------------------------------------------------------------------------------------

def test_domain_md_example_due_at_24_00_of_fifth_working_day(national_day: CaseClock) -> None:
    # Oct 9 (1), Oct 10 (2), Sat Oct 11 make-up day (3), Oct 13 (4), Oct 14 (5) → 2025-10-15T00:00+08:00.
    assert national_day.promised_due.due_at == datetime(2025, 10, 15, 0, 0, tzinfo=SH)
    assert national_day.promised_due.due_at.tzinfo is UTC
    assert national_day.promised_due.due_date_local.isoformat() == "2025-10-14"
    assert not national_day.provisional


def test_legal_due_counts_twenty_working_days(national_day: CaseClock) -> None:
    # 5 to Oct 14, then Oct 15–17 (8), Oct 20–24 (13), Oct 27–31 (18), Nov 3 (19), Nov 4 (20).
    assert national_day.legal_due.due_at == datetime(2025, 11, 5, 0, 0, tzinfo=SH)


def test_start_instant_late_in_the_evening_still_starts_on_that_local_day(calendar: WorkingDayCalendar) -> None:
    # 2025-09-30T17:30Z is already Oct 1 in Shanghai: a holiday start, counting from Oct 9.
    clock = make_clock(calendar, datetime(2025, 9, 30, 17, 30, tzinfo=UTC), wd(1), wd(20))
    assert clock.promised_due.due_at == datetime(2025, 10, 10, 0, 0, tzinfo=SH)


def test_limit_crossing_into_2027_is_provisional(calendar: WorkingDayCalendar) -> None:
    clock = make_clock(calendar, at(2026, 12, 21, 9), wd(5), wd(20))
    assert not clock.promised_due.provisional  # Dec 22–28, all in 2026
    assert clock.legal_due.provisional  # runs into January 2027: weekends alone
    assert clock.provisional
    # Weekends-only count: Dec 22–25 (4), 28–31 (8), Jan 1 2027 (9, holiday not known yet), Jan 4–8 (14),
    # Jan 11–15 (19), Jan 18 (20).
    assert clock.legal_due.due_at == datetime(2027, 1, 19, 0, 0, tzinfo=SH)


def test_calendar_day_limit_ending_in_a_holiday_moves_to_next_working_day(calendar: WorkingDayCalendar) -> None:
    clock = make_clock(calendar, at(2025, 9, 26, 9), TimeLimit(value=10, unit=LimitUnit.calendar_days), wd(20))
    # Sep 26 + 10 days = Oct 6 (National Day holiday) → next working day Oct 9, due 24:00.
    assert clock.promised_due.due_at == datetime(2025, 10, 10, 0, 0, tzinfo=SH)


def test_hour_limit_runs_on_wall_time(calendar: WorkingDayCalendar) -> None:
    clock = make_clock(calendar, at(2025, 10, 1, 10), TimeLimit(value=4, unit=LimitUnit.hours), wd(1))
    assert clock.promised_due.due_at == at(2025, 10, 1, 14)


# ---- levels ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(2025, 9, 30, 15), Level.normal),  # the start day: all 5 working days remain
        (at(2025, 10, 13, 10), Level.normal),  # 1 day + 14 h of Oct 13 remain
        (at(2025, 10, 13, 23, 59), Level.normal),  # a minute more than 1 working day
        (at(2025, 10, 14, 0, 0), Level.warning),  # exactly 1 working day remains (1 day = 20% of 5)
        (at(2025, 10, 14, 18), Level.warning),
        (at(2025, 10, 15, 0, 0), Level.breach),  # promised due reached
        (at(2025, 11, 4, 23, 59), Level.breach),
        (at(2025, 11, 5, 0, 0), Level.severe),  # legal due reached
        (at(2026, 3, 1), Level.severe),
    ],
)
def test_levels_of_a_working_day_clock(
    national_day: CaseClock, calendar: WorkingDayCalendar, now: datetime, expected: Level,
) -> None:
    assert national_day.level_at(now, calendar, POLICY) is expected


def test_remaining_on_the_start_day_is_the_whole_limit(national_day: CaseClock, calendar: WorkingDayCalendar) -> None:
    left = remaining_before(national_day.promised_due, national_day.promised_limit, national_day.started_at,
                            at(2025, 9, 30, 23), calendar)
    assert left == 5.0


def test_remaining_over_a_holiday_does_not_shrink(national_day: CaseClock, calendar: WorkingDayCalendar) -> None:
    # Oct 1–8 are holidays: no working time passes, 5 full working days still remain.
    left = remaining_before(national_day.promised_due, national_day.promised_limit, national_day.started_at,
                            at(2025, 10, 5, 12), calendar)
    assert left == 5.0


def test_twenty_percent_comes_first_for_a_longer_limit(calendar: WorkingDayCalendar) -> None:
    # Mon 2025-11-03, 10 working days → due 2025-11-18T00:00; 20% = 2 working days beats 1 working day.
    clock = make_clock(calendar, at(2025, 11, 3, 10), wd(10), wd(20))
    assert clock.promised_due.due_at == at(2025, 11, 18)
    assert clock.level_at(at(2025, 11, 13, 23), calendar, POLICY) is Level.normal  # 2 days + 1 h left
    assert clock.level_at(at(2025, 11, 14, 0), calendar, POLICY) is Level.warning  # exactly 2 left
    assert clock.level_at(at(2025, 11, 15, 12), calendar, POLICY) is Level.warning  # Saturday: 1 left (Nov 17)


def test_warning_thresholds_are_policy(calendar: WorkingDayCalendar) -> None:
    clock = make_clock(calendar, at(2025, 11, 3, 10), wd(10), wd(20))
    noon = at(2025, 11, 12, 12)  # Nov 13, 14, 17 after today plus half of Nov 12: 3.5 working days left
    assert clock.level_at(noon, calendar, WarningPolicy(working_days=3.5, share=0.1)) is Level.warning
    assert clock.level_at(noon, calendar, WarningPolicy(working_days=3.4, share=0.1)) is Level.normal
    assert clock.level_at(noon, calendar, WarningPolicy(working_days=1, share=0.4)) is Level.warning  # 4 days


def test_hour_limit_warns_on_twenty_percent_of_wall_time(calendar: WorkingDayCalendar) -> None:
    clock = make_clock(calendar, at(2025, 10, 1, 10), TimeLimit(value=4, unit=LimitUnit.hours), wd(1))
    assert clock.level_at(at(2025, 10, 1, 13), calendar, POLICY) is Level.normal  # 60 min left
    assert clock.level_at(at(2025, 10, 1, 13, 12), calendar, POLICY) is Level.warning  # 48 min = 20%
    assert clock.level_at(at(2025, 10, 1, 14), calendar, POLICY) is Level.breach


def test_a_closed_clock_keeps_the_level_it_closed_at(national_day: CaseClock, calendar: WorkingDayCalendar) -> None:
    national_day.completed(at(2025, 10, 20, 9), calendar)
    assert national_day.level_at(at(2026, 6, 1), calendar, POLICY) is Level.breach


# ---- verdicts and ratios ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("completed_at", "verdict", "used", "ratio"),
    [
        (at(2025, 9, 30, 16), Verdict.on_time, 0, 1.0),  # same day: the start day is not counted
        (at(2025, 10, 14, 18), Verdict.on_time, 5, 0.75),  # (20 − 5) / 20
        (at(2025, 10, 15, 0, 0), Verdict.on_time, 6, 0.70),  # at the due instant; its local date Oct 15 counts
        (at(2025, 10, 20, 9), Verdict.late_promise, 9, 0.55),  # Oct 15, 16, 17, 20 after the 5
        (at(2025, 11, 4, 23, 59), Verdict.late_promise, 20, 0.0),
        (at(2025, 11, 10, 9), Verdict.late_legal, 24, -0.2),  # Nov 5, 6, 7, 10 past the legal limit
    ],
)
def test_verdicts_used_days_and_speed_up(
    national_day: CaseClock, calendar: WorkingDayCalendar, completed_at: datetime, verdict: Verdict, used: int,
    ratio: float,
) -> None:
    closing = national_day.completed(completed_at, calendar)
    assert closing is not None
    assert closing.verdict is verdict
    assert closing.used_working_days == used
    assert closing.speed_up_ratio == pytest.approx(ratio)
    assert national_day.state is ClockState.closed
    assert national_day.closing == closing


def test_used_working_days_skips_holidays_and_counts_make_up_days(calendar: WorkingDayCalendar) -> None:
    # (Sep 30, Oct 11]: Oct 9, Oct 10 and the make-up Saturday Oct 11.
    assert used_working_days(at(2025, 9, 30, 10), at(2025, 10, 11, 9), calendar) == 3


def test_speed_up_ratio_only_for_working_day_limits() -> None:
    assert speed_up_ratio(wd(20), 5) == 0.75
    assert speed_up_ratio(TimeLimit(value=30, unit=LimitUnit.calendar_days), 5) is None
    assert speed_up_ratio(TimeLimit(value=4, unit=LimitUnit.hours), 0) is None
    assert speed_up_ratio(wd(0), 0) is None


def test_withdrawal_closes_without_a_ratio(national_day: CaseClock, calendar: WorkingDayCalendar) -> None:
    closing = national_day.withdrawn(at(2025, 10, 10, 11), calendar)
    assert closing is not None
    assert closing.verdict is Verdict.withdrawn
    assert closing.used_working_days == 2
    assert closing.speed_up_ratio is None


# ---- facts ------------------------------------------------------------------------------------------------------

def test_steps_pauses_and_a_second_closing(national_day: CaseClock, calendar: WorkingDayCalendar) -> None:
    clock = national_day
    clock.step_started("review", "审查", at(2025, 10, 9, 9))
    assert clock.current_step is not None and clock.current_step.code == "review"
    clock.step_completed("audit")  # not the current step: nothing changes
    assert clock.current_step is not None
    clock.step_completed("review")
    assert clock.current_step is None

    clock.suspended("s1")
    clock.suspended("s2")
    assert clock.state is ClockState.paused
    clock.resumed("s1")
    assert clock.state is ClockState.paused  # s2 still open
    clock.resumed("s2")
    assert clock.state is ClockState.running
    # No budget arithmetic yet: a pause does not move the due instants.
    assert clock.promised_due.due_at == at(2025, 10, 15)

    clock.step_started("decide", "决定", at(2025, 10, 13, 9))
    first = clock.completed(at(2025, 10, 13, 16), calendar)
    assert first is not None and first.verdict is Verdict.on_time
    assert clock.current_step is None
    assert clock.completed(at(2025, 10, 14, 9), calendar) is None  # a redelivered completion announces nothing
    clock.step_started("late", "迟到的环节", at(2025, 10, 14, 9))
    clock.suspended("s3")
    assert clock.current_step is None and clock.state is ClockState.closed


def test_clock_id_is_deterministic(national_day: CaseClock) -> None:
    assert national_day.clock_id == "case:320102202509300001:handling"


def test_instants_are_compared_not_wall_clock_strings(national_day: CaseClock, calendar: WorkingDayCalendar) -> None:
    # 2025-10-14T16:00Z is 2025-10-15T00:00+08:00: the promised due instant, seen from UTC.
    assert national_day.level_at(datetime(2025, 10, 14, 16, tzinfo=UTC), calendar, POLICY) is Level.breach
    assert national_day.level_at(datetime(2025, 10, 14, 16, tzinfo=UTC) - timedelta(seconds=1), calendar,
                                 POLICY) is Level.warning
