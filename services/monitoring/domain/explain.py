"""Explain a clock day by day, and project it: "if suspended until X, the legal deadline becomes Y"."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.common.contracts.payloads import LimitUnit
from services.common.workdays import SHANGHAI, WorkingDayCalendar
from services.monitoring.domain.budget import DAY_SECONDS, Axis, counting_origin
from services.monitoring.domain.clocks import Clock, LimitSpec, Pause

_DAY = timedelta(days=1)
_REASONS_ZH = {
    "hearing": "听证", "tendering": "招标", "auction": "拍卖", "inspection": "检验", "testing": "检测",
    "quarantine": "检疫", "appraisal": "鉴定", "expert_review": "专家评审", "applicant_supplement": "申请人补正",
    "third_party_consultation": "征求第三方意见",
}


@dataclass(frozen=True)
class DayAccount:
    day: date
    calendar: str  # 工作日 / 周末 / 法定节假日 (名称) / 调休上班, "(暂定)" for an unloaded year
    counted_seconds: float  # axis seconds this day added to the budget used
    cumulative_days: float  # budget used by the end of this day, in days (or hours for time limits)
    notes: tuple[str, ...]  # why part or all of the day did not count: start day, a pause and its reason


def explain(clock: Clock, spec: LimitSpec, calendar: WorkingDayCalendar, until: date | None = None) -> list[DayAccount]:
    """Each day from the start to the due day (or `until`): whether and how much it counted, and why."""
    limit = clock.effective_limit(spec)
    axis = Axis(limit.unit, calendar)
    origin = counting_origin(clock.budget_start, limit.unit)
    due = clock.deadline(spec, calendar)
    first = clock.started_at.astimezone(SHANGHAI).date()
    last = until or ((due.due_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date() if due else first)
    ledger = clock.ledger() if clock.ended_at is None else clock._ledger_as_if_running()
    unit_seconds = DAY_SECONDS if limit.unit in (LimitUnit.working_days, LimitUnit.calendar_days) else 3600
    accounts: list[DayAccount] = []
    total = 0.0
    day = first
    while day <= last and len(accounts) < 800:
        start = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)
        end = start + _DAY
        counted = 0.0
        for interval in ledger:
            a = max(interval.start, origin, start)
            b = min(interval.end or end, end)
            counted += axis.measure(a, b)
        total += counted
        notes: list[str] = []
        if day == clock.budget_start.astimezone(SHANGHAI).date() and limit.unit in (
                LimitUnit.working_days, LimitUnit.calendar_days):
            notes.append("起算日不计入")
        for pause in clock.pauses:
            p_end = pause.end or end
            if pause.start < end and p_end > start:
                notes.append(f"暂停计时：{_REASONS_ZH.get(pause.reason, pause.reason)}")
        accounts.append(DayAccount(day, calendar.explain(day), counted, round(total / unit_seconds, 4),
                                   tuple(notes)))
        day += _DAY
    return accounts


def what_if_suspended(clock: Clock, suspend_from: datetime, suspend_until: datetime) -> Clock:
    """The same clock with one more pause; its deadlines answer the what-if."""
    projected = copy.deepcopy(clock)
    projected.pauses.append(Pause("what-if", "expert_review", suspend_from, suspend_until))
    return projected
