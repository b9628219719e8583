"""From a subject's events to its clocks: cases, disclosure requests, complaints and bad ratings.

Events are replayed in the order they happened (`occurred_at`, then the order they were recorded), so a
late or reordered delivery gives the same clocks as an orderly one. What contradicts the story so far
(a resume without a suspension, a second completion, a second extension) does not bend a clock: it is
returned as a `Contradiction` for the anomaly rules to raise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseExtended,
    CaseReceived,
    CaseRejected,
    CaseResumed,
    CaseSuspended,
    CaseWithdrawn,
    JointReviewAnswered,
    JointReviewRequested,
    StepCompleted,
    StepStarted,
    SupplementRequested,
    SupplementSupplied,
)
from services.common.contracts.complaint import (
    ComplaintAnswered,
    ComplaintNotAccepted,
    ComplaintReceived,
    ComplaintTransferred,
)
from services.common.contracts.disclosure import (
    ConsultationEnded,
    ConsultationStarted,
    RequestAnswered,
    RequestExtended,
    RequestReceived,
    RequestSupplemented,
    RequestSupplementRequested,
    RequestWithdrawn,
)
from services.common.contracts.evaluation import RatingSubmitted, RectificationCompleted
from services.common.contracts.payloads import EventPayload, LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI
from services.monitoring.domain.clocks import Clock, ClockKind, Level, LimitSpec, Pause

ACCEPTANCE_DECISION = TimeLimit(value=5, unit=LimitUnit.working_days, note="行政许可法第三十二条")
DISCLOSURE_REPLY = TimeLimit(value=20, unit=LimitUnit.working_days, note="政府信息公开条例第三十三条")
DISCLOSURE_EXTENSION_BOUND = 20
COMPLAINT_TRANSFER = TimeLimit(value=5, unit=LimitUnit.working_days, note="投诉转办")
COMPLAINT_REPLY = TimeLimit(value=7, unit=LimitUnit.calendar_days, note="实名投诉书面答复")
RECTIFICATION = TimeLimit(value=5, unit=LimitUnit.working_days, note="差评整改（默认）")
EXTENSION_BOUND = {False: 10, True: 15}  # 行政许可法 Art. 42: 10 working days, joint handling 15


@dataclass(frozen=True)
class Recorded:
    """One logged event: the payload and when the system recorded it."""

    event_id: str
    payload: EventPayload
    recorded_at: datetime


@dataclass(frozen=True)
class Contradiction:
    rule: str
    event_id: str
    detail: str


@dataclass
class Subject:
    clocks: dict[str, Clock] = field(default_factory=dict)
    contradictions: list[Contradiction] = field(default_factory=list)


def in_order(events: Iterable[Recorded]) -> list[Recorded]:
    return sorted(events, key=lambda e: (e.payload.occurred_at, e.recorded_at, e.event_id))


def case_subject(events: Iterable[Recorded]) -> Subject:
    """Every clock of one case (办件) from its events."""
    subject = Subject()
    clocks = subject.clocks
    case_pauses: dict[str, Pause] = {}
    accepted: CaseAccepted | None = None
    ended = False

    def contradiction(rule: str, e: Recorded, detail: str) -> None:
        subject.contradictions.append(Contradiction(rule, e.event_id, detail))

    def pause_all(pause: Pause) -> None:
        # A lawful suspension stops every running clock of the case: its steps as well as the whole.
        for clock in clocks.values():
            if clock.ended_at is None and clock.kind in (ClockKind.handling, ClockKind.step, ClockKind.joint_opinion):
                clock.pauses.append(pause)

    for e in in_order(events):
        p = e.payload
        at = p.occurred_at
        match p:
            case CaseReceived():
                clocks.setdefault(f"case:{p.case_no}:acceptance", Clock(
                    clock_id=f"case:{p.case_no}:acceptance", kind=ClockKind.acceptance, subject_no=p.case_no,
                    started_at=at, region_code=p.region_code, label="受理决定",
                    limits=[LimitSpec("legal", ACCEPTANCE_DECISION, Level.severe)],
                ))
            case CaseAccepted():
                if accepted is not None:
                    contradiction("accepted_twice", e, "同一办件重复受理")
                    continue
                accepted = p
                _end(clocks, f"case:{p.case_no}:acceptance", at, "accepted")
                clocks[f"case:{p.case_no}:handling"] = Clock(
                    clock_id=f"case:{p.case_no}:handling", kind=ClockKind.handling, subject_no=p.case_no,
                    started_at=at, region_code=p.region_code, department=p.department, item_type=p.item_type,
                    label=p.item_name,
                    limits=[LimitSpec("promised", p.promised_limit, Level.breach),
                            LimitSpec("legal", p.legal_limit, Level.severe)],
                )
                if p.deferred_materials and p.deferred_due_date:
                    due_day = date.fromisoformat(p.deferred_due_date)
                    days = max((due_day - at.astimezone(SHANGHAI).date()).days, 0)
                    clocks[f"case:{p.case_no}:deferred"] = Clock(
                        clock_id=f"case:{p.case_no}:deferred", kind=ClockKind.deferred_materials,
                        subject_no=p.case_no, started_at=at, region_code=p.region_code,
                        department=p.department, label="、".join(p.deferred_materials),
                        limits=[LimitSpec("limit", TimeLimit(value=days, unit=LimitUnit.calendar_days), Level.breach)],
                    )
            case CaseRejected():
                _end(clocks, f"case:{p.case_no}:acceptance", at, "rejected")
            case SupplementRequested() if p.stage == "acceptance":
                _end(clocks, f"case:{p.case_no}:acceptance", at, "notice_issued")  # 一次性告知 issued in time
            case SupplementRequested():
                if "supplement" in case_pauses:
                    continue  # already waiting for the applicant: a second notice breaks 一次性告知, not the clock
                pause = Pause(f"supplement:{e.event_id}", "applicant_supplement", at)
                case_pauses["supplement"] = pause
                pause_all(pause)
            case SupplementSupplied() if p.stage in ("deferred", "容缺"):
                _end(clocks, f"case:{p.case_no}:deferred", at, "supplied")
            case SupplementSupplied():
                pause = case_pauses.pop("supplement", None)
                if pause is None:
                    if p.stage != "acceptance":
                        contradiction("supplied_without_request", e, "补正材料前没有补正告知")
                    continue
                pause.end = at
            case CaseSuspended():
                if p.suspension_id in case_pauses:
                    contradiction("suspended_twice", e, f"暂停 {p.suspension_id} 重复")
                    continue
                pause = Pause(p.suspension_id, p.reason.value, at, expected_days=p.expected_days)
                case_pauses[p.suspension_id] = pause
                pause_all(pause)
            case CaseResumed():
                pause = case_pauses.pop(p.suspension_id, None)
                if pause is None:
                    contradiction("resume_without_suspension", e, f"恢复计时 {p.suspension_id} 但没有对应的暂停")
                    continue
                pause.end = at
            case CaseExtended():
                handling = clocks.get(f"case:{p.case_no}:handling")
                if handling is None or accepted is None:
                    contradiction("extension_without_case", e, "延长审批时办件尚未受理")
                    continue
                if handling.extension is not None:
                    contradiction("second_extension", e, "法定时限只能延长一次")
                    continue
                bound = EXTENSION_BOUND[accepted.joint]
                if p.extension.unit is LimitUnit.working_days and p.extension.value > bound:
                    contradiction("extension_beyond_bound", e, f"延长 {p.extension.value} 个工作日，"
                                  f"超过法定上限 {bound} 个工作日，按上限计")
                    handling.extension = TimeLimit(value=bound, unit=LimitUnit.working_days)
                elif p.extension.unit is not LimitUnit.working_days:
                    # Art. 42 bounds extensions in working days; another unit is kept as approved and flagged.
                    contradiction("extension_not_in_working_days", e,
                                  f"延长以 {p.extension.unit} 计，法定上限为 {bound} 个工作日，请核实")
                    handling.extension = p.extension
                else:
                    handling.extension = p.extension
            case StepStarted():
                clock = Clock(
                    clock_id=f"case:{p.case_no}:step:{p.task_id}", kind=ClockKind.step, subject_no=p.case_no,
                    started_at=at, region_code=accepted.region_code if accepted else "", department=p.department,
                    item_type=accepted.item_type if accepted else "", label=p.step_name,
                    limits=[LimitSpec("limit", p.limit, Level.breach)] if p.limit else [],
                    pauses=[c for c in case_pauses.values() if c.end is None],
                )
                clocks.setdefault(clock.clock_id, clock)
            case StepCompleted():
                _end(clocks, f"case:{p.case_no}:step:{p.task_id}", at, "completed")
            case JointReviewRequested():
                clock = Clock(
                    clock_id=f"case:{p.case_no}:joint:{p.task_id}", kind=ClockKind.joint_opinion,
                    subject_no=p.case_no, started_at=at, region_code=accepted.region_code if accepted else "",
                    department=p.department, label=p.department,
                    limits=[LimitSpec("limit", p.limit, Level.breach)],
                    pauses=[c for c in case_pauses.values() if c.end is None],
                )
                clocks.setdefault(clock.clock_id, clock)
            case JointReviewAnswered():
                _end(clocks, f"case:{p.case_no}:joint:{p.task_id}", at, "answered")
            case CaseCompleted() | CaseWithdrawn():
                if ended:
                    contradiction("ended_twice", e, "办件已办结或撤回，再次收到结束事件")
                    continue
                ended = True
                if accepted is None and isinstance(p, CaseCompleted):
                    contradiction("completed_without_acceptance", e, "办结的办件没有受理记录")
                reason = "withdrawn" if isinstance(p, CaseWithdrawn) else "completed"
                for clock in clocks.values():
                    if clock.ended_at is None and clock.kind is not ClockKind.deferred_materials:
                        clock.ended_at, clock.end_reason = at, reason
    return subject


def _end(clocks: dict[str, Clock], clock_id: str, at: datetime, reason: str) -> None:
    clock = clocks.get(clock_id)
    if clock is not None and clock.ended_at is None:
        clock.ended_at, clock.end_reason = at, reason


def request_subject(events: Iterable[Recorded]) -> Subject:
    """依申请公开: 20 working days, restarted by a supplement, paused while consulting, extended once ≤ 20."""
    subject = Subject()
    clock: Clock | None = None
    consultations: dict[str, Pause] = {}
    for e in in_order(events):
        p = e.payload
        at = p.occurred_at
        match p:
            case RequestReceived():
                clock = Clock(clock_id=f"request:{p.request_no}:reply", kind=ClockKind.disclosure_reply,
                              subject_no=p.request_no, started_at=at, region_code=p.region_code,
                              department=p.agency, label="答复",
                              limits=[LimitSpec("legal", DISCLOSURE_REPLY, Level.severe)])
                subject.clocks[clock.clock_id] = clock
            case _ if clock is None:
                subject.contradictions.append(Contradiction("unknown_request", e.event_id, "申请尚未登记"))
            case RequestSupplementRequested():
                if "supplement" not in consultations:  # one open wait for the applicant at a time
                    consultations["supplement"] = Pause("supplement", "applicant_supplement", at)
                    clock.pauses.append(consultations["supplement"])
            case RequestSupplemented():
                pause = consultations.pop("supplement", None)
                if pause is not None:
                    pause.end = at
                clock.restarts.append(at)  # Art. 30: the reply period runs again from the supplement
            case ConsultationStarted():
                consultations[p.consultation_id] = Pause(p.consultation_id, "third_party_consultation", at)
                clock.pauses.append(consultations[p.consultation_id])
            case ConsultationEnded():
                pause = consultations.pop(p.consultation_id, None)
                if pause is None:
                    subject.contradictions.append(Contradiction(
                        "resume_without_suspension", e.event_id, f"征求意见 {p.consultation_id} 未开始即结束"))
                else:
                    pause.end = at
            case RequestExtended():
                if clock.extension is not None:
                    subject.contradictions.append(Contradiction("second_extension", e.event_id, "只能延长一次"))
                else:
                    clock.extension = TimeLimit(value=min(p.extension.value, DISCLOSURE_EXTENSION_BOUND),
                                                unit=LimitUnit.working_days)
            case RequestAnswered() | RequestWithdrawn():
                if clock.ended_at is None:
                    clock.ended_at = at
                    clock.end_reason = "withdrawn" if isinstance(p, RequestWithdrawn) else "answered"
    return subject


def complaint_subject(events: Iterable[Recorded]) -> Subject:
    """投诉: transfer within 5 working days; a named complaint answered in writing within 7 days."""
    subject = Subject()
    for e in in_order(events):
        p = e.payload
        at = p.occurred_at
        match p:
            case ComplaintReceived():
                base = f"complaint:{p.complaint_no}"
                subject.clocks[f"{base}:transfer"] = Clock(
                    clock_id=f"{base}:transfer", kind=ClockKind.complaint_transfer, subject_no=p.complaint_no,
                    started_at=at, region_code=p.region_code, label="转办",
                    limits=[LimitSpec("limit", COMPLAINT_TRANSFER, Level.severe)])
                if p.named:
                    subject.clocks[f"{base}:reply"] = Clock(
                        clock_id=f"{base}:reply", kind=ClockKind.complaint_reply, subject_no=p.complaint_no,
                        started_at=at, region_code=p.region_code, label="书面答复",
                        limits=[LimitSpec("limit", COMPLAINT_REPLY, Level.severe)])
            case ComplaintTransferred():
                _end(subject.clocks, f"complaint:{p.complaint_no}:transfer", at, "transferred")
            case ComplaintAnswered():
                _end(subject.clocks, f"complaint:{p.complaint_no}:reply", at, "answered")
            case ComplaintNotAccepted():
                for suffix in ("transfer", "reply"):
                    _end(subject.clocks, f"complaint:{p.complaint_no}:{suffix}", at, "not_accepted")
    return subject


def rating_subject(events: Iterable[Recorded], limit: TimeLimit = RECTIFICATION) -> Subject:
    """差评整改: every named bad rating (level 4 or 5) is followed up and rectified within the local limit."""
    subject = Subject()
    for e in in_order(events):
        p = e.payload
        match p:
            case RatingSubmitted() if p.level >= 4 and p.named:
                clock_id = f"rating:{p.rating_no}:rectification"
                subject.clocks[clock_id] = Clock(
                    clock_id=clock_id, kind=ClockKind.rectification, subject_no=p.rating_no,
                    started_at=p.occurred_at, region_code=p.region_code, label=f"办件 {p.case_no} 差评整改",
                    limits=[LimitSpec("limit", limit, Level.breach)])
            case RectificationCompleted():
                _end(subject.clocks, f"rating:{p.rating_no}:rectification", p.occurred_at, "rectified")
    return subject
