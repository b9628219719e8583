"""Calendar administration (工作日历管理): load a year's official schedule, journal it, explain days.

`chinesecalendar` answers the years it covers; an administrator loads the others — and may correct a
covered one — from the State Council's yearly notice (format: `domain.calendar_schedule`). A loaded year
replaces the library for that whole year. Deadlines in a year neither covers are provisional (weekends
alone) until the year is loaded; then the integrator recomputes them (`years_to_recompute` below).

The runtime keeps one `WorkingDayCalendar` (`runtime.calendar`); `refresh_runtime_calendar` rebuilds it
from the database at start-up and after each upload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import chinese_calendar
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.common.principal import Principal
from services.common.workdays import WorkingDayCalendar, YearSchedule
from services.monitoring.adapters.calendar_tables import calendar_change, calendar_year
from services.monitoring.domain.calendar_schedule import (
    OfficialYearSchedule,
    ScheduleRejected,
    changed_days,
    parse_schedule,
)

log = logging.getLogger(__name__)

MAX_EXPLAIN_DAYS = 400
LIBRARY_SOURCE = f"chinesecalendar {getattr(chinese_calendar, '__version__', '')}".strip()

# chinesecalendar names its holidays in English; people read Chinese.
_LIBRARY_HOLIDAYS_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


class CalendarHolder(Protocol):
    """What `refresh_runtime_calendar` needs of the runtime (`services.common.runtime.Runtime` fits)."""

    read_session: sessionmaker[Any]
    calendar: WorkingDayCalendar


# ---- loading -------------------------------------------------------------------------------------------

def loaded_schedules(session: Session) -> list[OfficialYearSchedule]:
    """Every year loaded, re-validated from its stored file. A row that no longer validates is skipped
    with an error in the log (the library or the provisional rule then answers for that year)."""
    schedules: list[OfficialYearSchedule] = []
    for row in session.execute(select(calendar_year.c.year, calendar_year.c.schedule)
                               .order_by(calendar_year.c.year)):
        try:
            schedules.append(parse_schedule(row.schedule, expected_year=row.year))
        except ScheduleRejected as exc:
            log.error("calendar_year %s in the database does not validate, ignored: %s", row.year, exc)
    return schedules


def load_calendar(session: Session) -> WorkingDayCalendar:
    """The working-day calendar: chinesecalendar plus every year loaded (a loaded year wins)."""
    return WorkingDayCalendar(loaded_years={s.year: s for s in loaded_schedules(session)})


async def refresh_runtime_calendar(runtime: CalendarHolder) -> None:
    """Rebuilds `runtime.calendar` from the database (off the event loop) and swaps it in at once."""

    def load() -> WorkingDayCalendar:
        with runtime.read_session() as session:
            return load_calendar(session)

    runtime.calendar = await asyncio.to_thread(load)


# ---- uploading ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Previous:
    basis: str  # library / loaded / provisional
    source: str | None


def _previous(calendar: WorkingDayCalendar, year: int) -> _Previous:
    schedule = calendar.loaded_years.get(year)
    if schedule is not None:
        return _Previous("loaded", schedule.source)
    if year in calendar.library_years:
        return _Previous("library", LIBRARY_SOURCE)
    return _Previous("provisional", None)


def upload_year(
    session: Session, principal: Principal, raw_json: str | bytes | Mapping[str, Any], now: datetime,
    expected_year: int | None = None,
) -> tuple[YearSchedule, dict[str, Any]]:
    """Validates a year's file, stores it (replacing any earlier load of that year), journals the change.

    Raises `ScheduleRejected` (every problem listed) before anything is written. Returns the schedule
    and the change summary: the days that became rest days (变为休息日) or working days (变为工作日)
    compared with what the calendar answered before, and `years_to_recompute` — the year, when it was
    provisional before or any day changed — whose clocks the caller should recompute.
    """
    schedule = parse_schedule(raw_json, expected_year=expected_year)
    existing = session.execute(
        select(calendar_year.c.year).where(calendar_year.c.year == schedule.year).with_for_update()
    ).first()
    before = load_calendar(session)
    after = before.with_years([schedule])
    to_rest, to_work = changed_days(schedule.year, before.is_workday, after.is_workday)
    previous = _previous(before, schedule.year)
    summary: dict[str, Any] = {
        "year": schedule.year,
        "source": schedule.source,
        "published_on": schedule.published_on.isoformat() if schedule.published_on else None,
        "replaces": previous.basis,  # what answered for this year before: library / loaded / provisional
        "previous_source": previous.source,
        "became_holidays": [_change(d, before, after) for d in to_rest],
        "became_workdays": [_change(d, before, after) for d in to_work],
        "holidays": len(schedule.holidays),
        "makeup_workdays": len(schedule.makeup_workdays),
        "loaded_by": {"subject": principal.subject, "name": principal.name, "department": principal.department},
    }
    summary["years_to_recompute"] = (
        [schedule.year] if previous.basis == "provisional" or to_rest or to_work else []
    )
    values = {
        "source": schedule.source,
        "published_on": schedule.published_on,
        "schedule": schedule.to_document(),
        "loaded_at": now,
        "loaded_by": principal.subject,
    }
    if existing is None:
        session.execute(insert(calendar_year).values(year=schedule.year, **values))
    else:
        session.execute(update(calendar_year).where(calendar_year.c.year == schedule.year).values(**values))
    session.execute(insert(calendar_change).values(
        year=schedule.year, loaded_at=now, loaded_by=principal.subject, source=schedule.source, summary=summary,
    ))
    return schedule, summary


def _change(day: date, before: WorkingDayCalendar, after: WorkingDayCalendar) -> dict[str, str]:
    return {"date": day.isoformat(), "before": explain_day(before, day), "after": explain_day(after, day)}


def calendar_changes(session: Session, year: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The journal (变更记录), newest first."""
    query = select(calendar_change).order_by(calendar_change.c.id.desc()).limit(limit)
    if year is not None:
        query = query.where(calendar_change.c.year == year)
    return [
        {"id": r.id, "year": r.year, "loaded_at": r.loaded_at.isoformat(), "loaded_by": r.loaded_by,
         "source": r.source, "summary": r.summary}
        for r in session.execute(query)
    ]


def loaded_year_records(session: Session) -> dict[int, dict[str, Any]]:
    """Who loaded each year, and when: the database's view, to compare with the calendar in memory."""
    return {
        r.year: {"source": r.source, "loaded_at": r.loaded_at.isoformat(), "loaded_by": r.loaded_by}
        for r in session.execute(select(calendar_year.c.year, calendar_year.c.source, calendar_year.c.loaded_at,
                                        calendar_year.c.loaded_by))
    }


# ---- reading ------------------------------------------------------------------------------------------

def calendar_status(calendar: WorkingDayCalendar, today: date) -> dict[str, Any]:
    """Which years the calendar covers, where each loaded year comes from, and what is missing.

    `missing_next_year` follows domain.md §1: from 1 November, next year if it is not covered. A current
    year not covered (every deadline provisional) is warned about too.
    """
    warnings: list[str] = []
    missing_next = calendar.missing_next_year(today)
    if not calendar.is_covered(today.year):
        warnings.append(f"{today.year} 年节假日安排尚未载入：本年度的期限仅按周末计算（暂定），请尽快载入国务院通知")
    if missing_next is not None:
        warnings.append(f"{missing_next} 年节假日安排尚未载入：跨年期限为暂定，请在国务院通知发布后载入")
    loaded = []
    for year in sorted(calendar.loaded_years):
        schedule = calendar.loaded_years[year]
        published = getattr(schedule, "published_on", None)
        loaded.append({
            "year": year,
            "source": schedule.source,
            "published_on": published.isoformat() if published else None,
            "replaces_library": year in calendar.library_years,
            "holidays": len(schedule.holidays),
            "makeup_workdays": len(schedule.makeup_workdays),
        })
    library = sorted(calendar.library_years)
    return {
        "today": today.isoformat(),
        "library": {"source": LIBRARY_SOURCE, "first_year": library[0], "last_year": library[-1]},
        "covered_years": sorted(calendar.covered_years),
        "loaded_years": loaded,
        "current_year_covered": calendar.is_covered(today.year),
        "missing_next_year": missing_next,
        "warnings": warnings,
    }


def explain_day(calendar: WorkingDayCalendar, day: date) -> str:
    """Why a day is or is not a working day (中文), naming the holiday where known."""
    weekend = day.weekday() >= 5
    schedule = calendar.loaded_years.get(day.year)
    if schedule is not None:
        named = schedule if isinstance(schedule, OfficialYearSchedule) else None
        if day in schedule.makeup_workdays:
            for_name = named.makeup_for(day) if named else None
            return f"调休上班（{for_name + '，' if for_name else ''}{schedule.source}）"
        if day in schedule.holidays:
            name = named.holiday_name(day) if named else None
            return f"法定节假日：{name}（{schedule.source}）" if name else f"法定节假日（{schedule.source}）"
        return "周末" if weekend else "工作日"
    if day.year in calendar.library_years:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        label = _LIBRARY_HOLIDAYS_ZH.get(str(name), str(name)) if name else None
        if label and not on_holiday:
            return f"调休上班（{label}）"
        if label and on_holiday:
            return f"法定节假日：{label}"
        return "周末" if weekend else "工作日"
    return f"{'周末' if weekend else '工作日'}（暂定：{day.year} 年节假日安排未载入）"


def explain_range(calendar: WorkingDayCalendar, start: date, end: date) -> list[dict[str, Any]]:
    """Each day from `start` to `end` inclusive: working or not, why, and whether provisional (暂定)."""
    if end < start:
        raise ValueError("end before start")
    if (end - start).days + 1 > MAX_EXPLAIN_DAYS:
        raise ValueError(f"at most {MAX_EXPLAIN_DAYS} days")
    days = []
    day = start
    while day <= end:
        days.append({
            "date": day.isoformat(),
            "workday": calendar.is_workday(day),
            "why": explain_day(calendar, day),
            "provisional": not calendar.is_covered(day.year),
        })
        day += timedelta(days=1)
    return days
