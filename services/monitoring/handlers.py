"""Monitoring's service layer: case events in, clocks kept, ClockClosed out; reads for the API.

Every case event is first written to the event log, then applied to its clock if the clock exists.
An event that arrives before its case's CaseAccepted (a consumer that started late, a replay) stays in
the log and is applied, in the order it was logged, when CaseAccepted opens the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseResumed,
    CaseSuspended,
    CaseWithdrawn,
    StepCompleted,
    StepStarted,
)
from services.common.contracts.envelope import Envelope
from services.common.contracts.payloads import EventPayload, TimeLimit
from services.common.contracts.registry import REGISTRY
from services.common.contracts.supervision import ClockClosed
from services.common.contracts.topics import Topic
from services.common.messaging import Outbox
from services.common.principal import Principal, region_prefix
from services.common.problems import Problem
from services.common.workdays import Deadline, WorkingDayCalendar
from services.monitoring.adapters.tables import case_clock, case_event_log
from services.monitoring.domain.clock import (
    CaseClock,
    ClockState,
    Closing,
    Level,
    Step,
    Verdict,
    WarningPolicy,
)

# Monitoring needs no one's name or id number: the log keeps the event minus these fields.
_PERSONAL_FIELDS = ("applicant",)


# The events that move a clock; none carries personal data, so their logged copies replay whole.
_CLOCK_EVENTS = (StepStarted, StepCompleted, CaseSuspended, CaseResumed, CaseCompleted, CaseWithdrawn)


def case_event_types() -> list[str]:
    """Every case event type this build knows: all are logged, a few also move the clock."""
    return sorted(t for t, model in REGISTRY.items() if model.topic is Topic.case)


# ---- events from the case topic ----------------------------------------------------------------------

def record_case_event(
    session: Session, outbox: Outbox, calendar: WorkingDayCalendar, envelope: Envelope, event: EventPayload,
) -> None:
    """Logs the event, then opens, moves or closes the case's clock; emits ClockClosed on closing."""
    case_no = event.subject()
    if not _log(session, envelope, event, case_no):
        return  # this event id was already logged (a replay under another consumer name)
    if isinstance(event, CaseAccepted):
        _open_clock(session, outbox, calendar, event)
        return
    clock = _load(session, case_no)
    if clock is None:
        return  # waits in the log until CaseAccepted arrives
    closing = apply_event(clock, event, calendar)
    _save(session, clock)
    if closing is not None:
        _emit_closed(session, outbox, clock, closing)


def apply_event(clock: CaseClock, event: EventPayload, calendar: WorkingDayCalendar) -> Closing | None:
    """Translates a public case event into the clock's own facts; returns the closing if it closed."""
    match event:
        case StepStarted():
            clock.step_started(event.step_code, event.step_name, event.occurred_at)
        case StepCompleted():
            clock.step_completed(event.step_code)
        case CaseSuspended():
            clock.suspended(event.suspension_id)
        case CaseResumed():
            clock.resumed(event.suspension_id)
        case CaseCompleted():
            return clock.completed(event.occurred_at, calendar)
        case CaseWithdrawn():
            return clock.withdrawn(event.occurred_at, calendar)
    # CaseDecided and the rest are only logged in this version.
    return None


def _open_clock(session: Session, outbox: Outbox, calendar: WorkingDayCalendar, event: CaseAccepted) -> None:
    if _load(session, event.case_no) is not None:
        return  # idempotent by case number: a second acceptance of the same case changes nothing
    clock = CaseClock.start(
        case_no=event.case_no, item_code=event.item_code, item_version=event.item_version,
        item_name=event.item_name, region_code=event.region_code, department=event.department,
        started_at=event.occurred_at, promised_limit=event.promised_limit, legal_limit=event.legal_limit,
        calendar=calendar,
    )
    closings: list[Closing] = []
    for row in session.execute(
        select(case_event_log.c.event_type, case_event_log.c.payload)
        .where(case_event_log.c.case_no == event.case_no,
               case_event_log.c.event_type.in_([m.event_type for m in _CLOCK_EVENTS]))
        .order_by(case_event_log.c.id)
    ):
        model = REGISTRY.get(row.event_type)
        if model is None:
            continue
        closing = apply_event(clock, model.model_validate(row.payload), calendar)
        if closing is not None:
            closings.append(closing)
    _insert(session, clock)
    for closing in closings:
        _emit_closed(session, outbox, clock, closing)


def _emit_closed(session: Session, outbox: Outbox, clock: CaseClock, closing: Closing) -> None:
    outbox.emit(session, ClockClosed(
        occurred_at=closing.closed_at, subject_no=clock.case_no, clock_id=clock.clock_id,
        verdict=closing.verdict.value, used_working_days=float(closing.used_working_days),
        speed_up_ratio=closing.speed_up_ratio,
    ))


def _log(session: Session, envelope: Envelope, event: EventPayload, case_no: str) -> bool:
    seen = session.execute(select(case_event_log.c.id).where(case_event_log.c.event_id == envelope.id)).first()
    if seen is not None:
        return False
    payload = {k: v for k, v in event.model_dump(mode="json").items() if k not in _PERSONAL_FIELDS}
    session.execute(insert(case_event_log).values(
        event_id=envelope.id, case_no=case_no, event_type=envelope.type,
        occurred_at=event.occurred_at, recorded_at=envelope.recorded_at, payload=payload,
    ))
    return True


# ---- persistence of the clock ------------------------------------------------------------------------

def _row_values(clock: CaseClock) -> dict[str, Any]:
    step, closing = clock.current_step, clock.closing
    return dict(
        clock_id=clock.clock_id, item_code=clock.item_code, item_version=clock.item_version,
        item_name=clock.item_name, region_code=clock.region_code, department=clock.department,
        state=clock.state.value, started_at=clock.started_at,
        promised_limit=clock.promised_limit.model_dump(mode="json"),
        legal_limit=clock.legal_limit.model_dump(mode="json"),
        promised_due_at=clock.promised_due.due_at, promised_due_provisional=clock.promised_due.provisional,
        legal_due_at=clock.legal_due.due_at, legal_due_provisional=clock.legal_due.provisional,
        current_step_code=step.code if step else None, current_step_name=step.name if step else None,
        current_step_started_at=step.started_at if step else None,
        open_suspensions=list(clock.open_suspensions),
        verdict=closing.verdict.value if closing else None,
        used_working_days=closing.used_working_days if closing else None,
        speed_up_ratio=closing.speed_up_ratio if closing else None,
        closed_at=closing.closed_at if closing else None,
        updated_at=datetime.now(UTC),
    )


def _insert(session: Session, clock: CaseClock) -> None:
    session.execute(insert(case_clock).values(case_no=clock.case_no, **_row_values(clock)))


def _save(session: Session, clock: CaseClock) -> None:
    session.execute(update(case_clock).where(case_clock.c.case_no == clock.case_no).values(**_row_values(clock)))


def _from_row(row: Any) -> CaseClock:
    step = None
    if row.current_step_code is not None:
        step = Step(row.current_step_code, row.current_step_name or "", row.current_step_started_at
                    or row.started_at)
    closing = None
    if row.verdict is not None:
        assert row.closed_at is not None  # a verdict is only written together with its closing time
        closing = Closing(Verdict(row.verdict), row.closed_at, int(row.used_working_days or 0), row.speed_up_ratio)
    return CaseClock(
        clock_id=row.clock_id, case_no=row.case_no, item_code=row.item_code, item_version=row.item_version,
        item_name=row.item_name, region_code=row.region_code, department=row.department,
        started_at=row.started_at,
        promised_limit=TimeLimit.model_validate(row.promised_limit),
        legal_limit=TimeLimit.model_validate(row.legal_limit),
        promised_due=Deadline(row.promised_due_at, bool(row.promised_due_provisional)),
        legal_due=Deadline(row.legal_due_at, bool(row.legal_due_provisional)),
        state=ClockState(row.state), current_step=step, open_suspensions=tuple(row.open_suspensions or ()),
        closing=closing,
    )


def _load(session: Session, case_no: str) -> CaseClock | None:
    row = session.execute(select(case_clock).where(case_clock.c.case_no == case_no)).first()
    return None if row is None else _from_row(row)


# ---- reads for the API ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClockFilter:
    region_code: str | None = None
    level: Level | None = None
    state: ClockState | None = None
    limit: int = 200


def _view(clock: CaseClock, now: datetime, calendar: WorkingDayCalendar, policy: WarningPolicy) -> dict[str, Any]:
    step, closing = clock.current_step, clock.closing
    return dict(
        case_no=clock.case_no, clock_id=clock.clock_id, item_code=clock.item_code,
        item_version=clock.item_version, item_name=clock.item_name, region_code=clock.region_code,
        department=clock.department, state=clock.state.value, started_at=clock.started_at,
        promised_limit=clock.promised_limit.model_dump(mode="json"),
        legal_limit=clock.legal_limit.model_dump(mode="json"),
        promised_due_at=clock.promised_due.due_at, legal_due_at=clock.legal_due.due_at,
        provisional=clock.provisional, level=clock.level_at(now, calendar, policy).value,
        current_step={"code": step.code, "name": step.name} if step else None,
        verdict=closing.verdict.value if closing else None,
        used_working_days=closing.used_working_days if closing else None,
        speed_up_ratio=closing.speed_up_ratio if closing else None,
        closed_at=closing.closed_at if closing else None,
    )


def get_case_clock(
    session: Session, principal: Principal, case_no: str, now: datetime, calendar: WorkingDayCalendar,
    policy: WarningPolicy,
) -> dict[str, Any]:
    """One case's clock with its event log; another region's case answers 404, never 403."""
    clock = _load(session, case_no)
    if clock is None or not principal.can_see_region(clock.region_code):
        raise Problem(404, "clock-not-found", f"办件 {case_no} 没有监察记录")
    view = _view(clock, now, calendar, policy)
    view["events"] = [
        {"event_type": r.event_type, "occurred_at": r.occurred_at, "recorded_at": r.recorded_at}
        for r in session.execute(
            select(case_event_log.c.event_type, case_event_log.c.occurred_at, case_event_log.c.recorded_at)
            .where(case_event_log.c.case_no == case_no)
            .order_by(case_event_log.c.id)
        )
    ]
    return view


def list_case_clocks(
    session: Session, principal: Principal, query: ClockFilter, now: datetime, calendar: WorkingDayCalendar,
    policy: WarningPolicy,
) -> list[dict[str, Any]]:
    """Clocks in the caller's region scope, newest first. The level is computed at `now`, so it is
    filtered here rather than in SQL; the timers of the next version will keep it in a column."""
    scope = principal.region_scope()
    if query.region_code is not None:
        wanted = region_prefix(query.region_code)
        if wanted.startswith(scope):
            scope = wanted
        elif not scope.startswith(wanted):
            return []  # the asked region lies outside the caller's scope: nothing to show, nothing to tell
    statement = select(case_clock).where(case_clock.c.region_code.startswith(scope, autoescape=True))
    if query.state is not None:
        statement = statement.where(case_clock.c.state == query.state.value)
    statement = statement.order_by(case_clock.c.started_at.desc(), case_clock.c.case_no)
    views: list[dict[str, Any]] = []
    for row in session.execute(statement):
        view = _view(_from_row(row), now, calendar, policy)
        if query.level is not None and view["level"] != query.level.value:
            continue
        views.append(view)
        if len(views) >= query.limit:
            break
    return views
