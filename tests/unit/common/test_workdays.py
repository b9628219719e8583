"""The working-day calendar and deadlines of domain.md §1."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest

from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, WorkingDayCalendar, YearSchedule, deadline

CAL = WorkingDayCalendar()


def test_domain_example_national_day_2025() -> None:
    # Accepted Tue 2025-09-30, 5 working days: Oct 9, 10, Sat 11 (make-up), 13, 14 → due Oct 15 00:00 +08:00.
    due = deadline(datetime(2025, 9, 30, 15, 0, tzinfo=SHANGHAI), TimeLimit(value=5, unit=LimitUnit.working_days), CAL)
    assert due.due_at == datetime(2025, 10, 15, 0, 0, tzinfo=SHANGHAI)
    assert due.due_date_local == date(2025, 10, 14)
    assert not due.provisional


def test_index_agrees_with_the_library_day_by_day() -> None:
    day = date(2024, 1, 1)
    while day <= date(2026, 12, 31):
        assert CAL.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


@pytest.mark.parametrize("start, n", [(date(2025, 1, 20), 10), (date(2026, 2, 10), 20), (date(2024, 9, 27), 7)])
def test_add_working_days_agrees_with_find_workday(start: date, n: int) -> None:
    assert CAL.add_working_days(start, n).day == chinese_calendar.find_workday(n, start)


def test_uncovered_year_counts_weekends_only_and_is_provisional() -> None:
    answer = CAL.add_working_days(date(2026, 12, 28), 5)  # crosses into 2027
    assert answer.provisional
    assert answer.day == date(2027, 1, 4)  # Dec 29, 30, 31, Jan 1 (Fri, not known as a holiday yet), Jan 4


def test_loading_a_year_replaces_the_provisional_answer() -> None:
    schedule = YearSchedule(year=2027, holidays=frozenset({date(2027, 1, 1)}), makeup_workdays=frozenset(),
                            source="国办发明电〔2026〕X号 (test)")
    loaded = CAL.with_years([schedule])
    answer = loaded.add_working_days(date(2026, 12, 28), 5)
    assert not answer.provisional
    assert answer.day == date(2027, 1, 5)
    assert loaded.explain(date(2027, 1, 1)).startswith("法定节假日")


def test_calendar_days_end_moves_to_next_working_day() -> None:
    # 2025-09-26 + 5 calendar days = Oct 1, a holiday → moves to Oct 9, due at its 24:00.
    due = deadline(datetime(2025, 9, 26, 9, tzinfo=SHANGHAI), TimeLimit(value=5, unit=LimitUnit.calendar_days), CAL)
    assert due.due_at == datetime(2025, 10, 10, tzinfo=SHANGHAI)


def test_hours_run_on_wall_time() -> None:
    start = datetime(2025, 10, 1, 10, tzinfo=UTC)
    assert deadline(start, TimeLimit(value=4, unit=LimitUnit.hours), CAL).due_at == start + timedelta(hours=4)


def test_working_days_between() -> None:
    assert CAL.working_days_between(date(2025, 9, 30), date(2025, 10, 14)) == 5
    assert CAL.working_days_between(date(2025, 10, 14), date(2025, 9, 30)) == 0


def test_warns_for_missing_next_year_from_november() -> None:
    assert CAL.missing_next_year(date(2026, 11, 1)) == 2027
    assert CAL.missing_next_year(date(2026, 10, 31)) is None


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError):
        deadline(datetime(2025, 1, 1), TimeLimit(value=1, unit=LimitUnit.working_days), CAL)
