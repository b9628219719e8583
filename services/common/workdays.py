"""The official working-day calendar (工作日) and deadlines counted on it (domain.md §1).

`chinesecalendar` is the source of truth for the years it covers; an index of cumulative working-day
counts answers "N working days after D" by bisection, since stepping the library day by day runs only
about 1,400 lookups a second. A year the library does not cover is counted on weekends alone and the
answer is marked provisional, until an administrator loads that year's schedule.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from services.common.contracts.payloads import LimitUnit, TimeLimit

SHANGHAI = ZoneInfo("Asia/Shanghai")
_INDEX_START = date(2004, 1, 1)
_INDEX_END = date(2040, 12, 31)


def _library_years() -> set[int]:
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return set(range(min(years), max(years) + 1))


@dataclass(frozen=True)
class YearSchedule:
    """A year loaded by an administrator: holidays and make-up workdays (调休上班), citing the notice."""

    year: int
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    source: str  # e.g. 国办发明电〔2026〕N号


@dataclass(frozen=True)
class WorkdayAnswer:
    day: date
    provisional: bool  # some day counted lies in a year with no official schedule


@dataclass
class WorkingDayCalendar:
    loaded_years: dict[int, YearSchedule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.library_years = _library_years()
        self._covered = frozenset(self.library_years | set(self.loaded_years))  # asked on every deadline
        days = (_INDEX_END - _INDEX_START).days + 1
        self._cumulative: list[int] = []
        count = 0
        for i in range(days):
            if self._is_workday_raw(_INDEX_START + timedelta(days=i)):
                count += 1
            self._cumulative.append(count)

    @property
    def covered_years(self) -> set[int]:
        return set(self._covered)

    def is_covered(self, year: int) -> bool:
        return year in self._covered

    def _is_workday_raw(self, day: date) -> bool:
        schedule = self.loaded_years.get(day.year)
        if schedule is not None:
            if day in schedule.makeup_workdays:
                return True
            if day in schedule.holidays:
                return False
            return day.weekday() < 5
        if day.year in self.library_years:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5  # provisional: weekends alone

    def is_workday(self, day: date) -> bool:
        if _INDEX_START <= day <= _INDEX_END:
            i = (day - _INDEX_START).days
            return self._cumulative[i] - (self._cumulative[i - 1] if i else 0) == 1
        return self._is_workday_raw(day)

    def explain(self, day: date) -> str:
        """Why a day counts or not: weekday, weekend, the holiday's name, or a make-up workday."""
        schedule = self.loaded_years.get(day.year)
        if schedule is not None:
            if day in schedule.makeup_workdays:
                return f"调休上班 ({schedule.source})"
            if day in schedule.holidays:
                return f"法定节假日 ({schedule.source})"
        elif day.year in self.library_years:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
            if name and not on_holiday:
                return f"调休上班 ({name})"
            if on_holiday and name:
                return f"法定节假日 ({name})"
        else:
            return "周末 (暂定)" if day.weekday() >= 5 else "工作日 (暂定)"
        return "周末" if day.weekday() >= 5 else "工作日"

    def add_working_days(self, start: date, n: int) -> WorkdayAnswer:
        """The N-th working day after `start` (start itself not counted)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if n == 0:
            return WorkdayAnswer(start, not self.is_covered(start.year))
        if _INDEX_START <= start <= _INDEX_END:
            target = self._cumulative[(start - _INDEX_START).days] + n
            i = bisect.bisect_left(self._cumulative, target)
            if i < len(self._cumulative):
                day = _INDEX_START + timedelta(days=i)
                return WorkdayAnswer(day, self._any_uncovered(start, day))
        day, counted = start, 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return WorkdayAnswer(day, self._any_uncovered(start, day))

    def next_workday_on_or_after(self, day: date) -> date:
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: the count a clock started on `start` has used by end of `end`."""
        if end <= start:
            return 0
        if start >= _INDEX_START and end <= _INDEX_END:
            return self._cumulative[(end - _INDEX_START).days] - self._cumulative[(start - _INDEX_START).days]
        return sum(1 for i in range(1, (end - start).days + 1) if self.is_workday(start + timedelta(days=i)))

    def _any_uncovered(self, start: date, end: date) -> bool:
        return any(not self.is_covered(y) for y in range(start.year, end.year + 1))

    def missing_next_year(self, today: date) -> int | None:
        """From 1 November, the next year if its schedule is not loaded (the service warns)."""
        if today.month >= 11 and not self.is_covered(today.year + 1):
            return today.year + 1
        return None

    def with_years(self, schedules: Iterable[YearSchedule]) -> WorkingDayCalendar:
        return WorkingDayCalendar(loaded_years={**self.loaded_years, **{s.year: s for s in schedules}})


@dataclass(frozen=True)
class Deadline:
    due_at: datetime  # an instant, UTC
    provisional: bool

    @property
    def due_date_local(self) -> date:
        """The last day of the limit as printed on a receipt (the day before the 24:00 instant)."""
        local = self.due_at.astimezone(SHANGHAI)
        return (local - timedelta(microseconds=1)).date() if local.time() == time(0) else local.date()


def end_of_day(day: date) -> datetime:
    """24:00 Asia/Shanghai of `day`, as a UTC instant."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(UTC)


def deadline(start: datetime, limit: TimeLimit, calendar: WorkingDayCalendar) -> Deadline:
    """When a limit started at `start` expires, without pauses (domain.md §1).

    Working days: the start day is not counted; due at 24:00 of the N-th working day.
    Calendar days: every day counts; an end on a non-working day moves to the next working day.
    Hours and minutes: wall time from the instant.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    local_day = start.astimezone(SHANGHAI).date()
    if limit.unit is LimitUnit.working_days:
        answer = calendar.add_working_days(local_day, limit.value)
        return Deadline(end_of_day(answer.day), answer.provisional)
    if limit.unit is LimitUnit.calendar_days:
        last = calendar.next_workday_on_or_after(local_day + timedelta(days=limit.value))
        return Deadline(end_of_day(last), calendar._any_uncovered(local_day, last))
    delta = timedelta(hours=limit.value) if limit.unit is LimitUnit.hours else timedelta(minutes=limit.value)
    return Deadline((start + delta).astimezone(UTC), False)
