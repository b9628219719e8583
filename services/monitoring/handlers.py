"""Monitoring's service layer: log each subject's events, rebuild its clocks, raise each level once.

Every event goes to the subject's log; the subject's clocks are then rebuilt from the whole log (so
order of delivery does not matter), stored with their deadlines and next timer instant, and the timers
to arm or cancel are handed to the timer runner after the transaction commits. A timer that fires
claims its level with a unique row written together with the AlertRaised outbox row: a restart, a
replay or two instances racing cannot raise a level twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.common.contracts.case import CaseAccepted
from services.common.contracts.envelope import Envelope
from services.common.contracts.evaluation import RatingSubmitted
from services.common.contracts.payloads import EventPayload, LimitUnit
from services.common.contracts.registry import REGISTRY
from services.common.contracts.supervision import AlertLevel, AlertRaised, ClockClosed
from services.common.contracts.topics import Topic
from services.common.messaging import Outbox, PermanentEventError
from services.common.workdays import WorkingDayCalendar
from services.monitoring.adapters.tables import alert, rating, subject_event, supervision_clock
from services.monitoring.domain.budget import UNIT_SECONDS
from services.monitoring.domain.clocks import Clock, ClockState, Level
from services.monitoring.domain.policies import PolicyTable
from services.monitoring.domain.subjects import (
    Contradiction,
    Recorded,
    Subject,
    case_subject,
    complaint_subject,
    rating_subject,
    request_subject,
)
from services.monitoring.subject_log_cache import SubjectKey, SubjectLogCache

log = logging.getLogger(__name__)

SUBJECT_TYPES: dict[Topic, str] = {
    Topic.case: "case", Topic.disclosure_request: "request", Topic.complaint: "complaint",
    Topic.evaluation: "rating",
}
_BUILDERS: dict[str, Callable[[list[Recorded]], Subject]] = {
    "case": case_subject, "request": request_subject, "complaint": complaint_subject, "rating": rating_subject,
}
_LEVEL_TITLES = {Level.warning: "预警", Level.breach: "黄牌：超过承诺时限", Level.severe: "红牌：超过法定时限"}
# Personal data monitoring never needs: replaced before the event is logged (the models still validate).
_ANONYMOUS = {"applicant_type": "9", "name": "-", "id_type": "uscc", "id_number": "-", "phone": ""}

_DAY_UNITS = (LimitUnit.working_days, LimitUnit.calendar_days)
# An event dated this far after it was recorded is kept and raised as an anomaly, but moves no clock.
_FUTURE_TOLERANCE = timedelta(minutes=5)

AnomalyDetector = Callable[..., list[Any]]  # (events, subject, calendar, now, *, fees) → anomalies


def _insert_ignoring_sql(table: Table, columns: list[str], key: str) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING as text, the same on SQLite (3.24+) and PostgreSQL: the dialects'
    on_conflict constructs are not cacheable, so SQLAlchemy compiled one afresh for every batch. Each parameter
    keeps its column's type (JSON, UtcDateTime), so values are bound as through the table."""
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(f':{c}' for c in columns)}) "
           f"ON CONFLICT ({key}) DO NOTHING")
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


# The statements of every batch, built once with named (and expanding) parameters: SQLAlchemy then finds each
# compiled statement by a constant key instead of building and walking a new statement per batch.
_LOG_EVENTS = _insert_ignoring_sql(subject_event, ["event_id", "subject_type", "subject_no", "event_type",
                                                   "occurred_at", "recorded_at", "payload"], "event_id")
_LOG_RATINGS = _insert_ignoring_sql(rating, ["rating_no", "case_no", "region_code", "level", "submitted_at"],
                                    "rating_no")
_SUBJECT_EVENTS = (select(subject_event).where(subject_event.c.subject_no.in_(bindparam("subject_nos", expanding=True)))
                   .order_by(subject_event.c.id))
# FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers): a timer firing for one of these
# clocks waits for the rebuild, then reads the moved instants, not the stale ones.
_CLOCK_STATES = (select(supervision_clock.c.clock_id, supervision_clock.c.state)
                 .where(supervision_clock.c.subject_no.in_(bindparam("subject_nos", expanding=True))).with_for_update())
_CLAIMED_LEVELS = select(alert.c.clock_id, alert.c.level).where(
    alert.c.subject_no.in_(bindparam("subject_nos", expanding=True)), alert.c.clock_id.is_not(None))
_INSERT_CLOCKS = insert(supervision_clock)
# The SET columns come from the parameters; the WHERE's parameter is named apart from every column.
_UPDATE_CLOCKS = update(supervision_clock).where(supervision_clock.c.clock_id == bindparam("target_clock_id"))
_CLOSE_ALERTS = (update(alert)
                 .where(alert.c.clock_id.in_(bindparam("clock_ids", expanding=True)), alert.c.status == "open")
                 .values(status="closed"))


@dataclass
class Supervision:
    """What the handlers need besides the session: built once by the service, kept in runtime.extras."""

    outbox: Outbox
    calendar: Callable[[], WorkingDayCalendar]
    policies: PolicyTable
    detect_anomalies: AnomalyDetector | None = None
    log_cache: SubjectLogCache | None = None  # the consumer's shortcut for logs it wrote itself


@dataclass
class AfterCommit:
    """Collected during a transaction, applied by the service once it commits."""

    timers: dict[str, int | None] = field(default_factory=dict)  # clock id → due ms, None = cancel
    logs: dict[SubjectKey, list[Recorded]] = field(default_factory=dict)  # for the log cache, once committed


def after_commit(session: Session) -> AfterCommit:
    pending: AfterCommit | None = session.info.get("supervision")
    if pending is None:
        pending = session.info["supervision"] = AfterCommit()
    return pending


def event_types() -> dict[Topic, list[str]]:
    """Every event type of the supervised topics: all are logged, most move a clock."""
    return {topic: sorted(t for t, m in REGISTRY.items() if m.topic is topic) for topic in SUBJECT_TYPES}


# ---- events --------------------------------------------------------------------------------------------

@dataclass
class Batch:
    """Events logged in this transaction, written and applied together just before it commits."""

    events: list[dict[str, Any]] = field(default_factory=list)
    # The same events as validated payloads, by subject: the rebuild folds them in without reading them back.
    fresh: dict[str, list[Recorded]] = field(default_factory=dict)
    ratings: list[dict[str, Any]] = field(default_factory=list)
    dirty: dict[str, str] = field(default_factory=dict)  # subject no → subject type


def batch_of(session: Session) -> Batch:
    batch: Batch | None = session.info.get("supervision_batch")
    if batch is None:
        batch = session.info["supervision_batch"] = Batch()
    return batch


def log_event(session: Session, envelope: Envelope, event: EventPayload) -> None:
    """Buffers the event; `flush` writes the buffer and rebuilds each touched subject once."""
    subject_type = SUBJECT_TYPES[event.topic]
    if len(event.subject()) > 64 or len(str(getattr(event, "task_id", ""))) > 64:
        # Refused here, inside the event's own savepoint, so it is dead-lettered alone; written later by the
        # batch's flush it would fail every event of the batch on PostgreSQL.
        raise PermanentEventError("subject number or task id longer than 64 characters")
    payload = event.model_dump(mode="json")
    if "applicant" in payload:
        payload["applicant"] = _ANONYMOUS
    batch = batch_of(session)
    batch.events.append(dict(
        event_id=envelope.id, subject_type=subject_type, subject_no=event.subject(), event_type=envelope.type,
        occurred_at=event.occurred_at, recorded_at=envelope.recorded_at, payload=payload,
    ))
    batch.dirty[event.subject()] = subject_type
    batch.fresh.setdefault(event.subject(), []).append(Recorded(envelope.id, event, envelope.recorded_at))
    if isinstance(event, RatingSubmitted):
        batch.ratings.append(dict(rating_no=event.rating_no, case_no=event.case_no, region_code=event.region_code,
                                  level=event.level, submitted_at=event.occurred_at))


def flush(session: Session, ctx: Supervision, now: datetime | None = None) -> None:
    """Writes the buffered events (a replayed id is skipped) and rebuilds their subjects, once each."""
    batch: Batch | None = session.info.pop("supervision_batch", None)
    if batch is None or not batch.events:
        return
    now = now or datetime.now(UTC)
    # The log as it was before this batch: from the cache, else read before the batch is written (so a new
    # subject costs no rows and the batch's own events are not read back).
    cached = ctx.log_cache.get_many((kind, no) for no, kind in batch.dirty.items()) if ctx.log_cache else {}
    rows = load_events(session, [no for no, kind in batch.dirty.items() if (kind, no) not in cached])
    prior = {no: cached[(kind, no)] if (kind, no) in cached
             else _recorded([r for r in rows[no] if r.subject_type == kind])
             for no, kind in batch.dirty.items()}
    session.execute(_LOG_EVENTS, batch.events)
    if batch.ratings:
        session.execute(_LOG_RATINGS, batch.ratings)
    recompute_subjects(session, ctx, batch.dirty, now, prior=prior, fresh=batch.fresh)


def record_event(session: Session, ctx: Supervision, envelope: Envelope, event: EventPayload,
                 now: datetime | None = None) -> None:
    """Logs one event and rebuilds its subject at once (the batched consumer uses log_event + flush)."""
    log_event(session, envelope, event)
    flush(session, ctx, now)


def _insert_ignoring(session: Session, table: Any, keys: list[str]) -> Any:
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=keys)


def _recorded(rows: list[Any]) -> list[Recorded]:
    recorded = []
    for row in rows:
        model = REGISTRY.get(row.event_type)
        if model is not None:
            recorded.append(Recorded(row.event_id, model.model_validate(row.payload), row.recorded_at))
    return recorded


def load_events(session: Session, subject_nos: list[str]) -> dict[str, list[Any]]:
    """The logged events of these subjects, one query per 500, in log order."""
    found: dict[str, list[Any]] = {no: [] for no in subject_nos}
    for i in range(0, len(subject_nos), 500):
        chunk = subject_nos[i:i + 500]
        for row in session.execute(_SUBJECT_EVENTS, {"subject_nos": chunk}):
            found[row.subject_no].append(row)
    return found


def build_subject(session: Session, subject_type: str, subject_no: str) -> tuple[list[Recorded], Subject]:
    rows = [r for r in load_events(session, [subject_no])[subject_no] if r.subject_type == subject_type]
    events = _recorded(rows)
    return events, _BUILDERS[subject_type](events)


def recompute_subject(session: Session, ctx: Supervision, subject_type: str, subject_no: str,
                      now: datetime) -> None:
    recompute_subjects(session, ctx, {subject_no: subject_type}, now)


def recompute_subjects(session: Session, ctx: Supervision, subjects: dict[str, str], now: datetime, *,
                       prior: dict[str, list[Recorded]] | None = None,
                       fresh: dict[str, list[Recorded]] | None = None) -> None:
    """Rebuilds these subjects' clocks from their logs and stores them; raises anomalies found.

    `prior` is each subject's log already at hand (validated), `fresh` the events not in it yet (a replayed
    one may be in both: kept once). Without `prior` the logs are read from the database.
    """
    calendar = ctx.calendar()
    subject_nos = list(subjects)
    if prior is None:
        logged = load_events(session, subject_nos)
        prior = {no: _recorded([r for r in logged[no] if r.subject_type == kind]) for no, kind in subjects.items()}
    fresh = fresh or {}
    known: dict[str, str] = {}
    claimed: dict[str, set[str]] = {}
    for i in range(0, len(subject_nos), 500):
        chunk = subject_nos[i:i + 500]
        for row in session.execute(_CLOCK_STATES, {"subject_nos": chunk}):  # FOR UPDATE: see the statement
            known[row.clock_id] = row.state
        for row in session.execute(_CLAIMED_LEVELS, {"subject_nos": chunk}):
            claimed.setdefault(row.clock_id, set()).add(row.level)
    inserts: list[dict[str, Any]] = []
    updates: list[tuple[str, dict[str, Any]]] = []
    closed: list[tuple[Clock, dict[str, Any]]] = []
    raised: list[dict[str, Any]] = []
    for subject_no, subject_type in subjects.items():
        try:
            events = list(prior[subject_no])
            if subject_no in fresh:
                known_ids = {e.event_id for e in events}
                events.extend(e for e in fresh[subject_no]
                              if e.event_id not in known_ids and SUBJECT_TYPES[e.payload.topic] == subject_type)
            subject = _BUILDERS[subject_type](
                [e for e in events if e.payload.occurred_at <= e.recorded_at + _FUTURE_TOLERANCE])
            rows = [(clock, _clock_values(ctx, subject_type, clock, calendar, claimed.get(clock.clock_id, set()), now))
                    for clock in subject.clocks.values()]
            anomalies = (ctx.detect_anomalies(events, subject, calendar, now, fees=_fee_standards(events))
                         if subject_type == "case" and ctx.detect_anomalies is not None else [])
        except Exception:
            # A bug in a rule must not stall the partition: the events are logged, the next one retries.
            log.exception("rebuilding %s %s failed; its clocks keep their last state", subject_type, subject_no)
            continue
        for clock, values in rows:
            before = known.get(clock.clock_id)
            if before is None:
                inserts.append({"clock_id": clock.clock_id, **values})
            else:
                updates.append((clock.clock_id, values))
            after_commit(session).timers[clock.clock_id] = (
                int(values["next_timer_at"].timestamp() * 1000) if values["next_timer_at"] is not None else None)
            if clock.state is ClockState.closed and before != ClockState.closed.value:
                closed.append((clock, values))
        if ctx.log_cache is not None:
            after_commit(session).logs[(subject_type, subject_no)] = events
        raised.extend(_contradiction_alert(subject_no, subject, c) for c in subject.contradictions)
        raised.extend(_anomaly_alert(a, subject) for a in anomalies)
    _closed(session, ctx, closed)
    _raise_many(session, ctx, raised, now)
    if inserts:
        session.execute(_INSERT_CLOCKS, inserts)
    if updates:
        session.execute(_UPDATE_CLOCKS, [{"target_clock_id": clock_id, **values}
                                         for clock_id, values in updates])


def _fee_standards(events: list[Recorded]) -> dict[str, int | None]:
    """What the anomaly rules know of the case's fee: its pinned item is free (None), or charges a fee whose
    standard the catalogue does not carry yet (absent: the fee rules skip it)."""
    for e in events:
        if isinstance(e.payload, CaseAccepted) and not e.payload.fee_charged:
            return {e.payload.item_code: None}
    return {}


def _clock_values(ctx: Supervision, subject_type: str, clock: Clock, calendar: WorkingDayCalendar,
                  claimed: set[str], now: datetime) -> dict[str, Any]:
    policy = ctx.policies.for_clock(clock.item_type, clock.region_code)
    dues = clock.deadlines(calendar)
    instants = clock.level_instants(calendar, policy, dues)
    pending = [at for lvl, at in instants.items() if lvl.value not in claimed]
    verdict = clock.verdict(calendar, dues)
    used_days, ratio = _closing_figures(clock, calendar, now)
    return dict(
        subject_type=subject_type, subject_no=clock.subject_no, kind=clock.kind.value, label=clock.label[:200],
        # Cut to the columns' widths: a producer's over-long field must not fail the whole batch on PostgreSQL.
        region_code=clock.region_code[:12], department=clock.department[:200], item_type=clock.item_type[:4],
        state=clock.state.value, started_at=clock.started_at, ended_at=clock.ended_at,
        end_reason=clock.end_reason, verdict=verdict.value if verdict else None,
        provisional=clock.provisional(calendar, dues), limits=_limits_json(clock, dues),
        level_instants={lvl.value: at.isoformat() for lvl, at in instants.items()},
        used_days=used_days, speed_up_ratio=ratio, next_timer_at=min(pending) if pending else None,
        updated_at=now,
    )


def _closed(session: Session, ctx: Supervision, closed: list[tuple[Clock, dict[str, Any]]]) -> None:
    """Clocks that just ended: their open alerts close and ClockClosed goes out, once each."""
    if not closed:
        return
    ids = [clock.clock_id for clock, _ in closed]
    for i in range(0, len(ids), 500):
        session.execute(_CLOSE_ALERTS, {"clock_ids": ids[i:i + 500]})
    ctx.outbox.emit_many(session, [
        ClockClosed(occurred_at=clock.ended_at or values["updated_at"], subject_no=clock.subject_no,
                    clock_id=clock.clock_id, verdict=values["verdict"] or "",
                    used_working_days=float(values["used_days"] or 0.0), speed_up_ratio=values["speed_up_ratio"])
        for clock, values in closed
    ])


def _limits_json(clock: Clock, dues: list[Any]) -> list[dict[str, Any]]:
    out = []
    for spec, due in zip(clock.limits, dues, strict=True):
        out.append({"name": spec.name, "level": spec.level.value,
                    "limit": clock.effective_limit(spec).model_dump(mode="json"),
                    "original": spec.limit.model_dump(mode="json"),
                    "due_at": due.due_at.isoformat() if due else None,
                    "provisional": bool(due and due.provisional)})
    return out


def _closing_figures(clock: Clock, calendar: WorkingDayCalendar, now: datetime) -> tuple[float | None, float | None]:
    """用时 in days of the first limit's unit, and 提速率 = (legal − used) / legal for day limits."""
    if not clock.limits or clock.ended_at is None:
        return None, None  # an open clock's time used is computed when asked (the case view), not stored stale
    first = clock.limits[0]
    used = clock.used_seconds(first, clock.ended_at or now, calendar) / UNIT_SECONDS[first.limit.unit]
    legal = next((s for s in clock.limits if s.level is Level.severe), None)
    ratio = None
    if clock.ended_at is not None and legal is not None and clock.end_reason != "withdrawn":
        limit = clock.effective_limit(legal)
        # docs/metrics.md: the speed-up ratio is defined for day limits of one unit only.
        if limit.value > 0 and limit.unit is first.limit.unit and limit.unit in _DAY_UNITS:
            ratio = round((limit.value - used) / limit.value, 4)
    return round(used, 4), ratio


# ---- raising alerts ----------------------------------------------------------------------------------

def _raise_many(session: Session, ctx: Supervision, alerts: list[dict[str, Any]], now: datetime) -> int:
    """Inserts the alerts whose claims are new, in one statement, and their AlertRaised rows in another."""
    alerts = list({a["claim"]: a for a in reversed(alerts)}.values())[::-1]  # one per claim, the first kept
    if not alerts:
        return 0
    for values in alerts:
        values.update(alert_no=f"JC{now.strftime('%Y%m%d')}{uuid.uuid4().hex[:12].upper()}",  # 监察编号
                      raised_at=now, status="open")
    inserted: set[str] = set()
    for i in range(0, len(alerts), 1000):
        result = session.execute(
            _insert_ignoring(session, alert, ["claim"]).returning(alert.c.claim), alerts[i:i + 1000])
        inserted.update(result.scalars())
    raised = [a for a in alerts if a["claim"] in inserted]
    ctx.outbox.emit_many(session, [
        AlertRaised(occurred_at=now, subject_no=a["subject_no"], clock_id=a["clock_id"] or "",
                    alert_no=a["alert_no"], level=AlertLevel(a["level"]), rule=a["rule"], title=a["title"],
                    due_at=a["due_at"] or now, region_code=a["region_code"], department=a["department"],
                    evidence=a["evidence"])
        for a in raised
    ])
    return len(raised)


def _alert(*, claim: str, clock_id: str | None, subject_no: str, level: str, rule: str, title: str,
           region_code: str, department: str, due_at: datetime | None, evidence: dict[str, str]) -> dict[str, Any]:
    return dict(claim=claim[:300], clock_id=clock_id, subject_no=subject_no, level=level, rule=rule[:64],
                title=title[:200], region_code=region_code[:12], department=department[:200], due_at=due_at,
                evidence=evidence)


def fire_due(session: Session, ctx: Supervision, clock_ids: list[str], now: datetime) -> int:
    """Called by the timer runner: raises every level of these clocks due by `now`, once each.

    A burst (every working-day deadline is 24:00) is a few statements per 500 clocks, not a few per clock.
    """
    raised = 0
    for i in range(0, len(clock_ids), 500):
        chunk = clock_ids[i:i + 500]
        c = supervision_clock.c
        rows = session.execute(select(c.clock_id, c.state, c.subject_no, c.kind, c.label, c.region_code, c.department,
                                      c.level_instants).where(c.clock_id.in_(chunk)).with_for_update()).all()
        claimed: dict[str, set[str]] = {}
        for claim_row in session.execute(select(alert.c.clock_id, alert.c.level).where(alert.c.clock_id.in_(chunk))):
            claimed.setdefault(claim_row.clock_id, set()).add(claim_row.level)
        alerts: list[dict[str, Any]] = []
        next_timers: list[dict[str, Any]] = []
        for row in rows:
            remaining: list[datetime] = []
            for level_name, at_iso in row.level_instants.items():
                if level_name in claimed.get(row.clock_id, set()):
                    continue
                at = datetime.fromisoformat(at_iso)
                if at > now:
                    remaining.append(at)
                    continue
                alerts.append(_alert(
                    claim=f"clock:{row.clock_id}:{level_name}", clock_id=row.clock_id, subject_no=row.subject_no,
                    level=level_name, rule=f"{row.kind}_{level_name}",
                    title=f"{row.label}：{_LEVEL_TITLES[Level(level_name)]}", region_code=row.region_code,
                    department=row.department, due_at=at,
                    evidence={"clock_id": row.clock_id, "kind": row.kind, "due_at": at.isoformat(),
                              "fired_at": now.isoformat()},
                ))
            next_at = min(remaining) if remaining else None
            next_timers.append({"v_clock_id": row.clock_id, "v_next": next_at})
            after_commit(session).timers[row.clock_id] = int(next_at.timestamp() * 1000) if next_at else None
        raised += _raise_many(session, ctx, alerts, now)
        if next_timers:
            session.execute(update(supervision_clock).where(supervision_clock.c.clock_id == bindparam("v_clock_id"))
                            .values(next_timer_at=bindparam("v_next")), next_timers)
    return raised


def _subject_place(subject: Subject) -> tuple[str, str]:
    for clock in subject.clocks.values():
        if clock.region_code:
            return clock.region_code, clock.department
    return "", ""


def _contradiction_alert(subject_no: str, subject: Subject, c: Contradiction) -> dict[str, Any]:
    region, department = _subject_place(subject)
    return _alert(claim=f"anomaly:{subject_no}:{c.rule}:{c.event_id}", clock_id=None, subject_no=subject_no,
                  level="anomaly", rule=c.rule, title=c.detail, region_code=region, department=department,
                  due_at=None, evidence={"event_id": c.event_id, "detail": c.detail})


def _anomaly_alert(anomaly: Any, subject: Subject) -> dict[str, Any]:
    region, department = _subject_place(subject)
    return _alert(claim=f"anomaly:{anomaly.subject_no}:{anomaly.rule}:{anomaly.key}", clock_id=None,
                  subject_no=anomaly.subject_no, level="anomaly", rule=anomaly.rule, title=anomaly.title,
                  region_code=region, department=department, due_at=None, evidence=dict(anomaly.evidence))


# ---- start-up and calendar changes -------------------------------------------------------------------

def armed_timers(session: Session) -> list[tuple[str, int]]:
    """Every open clock's next timer: what a (re)started instance arms."""
    rows = session.execute(
        select(supervision_clock.c.clock_id, supervision_clock.c.next_timer_at)
        .where(supervision_clock.c.next_timer_at.is_not(None), supervision_clock.c.state != "closed")
    ).all()
    return [(r.clock_id, int(r.next_timer_at.timestamp() * 1000)) for r in rows]


def open_subjects(session: Session, provisional_only: bool) -> list[tuple[str, str]]:
    stmt = select(supervision_clock.c.subject_type, supervision_clock.c.subject_no).where(
        supervision_clock.c.state != "closed").distinct()
    if provisional_only:
        stmt = stmt.where(supervision_clock.c.provisional.is_(True))
    return [(r.subject_type, r.subject_no) for r in session.execute(stmt)]

