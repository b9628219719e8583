"""The 5-working-day rule of 行政许可法 Art. 32(4) on the official calendar (domain/intake.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.acceptance.domain.intake import decision_due, is_overdue
from services.common.workdays import SHANGHAI, WorkingDayCalendar

CALENDAR = WorkingDayCalendar()


def test_five_working_days_skip_the_national_day_holiday() -> None:
    # Received Tue 2025-09-30: Oct 1–8 are the holiday, Sat Oct 11 a make-up working day.
    received = datetime(2025, 9, 30, 15, 0, tzinfo=SHANGHAI)
    due = decision_due(received, CALENDAR)
    # Oct 9 (1), 10 (2), Sat 11 (3, 调休), 13 (4), 14 (5): due at 24:00 of Tue 14 October.
    assert due.due_at == datetime(2025, 10, 15, 0, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert due.due_date_local.isoformat() == "2025-10-14" and not due.provisional


def test_the_day_of_receipt_is_not_counted_even_late_at_night() -> None:
    late = decision_due(datetime(2025, 11, 3, 23, 59, tzinfo=SHANGHAI), CALENDAR)  # Monday
    early = decision_due(datetime(2025, 11, 3, 0, 1, tzinfo=SHANGHAI), CALENDAR)
    assert late.due_at == early.due_at == datetime(2025, 11, 11, 0, 0, tzinfo=SHANGHAI).astimezone(UTC)


def test_overdue_from_the_due_instant_on() -> None:
    due = decision_due(datetime(2025, 11, 3, 10, 0, tzinfo=SHANGHAI), CALENDAR).due_at
    assert not is_overdue(due, due - timedelta(microseconds=1))
    assert is_overdue(due, due) and is_overdue(due, due + timedelta(days=1))
