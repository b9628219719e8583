"""Time budgets measured on the axis each limit unit counts on (domain.md §1, "Pauses").

A clock is a budget (its limit) and a ledger of running intervals; its due instant is derived, never
stored as the truth. Each unit measures a running interval differently:

- working days: only working days count, each as 24 hours; the day the clock starts is not counted;
  the limit expires at 24:00 (Asia/Shanghai) of the working day in which the budget is used up. Without
  pauses this is exactly "24:00 of the N-th working day after the start day".
- calendar days: every day counts, the start day excepted; the limit expires at 24:00 of the day the
  budget is used up, moved to the next working day's 24:00 when that day is not a working day.
- hours and minutes: wall time from the starting instant; the limit expires the instant it is used up.

All instants are timezone-aware; days are Asia/Shanghai days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, WorkingDayCalendar, end_of_day

DAY_SECONDS = 86_400
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Interval:
    """A running interval of a clock; `end` None while it still runs."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class Expiry:
    due_at: datetime  # UTC
    provisional: bool  # a day counted lies in a year with no official schedule


UNIT_SECONDS = {LimitUnit.working_days: DAY_SECONDS, LimitUnit.calendar_days: DAY_SECONDS,
                LimitUnit.hours: 3600, LimitUnit.minutes: 60}


def budget_seconds(limit: TimeLimit) -> int:
    """The limit as seconds on its own axis (a working or calendar day is 24 axis hours)."""
    return limit.value * UNIT_SECONDS[limit.unit]


def _local(instant: datetime) -> datetime:
    return instant.astimezone(SHANGHAI)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def counting_origin(started_at: datetime, unit: LimitUnit) -> datetime:
    """Day limits start counting at 00:00 of the day after the start (民法典 Art. 201); time limits at once."""
    if unit in (LimitUnit.working_days, LimitUnit.calendar_days):
        return _midnight(_local(started_at).date() + _DAY)
    return started_at


class Axis:
    """Measures running time in one unit, and finds where a budget runs out."""

    def __init__(self, unit: LimitUnit, calendar: WorkingDayCalendar) -> None:
        self.unit = unit
        self.calendar = calendar

    def _counts(self, day: date) -> bool:
        return self.unit is not LimitUnit.working_days or self.calendar.is_workday(day)

    def measure(self, start: datetime, end: datetime) -> float:
        """Axis seconds in [start, end)."""
        if end <= start:
            return 0.0
        if self.unit in (LimitUnit.hours, LimitUnit.minutes):
            return (end - start).total_seconds()
        a, b = _local(start), _local(end)
        if a.date() == b.date():
            return (b - a).total_seconds() if self._counts(a.date()) else 0.0
        total = 0.0
        if self._counts(a.date()):
            total += (_midnight(a.date() + _DAY) - a).total_seconds()
        whole_from, whole_to = a.date(), b.date() - _DAY  # whole days in (a.date, b.date)
        if whole_to > whole_from:
            if self.unit is LimitUnit.working_days:
                total += self.calendar.working_days_between(whole_from, whole_to) * DAY_SECONDS
            else:
                total += (whole_to - whole_from).days * DAY_SECONDS
        if self._counts(b.date()):
            total += (b - _midnight(b.date())).total_seconds()
        return total

    def exhaust(self, start: datetime, remaining: float) -> Expiry:
        """Where `remaining` axis seconds run out when running from `start` without a pause."""
        if self.unit in (LimitUnit.hours, LimitUnit.minutes):
            return Expiry((start + timedelta(seconds=remaining)).astimezone(UTC), False)
        a = _local(start)
        day = a.date()
        if self._counts(day):
            available = (_midnight(day + _DAY) - a).total_seconds()
            if remaining <= available:
                return self._day_expiry(a.date(), day)
            remaining -= available
        whole_days = -(-remaining // DAY_SECONDS)  # ceil: the day in which the budget is used up
        if self.unit is LimitUnit.working_days:
            answer = self.calendar.add_working_days(day, int(whole_days))
            return Expiry(end_of_day(answer.day), answer.provisional)
        return self._day_expiry(a.date(), day + timedelta(days=int(whole_days)))

    def _day_expiry(self, from_day: date, last: date) -> Expiry:
        if self.unit is LimitUnit.calendar_days:
            last = self.calendar.next_workday_on_or_after(last)
        provisional = any(not self.calendar.is_covered(y) for y in range(from_day.year, last.year + 1))
        return Expiry(end_of_day(last), provisional)

    def immediate(self, started_at: datetime) -> Expiry:
        """A zero limit (即办件): due the same day, or the next working day's end if started on a day off."""
        if self.unit in (LimitUnit.hours, LimitUnit.minutes):
            return Expiry(started_at.astimezone(UTC), False)
        day = self.calendar.next_workday_on_or_after(_local(started_at).date())
        return Expiry(end_of_day(day), not self.calendar.is_covered(day.year))


def used(axis: Axis, origin: datetime, ledger: Iterable[Interval], at: datetime) -> float:
    """Axis seconds the ledger has run from `origin` up to `at`."""
    total = 0.0
    for interval in ledger:
        start = max(interval.start, origin)
        end = min(interval.end or at, at)
        total += axis.measure(start, end)
    return total


def expiry(axis: Axis, origin: datetime, ledger: list[Interval], budget: float) -> Expiry | None:
    """When the budget runs out; None when the clock is paused with budget left (no due instant then)."""
    if budget <= 0:
        return axis.immediate(ledger[0].start) if ledger else None
    spent = 0.0
    for interval in ledger:
        start = max(interval.start, origin)
        if interval.end is None:
            return axis.exhaust(start, budget - spent)
        if interval.end <= start:
            continue
        part = axis.measure(start, interval.end)
        if spent + part >= budget:
            return axis.exhaust(start, budget - spent)
        spent += part
    return None


def instant_when_used(axis: Axis, origin: datetime, ledger: list[Interval], amount: float) -> datetime | None:
    """The instant the ledger has used `amount` axis seconds (not rounded to 24:00): for warnings."""
    spent = 0.0
    for interval in ledger:
        start = max(interval.start, origin)
        end = interval.end
        if end is not None and end <= start:
            continue
        part = axis.measure(start, end) if end is not None else None
        if part is not None and spent + part < amount:
            spent += part
            continue
        return _advance(axis, start, amount - spent)
    return None


def _advance(axis: Axis, start: datetime, seconds: float) -> datetime:
    """The instant `seconds` axis seconds after `start` (exact, for thresholds inside a day)."""
    if axis.unit in (LimitUnit.hours, LimitUnit.minutes):
        return (start + timedelta(seconds=seconds)).astimezone(UTC)
    a = _local(start)
    day = a.date()
    if seconds <= 0:
        return a.astimezone(UTC)
    if axis._counts(day):
        available = (_midnight(day + _DAY) - a).total_seconds()
        if seconds <= available:
            return (a + timedelta(seconds=seconds)).astimezone(UTC)
        seconds -= available
    full, rest = divmod(seconds, DAY_SECONDS)
    if rest == 0:  # lands exactly at a midnight: the end of the last full day
        full, rest = full - 1, DAY_SECONDS
    if axis.unit is LimitUnit.working_days:
        target = axis.calendar.add_working_days(day, int(full) + 1).day
    else:
        target = day + timedelta(days=int(full) + 1)
    return (_midnight(target) + timedelta(seconds=rest)).astimezone(UTC)
