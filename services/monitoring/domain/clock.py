"""The case clock (办件时限): deadlines, the supervision level at an instant, and the verdict at closing.

A clock is a pure function of the case's events and the working-day calendar: the caller passes every
instant in (`now`, the event's `occurred_at`), so nothing here reads the system time, and the same
events always give the same deadlines (domain.md §1, architecture.md "The supervision clock").

This first version derives both due instants once, at acceptance, from the limits of the item version
the case is pinned to. Suspensions are recorded (state `paused`) but do not yet move the due instants:
the budget ledger of running intervals comes with the timers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, Deadline, WorkingDayCalendar, deadline, end_of_day

_DAY = timedelta(days=1)


class ClockState(StrEnum):
    running = "running"  # 计时中
    paused = "paused"  # 暂停计时 (特别程序, 补正)
    closed = "closed"  # 已结束 (办结 or 撤回)


class Level(StrEnum):
    """Supervision level of a clock at an instant (domain.md §6 defaults)."""

    normal = "normal"  # 正常
    warning = "warning"  # 预警
    breach = "breach"  # 黄牌: promised limit passed
    severe = "severe"  # 红牌: legal limit passed


class Verdict(StrEnum):
    on_time = "on_time"  # 按时办结: completed at or before the promised due instant
    late_promise = "late_promise"  # 超承诺时限: after the promised due, at or before the legal due
    late_legal = "late_legal"  # 超法定时限: after the legal due
    withdrawn = "withdrawn"  # 撤回: the applicant withdrew; not counted in on-time statistics


@dataclass(frozen=True)
class WarningPolicy:
    """When a running clock turns to warning (预警); localities differ, so these are settings.

    Warning is reached when the time left before the *promised* due instant is at most
    `working_days` working days or at most `share` of the promised limit, whichever comes first
    (that is, whichever threshold is larger). The working-day threshold applies to day limits only:
    for an hour or minute limit one working day would exceed the whole limit, so only `share` applies.
    """

    working_days: float = 1.0
    share: float = 0.2


@dataclass(frozen=True)
class Step:
    code: str
    name: str
    started_at: datetime


@dataclass(frozen=True)
class Closing:
    """How a clock ended.

    - `verdict`: see `Verdict`; compared against the due instants derived at acceptance.
    - `used_working_days` (用时, 工作日): `calendar.working_days_between(start date, end date)` on
      Asia/Shanghai dates, i.e. the working days in (start date, end date] — the day of acceptance is
      not counted, the day of completion counts whole if it is a working day. Completed on the day of
      acceptance: 0.
    - `speed_up_ratio` (提速率) = (legal limit − used_working_days) / legal limit, both in working
      days. Negative when the legal limit was overrun. None when the legal limit is not in working
      days, is zero, or the case was withdrawn (nothing was delivered, so there is no speed to rate).
    """

    verdict: Verdict
    closed_at: datetime
    used_working_days: int
    speed_up_ratio: float | None


def used_working_days(start: datetime, end: datetime, calendar: WorkingDayCalendar) -> int:
    """Working days in (start date, end date], Asia/Shanghai dates (see `Closing`)."""
    return calendar.working_days_between(_local_day(start), _local_day(end))


def speed_up_ratio(legal_limit: TimeLimit, used: int) -> float | None:
    """提速率 = (legal limit − used working days) / legal limit; None unless the limit is in working days."""
    if legal_limit.unit is not LimitUnit.working_days or legal_limit.value == 0:
        return None
    return (legal_limit.value - used) / legal_limit.value


def verdict_for(completed_at: datetime, promised_due: Deadline, legal_due: Deadline) -> Verdict:
    """on_time if completed ≤ promised due; late_promise if ≤ legal due; late_legal otherwise."""
    if completed_at <= promised_due.due_at:
        return Verdict.on_time
    if completed_at <= legal_due.due_at:
        return Verdict.late_promise
    return Verdict.late_legal


def remaining_before(
    due: Deadline, limit: TimeLimit, started_at: datetime, now: datetime, calendar: WorkingDayCalendar,
) -> float | timedelta:
    """Time left at `now` before `due`: working days for working-day limits, wall time otherwise.

    Working days are measured on the domain's axis where each working day counts 24 hours and other
    days none: whole working days in (today, last day] from `calendar.working_days_between` on
    Asia/Shanghai dates, plus the unused fraction of today if today is a working day after the start
    day (the start day is not counted, so on it exactly the whole limit remains). Never negative.
    """
    if limit.unit is not LimitUnit.working_days:
        return max(due.due_at - now, timedelta(0))
    if now >= due.due_at:
        return 0.0
    start_day, today, last_day = _local_day(started_at), _local_day(now), due.due_date_local
    whole = calendar.working_days_between(max(today, start_day), last_day)
    part = 0.0
    if start_day < today <= last_day and calendar.is_workday(today):
        part = (end_of_day(today) - now) / _DAY
    return whole + part


def level_at(
    now: datetime, *, started_at: datetime, promised_limit: TimeLimit, promised_due: Deadline, legal_due: Deadline,
    calendar: WorkingDayCalendar, policy: WarningPolicy,
) -> Level:
    """severe if now ≥ legal due; breach if now ≥ promised due; warning per `WarningPolicy`; else normal."""
    if now >= legal_due.due_at:
        return Level.severe
    if now >= promised_due.due_at:
        return Level.breach
    left = remaining_before(promised_due, promised_limit, started_at, now, calendar)
    if isinstance(left, timedelta):
        whole = _as_timedelta(promised_limit)
        threshold = whole * policy.share
        if promised_limit.unit is LimitUnit.calendar_days:
            threshold = max(threshold, _DAY * policy.working_days)
        return Level.warning if left <= threshold else Level.normal
    threshold_days = max(policy.working_days, policy.share * promised_limit.value)
    return Level.warning if left <= threshold_days else Level.normal


@dataclass
class CaseClock:
    """The handling clock of one case (办理时限), from 受理 to 办结 or 撤回."""

    clock_id: str
    case_no: str
    item_code: str
    item_version: int
    item_name: str
    region_code: str
    department: str
    started_at: datetime
    promised_limit: TimeLimit
    legal_limit: TimeLimit
    promised_due: Deadline
    legal_due: Deadline
    state: ClockState = ClockState.running
    current_step: Step | None = None
    open_suspensions: tuple[str, ...] = field(default_factory=tuple)
    closing: Closing | None = None

    @classmethod
    def start(
        cls, *, case_no: str, item_code: str, item_version: int, item_name: str, region_code: str,
        department: str, started_at: datetime, promised_limit: TimeLimit, legal_limit: TimeLimit,
        calendar: WorkingDayCalendar,
    ) -> CaseClock:
        """Starts at the acceptance instant (CaseAccepted.occurred_at) with the pinned version's limits."""
        return cls(
            clock_id=clock_id_for(case_no), case_no=case_no, item_code=item_code, item_version=item_version,
            item_name=item_name, region_code=region_code, department=department, started_at=started_at,
            promised_limit=promised_limit, legal_limit=legal_limit,
            promised_due=deadline(started_at, promised_limit, calendar),
            legal_due=deadline(started_at, legal_limit, calendar),
        )

    @property
    def provisional(self) -> bool:
        """A due instant falls in or crosses a year whose official schedule is not loaded (暂定)."""
        return self.promised_due.provisional or self.legal_due.provisional

    @property
    def is_closed(self) -> bool:
        return self.state is ClockState.closed

    def level_at(self, now: datetime, calendar: WorkingDayCalendar, policy: WarningPolicy) -> Level:
        """The level at `now`; a closed clock keeps the level it had reached when it closed."""
        at = min(now, self.closing.closed_at) if self.closing is not None else now
        return level_at(at, started_at=self.started_at, promised_limit=self.promised_limit,
                        promised_due=self.promised_due, legal_due=self.legal_due, calendar=calendar, policy=policy)

    # ---- facts from the case's events; a closed clock ignores them (late deliveries, certificates) ----

    def step_started(self, code: str, name: str, at: datetime) -> None:
        if not self.is_closed:
            self.current_step = Step(code, name, at)

    def step_completed(self, code: str) -> None:
        # Between steps no step is current; a completion of another step leaves the current one alone.
        if not self.is_closed and self.current_step is not None and self.current_step.code == code:
            self.current_step = None

    def suspended(self, suspension_id: str) -> None:
        if self.is_closed or suspension_id in self.open_suspensions:
            return
        self.open_suspensions = (*self.open_suspensions, suspension_id)
        self.state = ClockState.paused

    def resumed(self, suspension_id: str) -> None:
        if self.is_closed:
            return
        self.open_suspensions = tuple(s for s in self.open_suspensions if s != suspension_id)
        self.state = ClockState.paused if self.open_suspensions else ClockState.running

    def completed(self, at: datetime, calendar: WorkingDayCalendar) -> Closing | None:
        """办结: closes with a verdict; None if the clock was already closed (nothing new to announce)."""
        if self.is_closed:
            return None
        used = used_working_days(self.started_at, at, calendar)
        return self._close(Closing(verdict_for(at, self.promised_due, self.legal_due), at, used,
                                   speed_up_ratio(self.legal_limit, used)))

    def withdrawn(self, at: datetime, calendar: WorkingDayCalendar) -> Closing | None:
        """撤回: closes with verdict `withdrawn` and no speed-up ratio."""
        if self.is_closed:
            return None
        return self._close(Closing(Verdict.withdrawn, at, used_working_days(self.started_at, at, calendar), None))

    def _close(self, closing: Closing) -> Closing:
        self.closing = closing
        self.state = ClockState.closed
        self.current_step = None
        self.open_suspensions = ()
        return closing


def clock_id_for(case_no: str) -> str:
    """Deterministic, so replaying the events rebuilds the same id; `handling` leaves room for other clocks
    of the same case (the 5-day acceptance decision, a 容缺 promise, certificate issue)."""
    return f"case:{case_no}:handling"


def _local_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def _as_timedelta(limit: TimeLimit) -> timedelta:
    if limit.unit is LimitUnit.hours:
        return timedelta(hours=limit.value)
    if limit.unit is LimitUnit.minutes:
        return timedelta(minutes=limit.value)
    return timedelta(days=limit.value)
