"""Anomaly rules (异常监察规则) of a case: what the record itself shows was done wrong or recorded wrong.

Sources: issue 3 ("Anomaly rules", "Bad input") and domain.md §2, §3, §6. Each rule is a small function
over the case's logged events (and, for contradictions, the clock builder's findings); each finding is an
`Anomaly` raised once per (subject_no, rule, key) and carries its evidence: event ids, instants (Asia/
Shanghai, ISO 8601), amounts and codes — never an applicant's name, id number or phone, nor a receiver's
name. Pure: no I/O, and `now` is injected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseDecided,
    CaseDelivered,
    CaseReceived,
    CaseResumed,
    CaseSuspended,
    CertificateIssued,
    Decision,
    FeeCharged,
    StepCompleted,
    StepStarted,
    SupplementRequested,
    SupplementSupplied,
)
from services.common.contracts.payloads import EventPayload, LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, WorkingDayCalendar, deadline
from services.monitoring.domain.subjects import ACCEPTANCE_DECISION, Recorded, Subject, in_order

DELIVERY_LIMIT = TimeLimit(value=10, unit=LimitUnit.working_days, note="行政许可法第四十四条")
_E = TypeVar("_E", bound=EventPayload)

PROMISE_CASE_TYPE = "2"  # 承诺件 (GB/T 39046 办件类型)

# Titles of the clock builder's contradictions (services/monitoring/domain/subjects.py).
CONTRADICTION_TITLES: dict[str, str] = {
    "accepted_twice": "重复受理",
    "supplied_without_request": "补正材料无补正告知",
    "suspended_twice": "重复暂停",
    "resume_without_suspension": "恢复计时无对应暂停",
    "extension_without_case": "未受理即延长审批",
    "second_extension": "重复延长审批",
    "extension_beyond_bound": "延长超过法定上限",
    "extension_not_in_working_days": "延长未以工作日计",
    "ended_twice": "重复办结",
    "completed_without_acceptance": "未受理即办结",
    "unknown_request": "未登记的申请",
}


@dataclass(frozen=True)
class Anomaly:
    rule: str  # stable id, e.g. "backfilled_record"
    subject_no: str  # 办件编号
    key: str  # what makes this occurrence unique: raised once per (subject_no, rule, key)
    title: str  # 中文, e.g. "事后补录"
    evidence: dict[str, str]  # facts only: event ids, instants, values — no personal data


@dataclass(frozen=True)
class AnomalyPolicy:
    """Thresholds are settings (domain.md §6: localities differ)."""

    backfill_tolerance: timedelta = timedelta(hours=1)  # 事后补录: recorded this long after it happened
    future_tolerance: timedelta = timedelta(minutes=5)  # clock skew allowed before a time is "in the future"
    implausibly_fast: timedelta = timedelta(minutes=2)  # a 承诺件 completed within this of acceptance


# ---- helpers -------------------------------------------------------------------------------------------

def _at(instant: datetime) -> str:
    """An instant as evidence: Asia/Shanghai wall time with its offset, to the second."""
    return instant.astimezone(SHANGHAI).isoformat(timespec="seconds")


def _duration(span: timedelta) -> str:
    """A span as evidence, e.g. "2天3小时5分" (negative spans keep their sign)."""
    seconds = int(span.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{days}天" if days else "") + (f"{hours}小时" if hours else "") + f"{minutes}分"
    return sign + text + (f"{secs}秒" if secs else "")


def _type(payload: EventPayload) -> str:
    return payload.event_type


def _case_no(e: Recorded) -> str:
    return e.payload.subject()


def _of(events: Iterable[Recorded], kind: type[_E]) -> list[tuple[Recorded, _E]]:
    return [(e, e.payload) for e in events if isinstance(e.payload, kind)]


def _first_accepted(events: list[Recorded]) -> tuple[Recorded, CaseAccepted] | None:
    found = _of(events, CaseAccepted)
    return found[0] if found else None


# ---- recording discipline ------------------------------------------------------------------------------

def backfilled_records(events: list[Recorded], policy: AnomalyPolicy) -> list[Anomaly]:
    """事后补录: recorded more than `backfill_tolerance` after it happened (domain.md §6 "back-filled
    records"; issue 3 "occurred_at far before recorded_at")."""
    found = []
    for e in events:
        gap = e.recorded_at - e.payload.occurred_at
        if gap > policy.backfill_tolerance:
            found.append(Anomaly("backfilled_record", _case_no(e), e.event_id, "事后补录", {
                "event_id": e.event_id, "event_type": _type(e.payload), "occurred_at": _at(e.payload.occurred_at),
                "recorded_at": _at(e.recorded_at), "gap": _duration(gap),
                "gap_seconds": str(int(gap.total_seconds())),
                "tolerance": _duration(policy.backfill_tolerance),
            }))
    return found


def future_times(events: list[Recorded], policy: AnomalyPolicy) -> list[Anomaly]:
    """时间在未来: an event said to happen after it was recorded, beyond clock skew (issue 3 "Bad input":
    times in the future are kept and raised, never allowed to bend a clock silently)."""
    found = []
    for e in events:
        ahead = e.payload.occurred_at - e.recorded_at
        if ahead > policy.future_tolerance:
            found.append(Anomaly("future_time", _case_no(e), e.event_id, "事件时间晚于记录时间", {
                "event_id": e.event_id, "event_type": _type(e.payload), "occurred_at": _at(e.payload.occurred_at),
                "recorded_at": _at(e.recorded_at), "ahead": _duration(ahead),
                "tolerance": _duration(policy.future_tolerance),
            }))
    return found


# ---- missing and out-of-order process records ----------------------------------------------------------

def steps_skipped(events: list[Recorded]) -> list[Anomaly]:
    """跳过审查环节: a decision with no completed step before it, or (when the case pinned its process)
    with a pinned step never completed before it (issue 3 "a decision without review"; domain.md §3
    一审一核 / 承办 → 审核 → 决定; §6 "steps skipped"). A step completed at the decision's own instant
    counts: the approval service records the last step and the decision together."""
    accepted = _first_accepted(events)
    pinned = [s.code for s in accepted[1].process] if accepted else []
    found = []
    for e, decided in _of(events, CaseDecided):
        done = {p.step_code for _, p in _of(events, StepCompleted) if p.occurred_at <= decided.occurred_at}
        missing = [code for code in pinned if code not in done]
        if done and not missing:
            continue
        found.append(Anomaly("step_skipped", decided.case_no, e.event_id, "跳过审查环节", {
            "event_id": e.event_id, "decided_at": _at(decided.occurred_at), "decision": decided.decision.value,
            "steps_completed_before": ",".join(sorted(done)) or "无",
            "missing_steps": ",".join(missing) if missing else "无任何已完成环节",
        }))
    return found


def completed_without_acceptance(events: list[Recorded]) -> list[Anomaly]:
    """未受理即办结: a completion with no acceptance at or before it (issue 3 "completion without
    acceptance"; domain.md §2 Art. 32: every case starts with a dated acceptance)."""
    accepted_at = [p.occurred_at for _, p in _of(events, CaseAccepted)]
    found = []
    for e, done in _of(events, CaseCompleted):
        if any(at <= done.occurred_at for at in accepted_at):
            continue
        found.append(Anomaly("completed_without_acceptance", done.case_no, e.event_id, "未受理即办结", {
            "event_id": e.event_id, "completed_at": _at(done.occurred_at), "result": done.result,
            "accepted_at": _at(min(accepted_at)) if accepted_at else "无受理记录",
        }))
    return found


def event_for_unknown_case(events: list[Recorded]) -> list[Anomaly]:
    """未登记办件的事件: events of a case monitoring never saw received or accepted (issue 3 "Bad input": an
    event for an unknown case). A case's events share its Kafka key, so its receipt or acceptance always
    comes first on the topic; one missing means a producer skipped it or the record was made up. Raised once
    per case, at its first such event; the events are kept and move what clocks they can."""
    if any(isinstance(e.payload, CaseReceived | CaseAccepted) for e in events):
        return []
    if not events:
        return []
    first = events[0]
    return [Anomaly("event_for_unknown_case", _case_no(first), first.event_id, "未登记办件的事件", {
        "event_id": first.event_id, "event_type": _type(first.payload), "occurred_at": _at(first.payload.occurred_at),
        "recorded_at": _at(first.recorded_at), "events_without_case": str(len(events)),
    })]


def step_records(events: list[Recorded]) -> list[Anomaly]:
    """环节缺少开始记录 / 环节顺序颠倒: a completed step with no start for its task, or completed before it
    started (issue 3 "steps out of order or missing"; domain.md §6 "missing process records")."""
    started: dict[str, tuple[Recorded, StepStarted]] = {}
    for e, p in _of(events, StepStarted):
        started.setdefault(p.task_id, (e, p))
    found = []
    for e, done in _of(events, StepCompleted):
        start = started.get(done.task_id)
        if start is None:
            found.append(Anomaly("step_start_missing", done.case_no, e.event_id, "环节缺少开始记录", {
                "event_id": e.event_id, "task_id": done.task_id, "step_code": done.step_code,
                "completed_at": _at(done.occurred_at),
            }))
        elif done.occurred_at < start[1].occurred_at:
            found.append(Anomaly("step_out_of_order", done.case_no, done.task_id, "环节顺序颠倒", {
                "task_id": done.task_id, "step_code": done.step_code,
                "started_event_id": start[0].event_id, "started_at": _at(start[1].occurred_at),
                "completed_event_id": e.event_id, "completed_at": _at(done.occurred_at),
            }))
    return found


# ---- acceptance ----------------------------------------------------------------------------------------

def supplement_not_one_time(events: list[Recorded]) -> list[Anomaly]:
    """违反一次性告知: a later supplement notice (a review-stage one, or a second at any stage) asking for a
    material the case's first notice did not list (行政许可法 Art. 32(4), domain.md §2; issue 3)."""
    notices = _of(events, SupplementRequested)
    if len(notices) < 2:
        return []
    first_e, first = notices[0]
    listed = {m.code for m in first.missing}
    found = []
    for e, later in notices[1:]:
        new = sorted({m.code for m in later.missing} - listed)
        if new:
            found.append(Anomaly("supplement_not_one_time", later.case_no, e.event_id, "违反一次性告知", {
                "event_id": e.event_id, "stage": later.stage, "notice_no": later.notice_no,
                "requested_at": _at(later.occurred_at), "first_event_id": first_e.event_id,
                "first_notice_no": first.notice_no, "first_stage": first.stage,
                "first_material_codes": ",".join(sorted(listed)), "new_material_codes": ",".join(new),
            }))
    return found


def acceptance_late(events: list[Recorded], calendar: WorkingDayCalendar) -> list[Anomaly]:
    """受理超期（视为受理）: accepted after 24:00 of the 5th working day from receipt (start day not counted),
    so the application counts as accepted from the day the materials were received (行政许可法 Art. 32;
    domain.md §1, §2). Receipt is the earliest of CaseReceived and the receipt time on CaseAccepted. When a
    一次性告知 was issued within the 5 days, the count runs again from the last acceptance-stage supplement
    before acceptance; with no supplement recorded there is nothing to measure."""
    accepted = _first_accepted(events)
    if accepted is None:
        return []
    e, acc = accepted
    receipts = [(p.occurred_at, ev.event_id) for ev, p in _of(events, CaseReceived)]
    receipts.append((acc.received_at, "CaseAccepted.received_at"))
    received_at, source = min(receipts, key=lambda r: r[0])  # a CaseReceived wins a tie: it names the event
    due = deadline(received_at, ACCEPTANCE_DECISION, calendar)
    start, start_source = received_at, source
    notices = [p for _, p in _of(events, SupplementRequested)
               if p.stage == "acceptance" and p.occurred_at <= acc.occurred_at]
    if notices and min(n.occurred_at for n in notices) <= due.due_at:
        supplied = [(p.occurred_at, ev.event_id) for ev, p in _of(events, SupplementSupplied)
                    if p.stage == "acceptance" and received_at <= p.occurred_at <= acc.occurred_at]
        if not supplied:
            return []
        start, start_source = max(supplied, key=lambda s: s[0])
        due = deadline(start, ACCEPTANCE_DECISION, calendar)
    # A deemed acceptance (视为受理) carries the receipt time as its own, so it always looks in time: what was
    # late is the decision nobody made, measured until acceptance recorded the law's acceptance.
    decided_at = e.recorded_at if acc.deemed else acc.occurred_at
    if decided_at <= due.due_at:
        return []
    local = SHANGHAI
    used = calendar.working_days_between(start.astimezone(local).date(), decided_at.astimezone(local).date())
    return [Anomaly("acceptance_late", acc.case_no, e.event_id, "受理超期（视为受理）", {
        "event_id": e.event_id, "received_at": _at(received_at), "received_source": source,
        "counted_from": _at(start), "counted_from_source": start_source,
        "accepted_at": _at(decided_at), "due_at": _at(due.due_at), "limit": "5个工作日",
        "deemed": str(acc.deemed).lower(),
        "working_days_used": str(used), "provisional": str(due.provisional).lower(),
        "deemed_accepted_on": received_at.astimezone(local).date().isoformat(),
    })]


def fee_rules(events: list[Recorded], standards: Mapping[str, int | None]) -> list[Anomaly]:
    """免费事项收费 / 超标准收费: licensing is free unless a law says otherwise, and only published standards
    may be charged (行政许可法 Art. 58; domain.md §2, §6). `standards`: item_code → standard in fen, None
    for a free item; an item absent from it is not checked."""
    item_codes = [p.item_code for _, p in _of(events, CaseAccepted)]
    item_codes += [p.item_code for _, p in _of(events, CaseReceived)]
    if not item_codes or item_codes[0] not in standards:
        return []
    item_code = item_codes[0]
    standard = standards[item_code]
    found = []
    for e, fee in _of(events, FeeCharged):
        evidence = {
            "event_id": e.event_id, "item_code": item_code, "fee_item": fee.fee_item,
            "amount_fen": str(fee.amount_fen), "standard_fen": "免费" if standard is None else str(standard),
            "receipt_no": fee.receipt_no, "charged_at": _at(fee.occurred_at),
        }
        if standard is None and fee.amount_fen > 0:
            found.append(Anomaly("fee_on_free_item", fee.case_no, e.event_id, "免费事项收费", evidence))
        elif standard is not None and fee.amount_fen > standard:
            found.append(Anomaly("fee_above_standard", fee.case_no, e.event_id, "超标准收费", evidence))
    return found


# ---- approval ------------------------------------------------------------------------------------------

def suspension_overruns(events: list[Recorded], calendar: WorkingDayCalendar, now: datetime) -> list[Anomaly]:
    """暂停超过告知期限: a suspension resumed after the days the applicant was told in writing, or still
    suspended at `now` past them (行政许可法 Art. 45; issue 3 "a suspension … longer than notified").
    The told days are calendar days counted as domain.md §1 says (start day not counted, end at 24:00,
    an end on a non-working day moved to the next working day). The lawful reason itself needs no rule:
    `SuspensionReason` admits only the lawful ones, and anything else is dead-lettered as malformed."""
    resumes = _of(events, CaseResumed)
    seen: set[str] = set()
    found = []
    for e, susp in _of(events, CaseSuspended):
        if susp.suspension_id in seen or susp.expected_days is None:
            continue
        seen.add(susp.suspension_id)
        due = deadline(susp.occurred_at, TimeLimit(value=susp.expected_days, unit=LimitUnit.calendar_days), calendar)
        resumed = next(((re, r) for re, r in resumes
                        if r.suspension_id == susp.suspension_id and r.occurred_at >= susp.occurred_at), None)
        end = resumed[1].occurred_at if resumed else now
        if end <= due.due_at:
            continue
        found.append(Anomaly("suspension_overrun", susp.case_no, susp.suspension_id, "暂停超过告知期限", {
            "event_id": e.event_id, "suspension_id": susp.suspension_id, "reason": susp.reason.value,
            "expected_days": str(susp.expected_days), "suspended_at": _at(susp.occurred_at),
            "notified_end": _at(due.due_at),
            "resumed_event_id": resumed[0].event_id if resumed else "无",
            "resumed_at": _at(resumed[1].occurred_at) if resumed else "尚未恢复",
            "as_of": _at(end), "overrun": _duration(end - due.due_at),
        }))
    return found


def delivery_late(events: list[Recorded], calendar: WorkingDayCalendar, now: datetime) -> list[Anomaly]:
    """送达超期: the licence not delivered (or, with no delivery recorded, not issued) within 10 working
    days of the approving decision (行政许可法 Art. 44; domain.md §3); also raised when neither is recorded
    and `now` is past the limit."""
    approvals = [(e, p) for e, p in _of(events, CaseDecided) if p.decision is Decision.approve]
    if not approvals:
        return []
    e, decided = approvals[0]
    due = deadline(decided.occurred_at, DELIVERY_LIMIT, calendar)
    after = decided.occurred_at
    delivered = [(ev, p.occurred_at, "delivered") for ev, p in _of(events, CaseDelivered) if p.occurred_at >= after]
    issued = [(ev, p.occurred_at, "certificate_issued") for ev, p in _of(events, CertificateIssued)
              if p.occurred_at >= after]
    served = (delivered or issued or [None])[0]
    end = served[1] if served else now
    if end <= due.due_at:
        return []
    return [Anomaly("delivery_late", decided.case_no, e.event_id, "送达超期", {
        "event_id": e.event_id, "decided_at": _at(decided.occurred_at), "due_at": _at(due.due_at),
        "limit": "10个工作日", "served_by": served[2] if served else "无送达或制证记录",
        "served_event_id": served[0].event_id if served else "无", "as_of": _at(end),
        "working_days_used": str(calendar.working_days_between(
            decided.occurred_at.astimezone(SHANGHAI).date(), end.astimezone(SHANGHAI).date())),
        "provisional": str(due.provisional).lower(),
    })]


def refusal_without_reasons(events: list[Recorded]) -> list[Anomaly]:
    """不予许可未说明理由: a refusal must state its reasons and the right to review or litigation
    (行政许可法 Art. 38; domain.md §3, §6 "refusal without reasons")."""
    return [
        Anomaly("refusal_without_reasons", p.case_no, e.event_id, "不予许可未说明理由", {
            "event_id": e.event_id, "decided_at": _at(p.occurred_at), "decision": p.decision.value,
            "remedy_notice_given": "yes" if p.remedy_notice.strip() else "no",
        })
        for e, p in _of(events, CaseDecided)
        if p.decision is Decision.deny and not p.reasons.strip()
    ]


def completed_implausibly_fast(events: list[Recorded], policy: AnomalyPolicy) -> list[Anomaly]:
    """承诺件办结过快: a promise item (承诺件, which needs examination) completed within `implausibly_fast`
    of its acceptance — a sign of a record made after the fact (issue 3 "a case completed implausibly fast
    for its item"; domain.md §2 Art. 34: only 即办件 are decided on the spot)."""
    accepted = _first_accepted(events)
    if accepted is None or accepted[1].case_type != PROMISE_CASE_TYPE:
        return []
    acc_e, acc = accepted
    found = []
    for e, done in _of(events, CaseCompleted):
        elapsed = done.occurred_at - acc.occurred_at
        if timedelta(0) <= elapsed <= policy.implausibly_fast:
            found.append(Anomaly("completed_implausibly_fast", done.case_no, e.event_id, "承诺件办结过快", {
                "event_id": e.event_id, "accepted_event_id": acc_e.event_id, "item_code": acc.item_code,
                "case_type": acc.case_type, "accepted_at": _at(acc.occurred_at),
                "completed_at": _at(done.occurred_at), "elapsed": _duration(elapsed),
                "threshold": _duration(policy.implausibly_fast),
            }))
    return found


def contradictions(events: list[Recorded], subject: Subject) -> list[Anomaly]:
    """矛盾事件: what the clock builder refused to apply (a resume without a suspension, a second completion,
    …) is kept and raised with its evidence (issue 3 "Bad input")."""
    by_id = {e.event_id: e for e in events}
    fallback = _case_no(events[0]) if events else ""
    found = []
    for c in subject.contradictions:
        e = by_id.get(c.event_id)
        evidence = {"event_id": c.event_id, "detail": c.detail}
        if e is not None:
            evidence |= {"event_type": _type(e.payload), "occurred_at": _at(e.payload.occurred_at),
                         "recorded_at": _at(e.recorded_at)}
        found.append(Anomaly(c.rule, _case_no(e) if e else fallback, c.event_id,
                             CONTRADICTION_TITLES.get(c.rule, "矛盾事件"), evidence))
    return found


# ---- all rules -----------------------------------------------------------------------------------------

def detect_case_anomalies(
    events: list[Recorded],
    subject: Subject,
    calendar: WorkingDayCalendar,
    now: datetime,
    policy: AnomalyPolicy = AnomalyPolicy(),
    *,
    fees: Mapping[str, int | None] | None = None,
) -> list[Anomaly]:
    """Every anomaly of one case, each (subject_no, rule, key) once, in rule order then event order.

    `subject` is `case_subject(events)`; `fees` maps item_code → fee standard in fen (None: free);
    without it, or for an item absent from it, the fee rules are skipped.
    """
    ordered = in_order(events)
    rules: list[Callable[[], list[Anomaly]]] = [
        lambda: backfilled_records(ordered, policy),
        lambda: future_times(ordered, policy),
        lambda: completed_without_acceptance(ordered),
        lambda: event_for_unknown_case(ordered),
        lambda: steps_skipped(ordered),
        lambda: step_records(ordered),
        lambda: supplement_not_one_time(ordered),
        lambda: acceptance_late(ordered, calendar),
        lambda: fee_rules(ordered, fees or {}),
        lambda: suspension_overruns(ordered, calendar, now),
        lambda: delivery_late(ordered, calendar, now),
        lambda: refusal_without_reasons(ordered),
        lambda: completed_implausibly_fast(ordered, policy),
        lambda: contradictions(ordered, subject),
    ]
    seen: set[tuple[str, str, str]] = set()
    found: list[Anomaly] = []
    for rule in rules:
        for anomaly in rule():
            identity = (anomaly.subject_no, anomaly.rule, anomaly.key)
            if identity not in seen:
                seen.add(identity)
                found.append(anomaly)
    return found
