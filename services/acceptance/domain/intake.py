"""Applications received but not yet decided (收件待审), and the 5-working-day rule. No I/O.

行政许可法 Art. 32(4): where the materials are incomplete, the applicant is told everything to supplement
"on the spot or within five days"; if not told in time, the application counts as accepted from the day
the materials were received. The five days are working days (domain.md §1, as monitoring counts them):
the day of receipt is not counted, and the period ends at 24:00 of the fifth working day.
"""

from __future__ import annotations

from datetime import datetime

from services.common.contracts.payloads import Actor, LimitUnit, TimeLimit
from services.common.workdays import Deadline, WorkingDayCalendar, deadline

ACCEPTANCE_DECISION = TimeLimit(value=5, unit=LimitUnit.working_days, note="行政许可法第三十二条")

# Who accepts when nobody decided in time: the law does, and the record says so rather than naming a clerk.
DEEMED_ACTOR = Actor(user_id="system:acceptance", name="逾期未告知，依法视为受理", role="system")


def decision_due(received_at: datetime, calendar: WorkingDayCalendar) -> Deadline:
    """The instant by which acceptance must decide (受理, 一次性告知 or 不予受理)."""
    return deadline(received_at, ACCEPTANCE_DECISION, calendar)


def is_overdue(due_at: datetime, now: datetime) -> bool:
    """From the due instant on (24:00 of the fifth working day) the case is accepted by law."""
    return now >= due_at
