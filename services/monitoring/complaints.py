"""Complaints (投诉) and ratings (好差评) received by monitoring: the units of work behind their endpoints.

Each change is stored and its event emitted through monitoring's own outbox in one transaction; monitoring's
consumer then logs the event like any producer's and runs the clocks (`subjects.complaint_subject`,
`subjects.rating_subject`), so a complaint filed here and one pushed by another system are supervised alike.
The consumer also remembers, for every case it sees received or accepted, a digest of the applicant's id
suffix (`remember_case`): that is how a rating proves it comes from the case's applicant.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.contracts.case import CaseAccepted, CaseReceived
from services.common.contracts.complaint import (
    ComplaintAnswered,
    ComplaintNotAccepted,
    ComplaintReceived,
    ComplaintTransferred,
)
from services.common.contracts.evaluation import RatingSubmitted, RectificationCompleted
from services.common.contracts.payloads import Actor, EventPayload
from services.common.messaging import Outbox
from services.common.principal import Principal, Role, region_prefix
from services.common.problems import Problem
from services.common.workdays import SHANGHAI, WorkingDayCalendar
from services.monitoring import handlers
from services.monitoring.adapters.complaint_tables import (
    complaint,
    complaint_action,
    rated_case,
    rating_submission,
)
from services.monitoring.domain.complaints import (
    CONTACT_MAX,
    CONTENT_MAX,
    NAME_MAX,
    SHORT_TEXT_MAX,
    STATE_NAMES,
    UNIT_MAX,
    ActionNotAllowed,
    ComplaintAction,
    ComplaintState,
    allowed_actions,
    complaint_number,
    complaint_scope,
    text_problem,
    transition,
)
from services.monitoring.domain.policies import PolicyTable
from services.monitoring.domain.ratings import (
    CHANNEL_NAMES,
    LEVEL_NAMES,
    RatingChannel,
    RatingLevel,
    id_suffix_digest,
    is_bad,
    rating_text_problem,
)
from services.monitoring.queries import clock_view

# Who acts on complaints and bad ratings: 电子监察 staff. Who may read them: as the other monitoring views.
ACTORS = (Role.supervisor,)
READERS = (Role.supervisor, Role.operations, Role.department_head)
# Read over the phone: no 0/O, 1/I/L; 10 characters of 31 are ~49 bits, beyond guessing at any rate limit.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_CODE_LENGTH = 10

_BUMP_SEQUENCE = text(
    "INSERT INTO complaint_sequence (scope, day, last) VALUES (:scope, :day, 1) "
    "ON CONFLICT (scope, day) DO UPDATE SET last = complaint_sequence.last + 1 RETURNING last")
# Case events arrive more than once (replays, the batch retried event by event): the first one stays.
_REMEMBER_CASE = text(
    "INSERT INTO rated_case (case_no, region_code, id_suffix_digest, recorded_at) "
    "VALUES (:case_no, :region_code, :id_suffix_digest, :recorded_at) ON CONFLICT (case_no) DO NOTHING"
).bindparams(bindparam("recorded_at", type_=rated_case.c.recorded_at.type))


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.subject, name=principal.name, role=principal.role.value,
                 department=principal.department)


def _text(field_zh: str, field: str, value: str, maximum: int, *, required: bool = True) -> str:
    problem = text_problem(field_zh, value, maximum, required=required)
    if problem:
        raise Problem(422, "invalid-text", f"{problem} ({field})", errors=[{"field": field, "message": problem}])
    return value.strip()


def _digest(complaint_no: str, code: str) -> str:
    return hashlib.sha256(f"{complaint_no}:{code.strip().upper()}".encode()).hexdigest()


# ---- complaints ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewComplaint:
    region_code: str
    named: bool
    content: str
    name: str | None = None
    contact: str | None = None
    about_case_no: str | None = None


def submit_complaint(session: Session, outbox: Outbox, command: NewComplaint, now: datetime) -> dict[str, Any]:
    """Registers the complaint, numbers it and hands out the query code (shown once, stored as a digest)."""
    content = _text("投诉内容", "content", command.content, CONTENT_MAX)
    name = contact = None
    if command.named:
        name = _text("投诉人姓名", "name", command.name or "", NAME_MAX)
        contact = _text("联系方式", "contact", command.contact or "", CONTACT_MAX)
    elif command.name or command.contact:
        # Nothing personal is kept for an anonymous complaint, not even by accident.
        raise Problem(422, "anonymous-with-identity", "匿名投诉不填写姓名和联系方式；需要书面答复请选择实名投诉 "
                      "(an anonymous complaint carries no name or contact)",
                      errors=[{"field": "name" if command.name else "contact", "message": "匿名投诉不应填写"}])
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    scope = complaint_scope(command.region_code)
    sequence = session.execute(_BUMP_SEQUENCE, {"scope": scope, "day": day}).scalar_one()
    complaint_no = complaint_number(command.region_code, day, int(sequence))
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    session.execute(insert(complaint).values(
        complaint_no=complaint_no, region_code=command.region_code, named=command.named, name=name,
        contact=contact, about_case_no=command.about_case_no, content=content,
        query_code_hash=_digest(complaint_no, code), state=ComplaintState.received.value, received_at=now,
        updated_at=now))
    outbox.emit(session, ComplaintReceived(
        occurred_at=now, complaint_no=complaint_no, region_code=command.region_code, named=command.named,
        about_case_no=command.about_case_no, content=content))
    return {"complaint_no": complaint_no, "query_code": code, "state": ComplaintState.received.value,
            "state_name": STATE_NAMES[ComplaintState.received], "named": command.named, "received_at": now,
            "message": (f"投诉已登记，编号 {complaint_no}，查询码 {code}（请妥善保存，凭编号和查询码查看办理结果）；"
                        "5 个工作日内转办" + ("，7 日内书面答复" if command.named else ""))}


def public_complaint(session: Session, complaint_no: str, code: str) -> dict[str, Any] | None:
    """What the complainant sees with the query code; None for an unknown number and a wrong code alike."""
    row = session.execute(select(complaint).where(complaint.c.complaint_no == complaint_no)).first()
    expected = row.query_code_hash if row is not None else "0" * 64
    if not hmac.compare_digest(expected, _digest(complaint_no, code)) or row is None:
        return None
    state = ComplaintState(row.state)
    return {"complaint_no": row.complaint_no, "state": state.value, "state_name": STATE_NAMES[state],
            "named": row.named, "received_at": row.received_at, "to_unit": row.to_unit, "answer": row.answer,
            "not_accepted_reason": row.not_accepted_reason, "updated_at": row.updated_at}


def _complaint_in_scope(session: Session, principal: Principal, complaint_no: str, *, lock: bool = False) -> Any:
    stmt = select(complaint).where(complaint.c.complaint_no == complaint_no)
    row = session.execute(stmt.with_for_update() if lock else stmt).first()
    # Another region's complaint answers 404, never 403 with details.
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "complaint-not-found", f"投诉 {complaint_no} 不存在或不在您的管辖范围内")
    return row


def _complaint_out(row: Any) -> dict[str, Any]:
    state = ComplaintState(row.state)
    return {"complaint_no": row.complaint_no, "region_code": row.region_code, "named": row.named,
            "name": row.name, "contact": row.contact, "about_case_no": row.about_case_no, "content": row.content,
            "state": state.value, "state_name": STATE_NAMES[state],
            "allowed_actions": [a.value for a in allowed_actions(state)], "to_unit": row.to_unit,
            "answer": row.answer, "not_accepted_reason": row.not_accepted_reason, "received_at": row.received_at,
            "updated_at": row.updated_at}


def staff_complaint(session: Session, principal: Principal, complaint_no: str, calendar: WorkingDayCalendar,
                    policies: PolicyTable, now: datetime) -> dict[str, Any]:
    """The complaint, its history and its supervision clocks (转办, 书面答复) as monitoring runs them."""
    row = _complaint_in_scope(session, principal, complaint_no)
    history = session.execute(select(complaint_action).where(complaint_action.c.complaint_no == complaint_no)
                              .order_by(complaint_action.c.id)).all()
    return {**_complaint_out(row),
            "history": [{"action": h.action, "detail": h.detail, "actor_id": h.actor_id, "actor_name": h.actor_name,
                         "at": h.at} for h in history],
            "clocks": _clocks(session, "complaint", complaint_no, calendar, policies, now)}


def list_complaints(session: Session, principal: Principal, state: ComplaintState | None, region_code: str | None,
                    limit: int) -> list[dict[str, Any]]:
    c = complaint.c
    stmt = select(complaint).where(c.region_code.startswith(principal.region_scope(), autoescape=True))
    if region_code:
        stmt = stmt.where(c.region_code.startswith(region_prefix(region_code), autoescape=True))
    if state:
        stmt = stmt.where(c.state == state.value)
    rows = session.execute(stmt.order_by(c.received_at.desc(), c.complaint_no.desc()).limit(limit)).all()
    return [_complaint_out(r) for r in rows]


def act_on_complaint(session: Session, outbox: Outbox, principal: Principal, complaint_no: str,
                     action: ComplaintAction, detail: str, now: datetime) -> dict[str, Any]:
    """转办 (to_unit), 答复 (answer) or 不予受理 (reason): checked against the state machine, stored, emitted."""
    row = _complaint_in_scope(session, principal, complaint_no, lock=True)
    try:
        target = transition(ComplaintState(row.state), action)
    except ActionNotAllowed as exc:
        raise Problem(409, "complaint-action-not-allowed", str(exc), state=exc.state.value,
                      allowed_actions=[a.value for a in exc.allowed]) from None
    actor = _actor(principal)
    event: EventPayload
    match action:
        case ComplaintAction.transfer:
            detail = _text("承办单位", "to_unit", detail, UNIT_MAX)
            values: dict[str, Any] = {"to_unit": detail}
            event = ComplaintTransferred(occurred_at=now, complaint_no=complaint_no, to_unit=detail, actor=actor)
        case ComplaintAction.answer:
            detail = _text("答复内容", "answer", detail, CONTENT_MAX)
            values = {"answer": detail}
            event = ComplaintAnswered(occurred_at=now, complaint_no=complaint_no, answer=detail, actor=actor)
        case ComplaintAction.not_accept:
            detail = _text("不予受理理由", "reason", detail, SHORT_TEXT_MAX)
            values = {"not_accepted_reason": detail}
            event = ComplaintNotAccepted(occurred_at=now, complaint_no=complaint_no, reason=detail, actor=actor)
    session.execute(update(complaint).where(complaint.c.complaint_no == complaint_no)
                    .values(state=target.value, updated_at=now, **values))
    session.execute(insert(complaint_action).values(
        complaint_no=complaint_no, action=action.value, detail=detail, actor_id=principal.subject,
        actor_name=principal.name, at=now))
    outbox.emit(session, event)
    updated = session.execute(select(complaint).where(complaint.c.complaint_no == complaint_no)).one()
    return _complaint_out(updated)


# ---- ratings ---------------------------------------------------------------------------------------------

def remember_case(session: Session, event: CaseReceived | CaseAccepted, recorded_at: datetime) -> None:
    """Called by monitoring's consumer for each case received or accepted: the case becomes rateable by its
    applicant. Cases logged before this table existed cannot be rated here (their applicant was not kept)."""
    session.execute(_REMEMBER_CASE, {
        "case_no": event.case_no, "region_code": event.region_code[:12],
        "id_suffix_digest": id_suffix_digest(event.case_no, event.applicant.id_number), "recorded_at": recorded_at})


@dataclass(frozen=True)
class NewRating:
    case_no: str
    id_suffix: str
    channel: RatingChannel
    level: RatingLevel
    text: str = ""


def _rateable(session: Session, case_no: str, id_suffix: str) -> Any | None:
    row = session.execute(select(rated_case).where(rated_case.c.case_no == case_no)).first()
    expected = row.id_suffix_digest if row is not None else "0" * 64
    if not hmac.compare_digest(expected, id_suffix_digest(case_no, id_suffix)) or row is None:
        return None
    return row


def submit_rating(session: Session, outbox: Outbox, command: NewRating, now: datetime) -> dict[str, Any] | None:
    """The applicant's rating of their case on one channel; None when the case is unknown or not theirs (the
    caller answers both alike). A second rating of the case on the channel is 409 (一次一评)."""
    problem = rating_text_problem(command.level, command.text)
    if problem:
        raise Problem(422, "invalid-rating-text", f"{problem} (text)", errors=[{"field": "text", "message": problem}])
    case = _rateable(session, command.case_no, command.id_suffix)
    if case is None:
        return None
    taken = select(rating_submission.c.rating_no).where(rating_submission.c.case_no == command.case_no,
                                                         rating_submission.c.channel == command.channel.value)
    already = _already_rated(command)
    if session.execute(taken).first() is not None:
        raise already
    rating_no = f"PJ{now.astimezone(SHANGHAI):%Y%m%d}{secrets.token_hex(5).upper()}"  # 评价编号
    bad = is_bad(command.level)
    try:
        with session.begin_nested():  # PostgreSQL: a concurrent twin inserted first; SQLite writers queue anyway
            session.execute(insert(rating_submission).values(
                rating_no=rating_no, case_no=command.case_no, channel=command.channel.value,
                level=int(command.level), text=command.text.strip(), region_code=case.region_code, bad=bad,
                submitted_at=now))
    except IntegrityError:
        raise already from None
    outbox.emit(session, RatingSubmitted(
        occurred_at=now, rating_no=rating_no, case_no=command.case_no, channel=command.channel.value,
        level=int(command.level), text=command.text.strip(), region_code=case.region_code, named=True))
    return {"rating_no": rating_no, "case_no": command.case_no, "channel": command.channel.value,
            "channel_name": CHANNEL_NAMES[command.channel], "level": int(command.level),
            "level_name": LEVEL_NAMES[command.level], "bad": bad, "submitted_at": now,
            "message": "感谢您的评价" + ("；差评将由监察人员回访并督促整改" if bad else "")}


def _already_rated(command: NewRating) -> Problem:
    return Problem(409, "already-rated", f"该办件已通过{CHANNEL_NAMES[command.channel]}评价过（一次一评）"
                   " (this case was already rated on this channel)", channel=command.channel.value)


def _rating_out(row: Any) -> dict[str, Any]:
    level = RatingLevel(row.level)
    return {"rating_no": row.rating_no, "case_no": row.case_no, "channel": row.channel,
            "channel_name": CHANNEL_NAMES[RatingChannel(row.channel)], "level": row.level,
            "level_name": LEVEL_NAMES[level], "bad": row.bad, "text": row.text, "region_code": row.region_code,
            "submitted_at": row.submitted_at, "rectification": row.rectification, "rectified_at": row.rectified_at,
            "rectified_by": row.rectified_by}


def _rating_in_scope(session: Session, principal: Principal, rating_no: str, *, lock: bool = False) -> Any:
    stmt = select(rating_submission).where(rating_submission.c.rating_no == rating_no)
    row = session.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "rating-not-found", f"评价 {rating_no} 不存在或不在您的管辖范围内")
    return row


def list_bad_ratings(session: Session, principal: Principal, rectified: bool | None, region_code: str | None,
                     limit: int) -> list[dict[str, Any]]:
    r = rating_submission.c
    stmt = select(rating_submission).where(r.bad.is_(True),
                                           r.region_code.startswith(principal.region_scope(), autoescape=True))
    if region_code:
        stmt = stmt.where(r.region_code.startswith(region_prefix(region_code), autoescape=True))
    if rectified is not None:
        stmt = stmt.where(r.rectified_at.is_not(None) if rectified else r.rectified_at.is_(None))
    rows = session.execute(stmt.order_by(r.submitted_at.desc(), r.rating_no.desc()).limit(limit)).all()
    return [_rating_out(row) for row in rows]


def staff_rating(session: Session, principal: Principal, rating_no: str, calendar: WorkingDayCalendar,
                 policies: PolicyTable, now: datetime) -> dict[str, Any]:
    row = _rating_in_scope(session, principal, rating_no)
    return {**_rating_out(row), "clocks": _clocks(session, "rating", rating_no, calendar, policies, now)}


def rectify(session: Session, outbox: Outbox, principal: Principal, rating_no: str, result: str,
            now: datetime) -> dict[str, Any]:
    """整改情况 of a bad rating, recorded once; its rectification clock closes when monitoring logs the event."""
    row = _rating_in_scope(session, principal, rating_no, lock=True)
    if not row.bad:
        raise Problem(409, "not-a-bad-rating", "只有差评需要整改 (only a bad rating is rectified)")
    if row.rectified_at is not None:
        raise Problem(409, "already-rectified", f"该差评已于 {row.rectified_at.isoformat()} 登记整改情况")
    result = _text("整改情况", "result", result, CONTENT_MAX)
    session.execute(update(rating_submission).where(rating_submission.c.rating_no == rating_no)
                    .values(rectification=result, rectified_at=now, rectified_by=principal.subject))
    outbox.emit(session, RectificationCompleted(occurred_at=now, rating_no=rating_no, case_no=row.case_no,
                                                result=result, actor=_actor(principal)))
    updated = session.execute(select(rating_submission).where(rating_submission.c.rating_no == rating_no)).one()
    return _rating_out(updated)


def _clocks(session: Session, subject_type: str, subject_no: str, calendar: WorkingDayCalendar,
            policies: PolicyTable, now: datetime) -> list[dict[str, Any]]:
    """Rebuilt from the subject's log with the live engine, as the case view is: empty until monitoring's
    consumer has logged the subject's first event (a fraction of a second after the change)."""
    _, subject = handlers.build_subject(session, subject_type, subject_no)
    return [clock_view(c, calendar, policies, now) for c in subject.clocks.values()]
