"""The supervision clock (监察时钟): one model for every timed subject.

A clock is a budget per limit and a ledger of running intervals, derived from the subject's events and
the working-day calendar alone, so the same events in any order give the same deadlines and nothing
here reads the system time. Levels (domain.md §6): *warning* when the remaining time before the first
limit is at most the policy's threshold, then the level each limit carries when it passes — *breach*
(黄牌) for a promise, *severe* (红牌) for the law.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum

from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, WorkingDayCalendar
from services.monitoring.domain.budget import (
    DAY_SECONDS,
    Axis,
    Expiry,
    Interval,
    budget_seconds,
    counting_origin,
    expiry,
    instant_when_used,
    used,
)


class ClockKind(StrEnum):
    handling = "handling"  # 办件: promised and legal limit of the whole case
    acceptance = "acceptance"  # 受理决定: 5 working days from receipt, else deemed accepted (Art. 32)
    step = "step"  # 环节时限: one approval step against its step limit
    joint_opinion = "joint_opinion"  # 并联审批: one department's opinion (超时默认 on passing)
    deferred_materials = "deferred_materials"  # 容缺受理: the applicant's promise to supply
    disclosure_reply = "disclosure_reply"  # 依申请公开: 20 working days (+≤20), restart after a supplement
    complaint_transfer = "complaint_transfer"  # 投诉转办: 5 working days
    complaint_reply = "complaint_reply"  # 实名投诉答复: 7 days
    rectification = "rectification"  # 差评整改: local limit, default 5 working days


class Level(StrEnum):
    normal = "normal"  # 正常
    warning = "warning"  # 预警
    breach = "breach"  # 黄牌
    severe = "severe"  # 红牌


LEVEL_ORDER = {Level.normal: 0, Level.warning: 1, Level.breach: 2, Level.severe: 3}


class ClockState(StrEnum):
    running = "running"
    paused = "paused"
    closed = "closed"


class Verdict(StrEnum):
    on_time = "on_time"  # within the first limit (the promise)
    late_promise = "late_promise"  # past the promise, within the law
    late_legal = "late_legal"  # past the legal limit
    withdrawn = "withdrawn"  # ended by the applicant: not counted in on-time statistics


@dataclass(frozen=True)
class LimitSpec:
    name: str  # "promised" / "legal" / "limit"
    limit: TimeLimit
    level: Level  # raised when this limit passes


@dataclass(frozen=True)
class WarningPolicy:
    """预警 threshold: remaining time before the first limit at most `working_days` working days or
    `share` of that limit, whichever comes first. Day thresholds apply to day limits only: one working
    day would exceed a 4-hour limit, so hour and minute limits warn on `share` alone."""

    working_days: float = 1.0
    share: float = 0.2


@dataclass
class Pause:
    pause_id: str
    reason: str
    start: datetime
    end: datetime | None = None
    expected_days: int | None = None


@dataclass
class Clock:
    clock_id: str
    kind: ClockKind
    subject_no: str
    started_at: datetime
    limits: list[LimitSpec]
    region_code: str = ""
    department: str = ""
    item_type: str = ""
    label: str = ""  # the step, department or material the clock is about
    pauses: list[Pause] = field(default_factory=list)
    restarts: list[datetime] = field(default_factory=list)  # budget renewed from each (Art. 30 supplement)
    extension: TimeLimit | None = None  # applied to the limit that raises severe
    ended_at: datetime | None = None
    end_reason: str = ""

    # ---- the ledger ----------------------------------------------------------------------------------

    @property
    def budget_start(self) -> datetime:
        return max([self.started_at, *self.restarts])

    def ledger(self) -> list[Interval]:
        """Running intervals from the (last re)start, pauses cut out, clipped at the end if ended."""
        spans: list[tuple[datetime, datetime | None]] = []
        cursor: datetime | None = self.budget_start
        for pause in sorted(self.pauses, key=lambda p: p.start):
            if cursor is None:
                break  # an open pause: nothing runs after it
            if pause.end is not None and pause.end <= cursor:
                continue
            if pause.start > cursor:
                spans.append((cursor, pause.start))
            cursor = pause.end
        if cursor is not None:
            spans.append((cursor, None))
        if self.ended_at is not None:
            end = self.ended_at
            spans = [(s, end if e is None or e > end else e) for s, e in spans if s < end]
        return [Interval(s, e) for s, e in spans if e is None or e > s]

    @property
    def state(self) -> ClockState:
        if self.ended_at is not None:
            return ClockState.closed
        if any(p.end is None for p in self.pauses):
            return ClockState.paused
        return ClockState.running

    # ---- deadlines -----------------------------------------------------------------------------------

    def effective_limit(self, spec: LimitSpec) -> TimeLimit:
        if self.extension is not None and spec.level is Level.severe and self.extension.unit is spec.limit.unit:
            return TimeLimit(value=spec.limit.value + self.extension.value, unit=spec.limit.unit,
                             note=spec.limit.note)
        return spec.limit

    def deadline(self, spec: LimitSpec, calendar: WorkingDayCalendar) -> Expiry | None:
        """The due instant of one limit, or None while paused with budget left."""
        limit = self.effective_limit(spec)
        axis = Axis(limit.unit, calendar)
        ledger = self.ledger() if self.ended_at is None else self._ledger_as_if_running()
        due = expiry(axis, counting_origin(self.budget_start, limit.unit), ledger, budget_seconds(limit))
        extension = self.extension
        if due is None or extension is None or spec.level is not Level.severe or extension.unit is limit.unit:
            return due
        # An extension in another unit than the limit (10 working days on a limit in calendar days) runs on
        # from the end of the limit's last day, counted on the extension's own axis (start day excluded).
        last_day = (due.due_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()
        day_units = (LimitUnit.working_days, LimitUnit.calendar_days)
        start = datetime.combine(last_day, time(12), tzinfo=SHANGHAI) if extension.unit in day_units else due.due_at
        extended = expiry(Axis(extension.unit, calendar), counting_origin(start, extension.unit), [Interval(start)],
                          budget_seconds(extension))
        return None if extended is None else Expiry(extended.due_at, due.provisional or extended.provisional)

    def deadlines(self, calendar: WorkingDayCalendar) -> list[Expiry | None]:
        """Every limit's deadline, in the order of `limits`: computed once, passed to the methods below
        as `dues` by a caller that asks for several of them (each deadline walks the calendar)."""
        return [self.deadline(spec, calendar) for spec in self.limits]

    def _dues(self, calendar: WorkingDayCalendar, dues: list[Expiry | None] | None) -> list[Expiry | None]:
        return self.deadlines(calendar) if dues is None else dues

    def _ledger_as_if_running(self) -> list[Interval]:
        """For a closed clock, the deadline it was held to: the ledger continued past its end."""
        ended, self.ended_at = self.ended_at, None
        try:
            ledger = self.ledger()
        finally:
            self.ended_at = ended
        return ledger

    def used_seconds(self, spec: LimitSpec, at: datetime, calendar: WorkingDayCalendar) -> float:
        limit = self.effective_limit(spec)
        axis = Axis(limit.unit, calendar)
        end = min(at, self.ended_at) if self.ended_at else at
        return used(axis, counting_origin(self.budget_start, limit.unit), self.ledger(), end)

    def warning_threshold(self, spec: LimitSpec, policy: WarningPolicy) -> float:
        limit = self.effective_limit(spec)
        budget = budget_seconds(limit)
        by_share = policy.share * budget
        if limit.unit in (LimitUnit.working_days, LimitUnit.calendar_days):
            return max(by_share, policy.working_days * DAY_SECONDS)
        return by_share

    def level_instants(self, calendar: WorkingDayCalendar, policy: WarningPolicy,
                       dues: list[Expiry | None] | None = None) -> dict[Level, datetime]:
        """When each level is (or was) reached on the current ledger; a paused clock reaches nothing new.

        For a closed clock, the levels it reached before it ended: an end recorded after a level fell due
        (monitoring down at that instant, a back-filled completion) must still raise that level.
        """
        instants: dict[Level, datetime] = {}
        if not self.limits:
            return instants
        ledger = self.ledger() if self.ended_at is None else self._ledger_as_if_running()
        first = self.limits[0]
        limit = self.effective_limit(first)
        budget = budget_seconds(limit)
        threshold = self.warning_threshold(first, policy)
        if 0 < threshold < budget:
            axis = Axis(limit.unit, calendar)
            at = instant_when_used(axis, counting_origin(self.budget_start, limit.unit), ledger, budget - threshold)
            if at is not None:
                instants[Level.warning] = at
        for spec, due in zip(self.limits, self._dues(calendar, dues), strict=True):
            if due is None:
                continue
            previous = instants.get(spec.level)
            instants[spec.level] = due.due_at if previous is None else min(previous, due.due_at)
        if self.ended_at is not None:
            instants = {lvl: at for lvl, at in instants.items() if at < self.ended_at}
        return instants

    def level_at(self, now: datetime, calendar: WorkingDayCalendar, policy: WarningPolicy) -> Level:
        at = min(now, self.ended_at) if self.ended_at else now
        if self.ended_at is not None:
            reached = [spec.level for spec in self.limits
                       if (d := self.deadline(spec, calendar)) is not None and d.due_at < at]
            return max(reached, key=LEVEL_ORDER.__getitem__, default=Level.normal)
        reached = [lvl for lvl, when in self.level_instants(calendar, policy).items() if when <= at]
        return max(reached, key=LEVEL_ORDER.__getitem__, default=Level.normal)

    def verdict(self, calendar: WorkingDayCalendar, dues: list[Expiry | None] | None = None) -> Verdict | None:
        if self.ended_at is None:
            return None
        if self.end_reason == "withdrawn":
            return Verdict.withdrawn
        ended = self.ended_at
        late = [spec for spec, d in zip(self.limits, self._dues(calendar, dues), strict=True)
                if d is not None and ended > d.due_at]
        if any(spec.level is Level.severe for spec in late):
            return Verdict.late_legal
        return Verdict.late_promise if late else Verdict.on_time

    def provisional(self, calendar: WorkingDayCalendar, dues: list[Expiry | None] | None = None) -> bool:
        return any(d is not None and d.provisional for d in self._dues(calendar, dues))
