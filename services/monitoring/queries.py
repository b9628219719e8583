"""Monitoring's read side: a case under supervision, its explanation and projection, alerts, statistics.

A case view is rebuilt from the case's event log with the live engine, so used and remaining time are
exact at the instant asked; lists and statistics read the stored clock rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.principal import Principal, region_prefix
from services.common.problems import Problem
from services.common.workdays import SHANGHAI, WorkingDayCalendar
from services.monitoring import handlers
from services.monitoring.adapters.tables import alert, rating, supervision_clock
from services.monitoring.domain.budget import UNIT_SECONDS
from services.monitoring.domain.clocks import Clock, ClockKind, ClockState
from services.monitoring.domain.explain import explain, what_if_suspended
from services.monitoring.domain.policies import PolicyTable


def _case(session: Session, principal: Principal, case_no: str) -> tuple[list[Any], dict[str, Clock]]:
    events, subject = handlers.build_subject(session, "case", case_no)
    regions = {c.region_code for c in subject.clocks.values() if c.region_code}
    # Another region's case answers 404, never 403 with details.
    if not subject.clocks or not any(principal.can_see_region(r) for r in regions):
        raise Problem(404, "case-not-found", f"办件 {case_no} 不在监察范围内")
    return events, subject.clocks


def clock_view(clock: Clock, calendar: WorkingDayCalendar, policies: PolicyTable, now: datetime) -> dict[str, Any]:
    policy = policies.for_clock(clock.item_type, clock.region_code)
    limits = []
    for spec in clock.limits:
        limit = clock.effective_limit(spec)
        due = clock.deadline(spec, calendar)
        used = clock.used_seconds(spec, now, calendar)
        unit_seconds = UNIT_SECONDS[limit.unit]
        limits.append({
            "name": spec.name, "level": spec.level.value, "limit": limit.model_dump(mode="json"),
            "due_at": due.due_at if due else None, "provisional": bool(due and due.provisional),
            "used": round(used / unit_seconds, 4),
            "remaining": round(max(limit.value * unit_seconds - used, 0) / unit_seconds, 4),
            "unit": limit.unit.value,
        })
    verdict = clock.verdict(calendar)
    return {
        "clock_id": clock.clock_id, "kind": clock.kind.value, "label": clock.label, "state": clock.state.value,
        "started_at": clock.started_at, "ended_at": clock.ended_at, "end_reason": clock.end_reason,
        "level": clock.level_at(now, calendar, policy).value, "verdict": verdict.value if verdict else None,
        "limits": limits,
        "level_instants": {k.value: v for k, v in clock.level_instants(calendar, policy).items()}
        if clock.state is not ClockState.closed else {},
        "pauses": [{"reason": p.reason, "start": p.start, "end": p.end, "expected_days": p.expected_days}
                   for p in clock.pauses],
        "extension": clock.extension.model_dump(mode="json") if clock.extension else None,
    }


def case_view(session: Session, principal: Principal, case_no: str, now: datetime,
              calendar: WorkingDayCalendar, policies: PolicyTable) -> dict[str, Any]:
    events, clocks = _case(session, principal, case_no)
    views = [clock_view(c, calendar, policies, now) for c in clocks.values()]
    handling = next((v for v in views if v["kind"] == ClockKind.handling.value), views[0])
    by_name = {lim["name"]: lim for lim in handling["limits"]}
    steps = [c for c in clocks.values() if c.kind is ClockKind.step and c.ended_at is None]
    alerts = session.execute(select(alert).where(alert.c.subject_no == case_no).order_by(alert.c.raised_at)).all()
    main = clocks[handling["clock_id"]]
    return {
        "case_no": case_no, "region_code": main.region_code, "department": main.department,
        "item_name": main.label, "item_type": main.item_type,
        "state": handling["state"], "level": handling["level"], "verdict": handling["verdict"],
        "promised_due_at": by_name.get("promised", {}).get("due_at"),
        "legal_due_at": by_name.get("legal", {}).get("due_at"),
        "provisional": any(lim["provisional"] for lim in handling["limits"]),
        "current_step": {"code": steps[-1].clock_id.rsplit(":", 1)[-1], "name": steps[-1].label} if steps else None,
        "clocks": views,
        "alerts": [_alert_out(a) for a in alerts],
        "events": [{"event_id": e.event_id, "event_type": e.payload.event_type,
                    "occurred_at": e.payload.occurred_at, "recorded_at": e.recorded_at}
                   for e in sorted(events, key=lambda e: (e.payload.occurred_at, e.recorded_at))],
    }


def _stored_level(row: Any, now: datetime) -> str:
    """The level of a stored clock at `now`: reached instants while open, the verdict once closed."""
    if row.state == ClockState.closed.value:
        return {"late_legal": "severe", "late_promise": "breach"}.get(row.verdict or "", "normal")
    reached = [lvl for lvl, at in row.level_instants.items() if datetime.fromisoformat(at) <= now]
    order = ["normal", "warning", "breach", "severe"]
    return max(reached, key=order.index, default="normal")


def list_cases(session: Session, principal: Principal, region_code: str | None, level: str | None,
               state: str | None, limit: int, now: datetime) -> list[dict[str, Any]]:
    """Case handling clocks in scope, newest first; the level is worked out at `now`."""
    c = supervision_clock.c
    stmt = select(supervision_clock).where(c.kind == ClockKind.handling.value,
                                           c.region_code.startswith(principal.region_scope(), autoescape=True))
    if region_code:
        stmt = stmt.where(c.region_code.startswith(region_prefix(region_code), autoescape=True))
    if state:
        stmt = stmt.where(c.state == state)
    items = []
    # The level is not a column (it changes with time), so it filters after the query; the scan is bounded.
    for row in session.execute(stmt.order_by(c.started_at.desc()).limit(limit if not level else 10 * limit)):
        current = _stored_level(row, now)
        if level and current != level:
            continue
        limits = {lim["name"]: lim for lim in row.limits}
        items.append({"case_no": row.subject_no, "item_name": row.label, "region_code": row.region_code,
                      "department": row.department, "state": row.state, "level": current, "verdict": row.verdict,
                      "started_at": row.started_at, "ended_at": row.ended_at,
                      "promised_due_at": limits.get("promised", {}).get("due_at"),
                      "legal_due_at": limits.get("legal", {}).get("due_at"), "provisional": row.provisional})
        if len(items) >= limit:
            break
    return items


def _pick(clocks: dict[str, Clock], clock_id: str | None) -> Clock:
    if clock_id is None:
        clock = next((c for c in clocks.values() if c.kind is ClockKind.handling), None)
    else:
        clock = clocks.get(clock_id)
    if clock is None:
        raise Problem(404, "clock-not-found", f"时钟 {clock_id or '办件时限'} 不存在")
    return clock


def case_explain(session: Session, principal: Principal, case_no: str, clock_id: str | None, limit_name: str | None,
                 calendar: WorkingDayCalendar) -> dict[str, Any]:
    _, clocks = _case(session, principal, case_no)
    clock = _pick(clocks, clock_id)
    specs = [s for s in clock.limits if limit_name in (None, s.name)]
    if not specs:
        raise Problem(404, "limit-not-found", f"时钟没有名为 {limit_name} 的时限")
    out = []
    for spec in specs:
        due = clock.deadline(spec, calendar)
        out.append({"name": spec.name, "limit": clock.effective_limit(spec).model_dump(mode="json"),
                    "due_at": due.due_at if due else None, "provisional": bool(due and due.provisional),
                    "days": [{"date": d.day, "calendar": d.calendar,
                              "counted_hours": round(d.counted_seconds / 3600, 2),
                              "cumulative": d.cumulative_days, "notes": list(d.notes)}
                             for d in explain(clock, spec, calendar)]})
    return {"case_no": case_no, "clock_id": clock.clock_id, "limits": out}


def case_what_if(session: Session, principal: Principal, case_no: str, suspend_from: datetime,
                 suspend_until: datetime, calendar: WorkingDayCalendar) -> dict[str, Any]:
    if suspend_until <= suspend_from:
        raise Problem(422, "invalid-period", "暂停结束时间应晚于开始时间")
    _, clocks = _case(session, principal, case_no)
    clock = _pick(clocks, None)
    if clock.state is ClockState.closed:
        raise Problem(409, "clock-closed", "办件已结束计时，无需推演")
    projected = what_if_suspended(clock, suspend_from, suspend_until)
    out = []
    for spec in clock.limits:
        before, after = clock.deadline(spec, calendar), projected.deadline(spec, calendar)
        out.append({"name": spec.name, "due_at_now": before.due_at if before else None,
                    "due_at_if_suspended": after.due_at if after else None,
                    "provisional": bool(after and after.provisional)})
    return {"case_no": case_no, "clock_id": clock.clock_id, "suspend_from": suspend_from,
            "suspend_until": suspend_until, "limits": out}


def _alert_out(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("alert_no", "clock_id", "subject_no", "level", "rule", "title",
                                          "region_code", "department", "due_at", "raised_at", "evidence", "status")}


@dataclass(frozen=True)
class AlertFilter:
    level: str | None = None
    rule: str | None = None
    region_code: str | None = None
    department: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    limit: int = 200


def list_alerts(session: Session, principal: Principal, f: AlertFilter) -> list[dict[str, Any]]:
    stmt = select(alert).where(alert.c.region_code.startswith(principal.region_scope(), autoescape=True))
    if f.region_code:
        stmt = stmt.where(alert.c.region_code.startswith(region_prefix(f.region_code), autoescape=True))
    for column, value in ((alert.c.level, f.level), (alert.c.rule, f.rule), (alert.c.department, f.department),
                          (alert.c.status, f.status)):
        if value:
            stmt = stmt.where(column == value)
    if f.since:
        stmt = stmt.where(alert.c.raised_at >= f.since)
    if f.until:
        stmt = stmt.where(alert.c.raised_at < f.until)
    rows = session.execute(stmt.order_by(alert.c.raised_at.desc()).limit(f.limit)).all()
    return [_alert_out(r) for r in rows]


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[00:00 of start, 24:00 of end) in Asia/Shanghai, as UTC instants."""
    lo = datetime.combine(start, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(UTC)
    return lo, hi


def statistics(session: Session, principal: Principal, region_code: str | None, department: str | None,
               start: date, end: date, now: datetime) -> dict[str, Any]:
    """The supervision figures of a period (docs/metrics.md defines each one exactly)."""
    lo, hi = day_bounds(start, end)
    scope = region_prefix(region_code) if region_code else principal.region_scope()
    if not scope.startswith(principal.region_scope()):
        scope = principal.region_scope() + "\x00"  # outside the caller's region: nothing
    c = supervision_clock.c
    base = select(supervision_clock).where(c.kind == ClockKind.handling.value,
                                           c.region_code.startswith(scope, autoescape=True))
    if department:
        base = base.where(c.department == department)
    received = session.execute(select(func.count()).select_from(
        base.where(c.started_at >= lo, c.started_at < hi).subquery())).scalar_one()
    completed_rows = session.execute(base.where(c.ended_at >= lo, c.ended_at < hi, c.end_reason == "completed")).all()
    completed = len(completed_rows)
    on_time = sum(1 for r in completed_rows if r.verdict == "on_time")
    early = sum(1 for r in completed_rows if r.verdict == "on_time" and _early(r))
    overdue = completed - on_time
    ratios = [r.speed_up_ratio for r in completed_rows if r.speed_up_ratio is not None]
    promised = [p for r in completed_rows if (p := _promised_speed_up(r)) is not None]
    open_rows = session.execute(base.where(c.state != ClockState.closed.value)).all()
    open_overdue = sum(1 for r in open_rows if _passed(r, "promised", now))
    alerts_stmt = select(alert.c.level, alert.c.rule, func.count()).where(
        alert.c.region_code.startswith(scope, autoescape=True), alert.c.raised_at >= lo, alert.c.raised_at < hi)
    if department:
        alerts_stmt = alerts_stmt.where(alert.c.department == department)
    alerts_by = session.execute(alerts_stmt.group_by(alert.c.level, alert.c.rule)).all()
    ratings = session.execute(select(rating.c.level).where(
        rating.c.region_code.startswith(scope, autoescape=True), rating.c.submitted_at >= lo,
        rating.c.submitted_at < hi)).scalars().all()

    def rate(n: int, d: int) -> float | None:
        return round(n / d, 4) if d else None

    return {
        "region_prefix": scope.rstrip("\x00"), "department": department, "from": start, "to": end,
        "received": received, "completed": completed,
        "on_time_rate": rate(on_time, completed), "early_rate": rate(early, completed),
        "overdue_rate": rate(overdue, completed),
        "speed_up_ratio": round(sum(ratios) / len(ratios), 4) if ratios else None,
        "promised_speed_up_ratio": round(sum(promised) / len(promised), 4) if promised else None,
        "open_overdue": open_overdue,
        "alerts": [{"level": lv, "rule": ru, "count": n} for lv, ru, n in alerts_by],
        "ratings": len(ratings),
        "satisfaction_rate": rate(sum(1 for lv in ratings if lv <= 3), len(ratings)),
    }


def _limit(row: Any, name: str) -> dict[str, Any] | None:
    return next((lim for lim in row.limits if lim["name"] == name), None)


def _passed(row: Any, name: str, now: datetime) -> bool:
    lim = _limit(row, name)
    return bool(lim and lim["due_at"] and datetime.fromisoformat(lim["due_at"]) <= now)


def _early(row: Any) -> bool:
    """提前办结: completed at least one full day (of the limit's unit) before the promised due instant."""
    lim = _limit(row, "promised")
    if not lim or not lim["due_at"] or row.used_days is None:
        return False
    return row.used_days <= lim["limit"]["value"] - 1


def _promised_speed_up(row: Any) -> float | None:
    """承诺提速率 = (legal − promised) / legal, same unit."""
    promised, legal = _limit(row, "promised"), _limit(row, "legal")
    if not promised or not legal or promised["original"]["unit"] != legal["original"]["unit"]:
        return None
    value = legal["original"]["value"]
    return round((value - promised["original"]["value"]) / value, 4) if value else None
