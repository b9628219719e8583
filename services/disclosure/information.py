"""Information disclosure's service layer (政府信息公开): each verb runs in the caller's unit of work,
loads what the domain needs, applies the domain's rule, stores the result and emits the event through the
outbox in the same transaction."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
from services.common.contracts.payloads import Actor, EventPayload, LimitUnit, TimeLimit
from services.common.contracts.permissions import Action, allows, authorize
from services.common.messaging import Outbox
from services.common.principal import Principal, region_prefix
from services.common.problems import Problem
from services.common.workdays import SHANGHAI, WorkingDayCalendar
from services.disclosure.adapters.information_tables import (
    information_attachment,
    information_category,
    information_document,
    information_document_revision,
    information_request,
    information_request_sequence,
)
from services.disclosure.adapters.tables import case_summary, item_version
from services.disclosure.api import information_schemas as schemas
from services.disclosure.domain import annual_report
from services.disclosure.domain import information_directory as directory
from services.disclosure.domain import information_requests as requests
from services.disclosure.domain.processing_fee import FEE_MODE_LABELS, FeeError, FeeMode, price

# ---- who may act -----------------------------------------------------------------------------------------

# The role each act needs is checked by its route (services.common.contracts.permissions.requires); the
# functions below check what depends on the record: its region, and the access code of a withdrawal.

def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.subject, name=principal.name, role=principal.role.value,
                 department=principal.department)


def _in_scope_or_403(principal: Principal, region_code: str) -> None:
    if not principal.can_see_region(region_code):
        raise Problem(403, "region-out-of-scope", f"区划 {region_code} 不在您的管辖范围内", region_code=region_code)


def _directory_problem(error: directory.DirectoryError) -> Problem:
    extra = {"errors": [{"field": error.field, "message": error.message}]} if error.field else {}
    return Problem(error.status, error.slug, error.message, **extra)


def _request_problem(error: requests.RequestError, request: requests.InformationRequest | None = None) -> Problem:
    if isinstance(error, requests.WrongState):
        return Problem(409, error.slug, error.message, state=error.state.value, allowed_actions=error.allowed)
    extra: dict[str, Any] = {}
    if request is not None and error.status == 409:
        extra = {"state": request.state.value, "allowed_actions": request.allowed_actions()}
    return Problem(error.status, error.slug, error.message, **extra)


def _local_date(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


# ---- directory: categories -----------------------------------------------------------------------------

def _categories(session: Session, region_code: str) -> dict[str, directory.Category]:
    rows = session.execute(select(information_category)
                           .where(information_category.c.region_code == region_code)).all()
    return {r.code: directory.Category(r.region_code, r.code, r.name, r.parent_code) for r in rows}


def create_category(session: Session, principal: Principal, body: schemas.CategoryIn,
                    now: datetime) -> dict[str, Any]:
    _in_scope_or_403(principal, body.region_code)
    category = directory.Category(body.region_code, body.code, body.name, body.parent_code)
    try:
        directory.validate_category(category, _categories(session, body.region_code))
    except directory.DirectoryError as exc:
        raise _directory_problem(exc) from exc
    try:
        with session.begin_nested():
            session.execute(insert(information_category).values(**asdict(category), created_at=now))
    except IntegrityError as exc:  # a concurrent creation of the same code
        raise Problem(409, "category-exists", f"类别 {body.code} 已存在") from exc
    return asdict(category)


def list_categories(session: Session, region_code: str) -> list[dict[str, Any]]:
    categories = _categories(session, region_code)
    out = []
    for code in sorted(categories):
        path = directory.category_path(categories, code)
        out.append(asdict(categories[code]) | {"path": [c.name for c in path]})
    return out


# ---- directory: documents -------------------------------------------------------------------------------

def _content(body: schemas.DocumentContentIn, session: Session) -> directory.DocumentContent:
    attachment = None
    if body.attachment is not None:
        try:
            raw = base64.b64decode(body.attachment.content_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Problem(422, "attachment-not-base64", "附件内容须为 base64 编码",
                          errors=[{"field": "attachment.content_base64", "message": "不是有效的 base64"}]) from exc
        if len(raw) > schemas.MAX_ATTACHMENT_BYTES:
            raise Problem(413, "attachment-too-large", "附件不得超过 700 KB")
        try:
            attachment = directory.attachment_of(body.attachment.filename, body.attachment.media_type, raw,
                                                 body.attachment.sha256)
        except directory.DirectoryError as exc:
            raise _directory_problem(exc) from exc
        exists = session.execute(select(information_attachment.c.sha256)
                                 .where(information_attachment.c.sha256 == attachment.sha256)).first()
        if exists is None:
            with session.begin_nested():
                session.execute(insert(information_attachment).values(sha256=attachment.sha256, content=raw,
                                                                      size=len(raw)))
    return directory.DocumentContent(
        category_code=body.category_code, title=body.title, issuing_body=body.issuing_body,
        document_number=body.document_number, issue_date=body.issue_date, valid_from=body.valid_from,
        valid_to=body.valid_to, validity=body.validity, kind=body.kind, body_text=body.body_text,
        attachment=attachment,
    )


def _content_json(content: directory.DocumentContent) -> dict[str, Any]:
    data = asdict(content)
    for key in ("issue_date", "valid_from", "valid_to"):
        data[key] = data[key].isoformat() if data[key] else None
    data["validity"], data["kind"] = content.validity.value, content.kind.value
    return data


def _content_from_json(data: dict[str, Any]) -> directory.DocumentContent:
    attachment = directory.Attachment(**data["attachment"]) if data.get("attachment") else None

    def day(key: str) -> date | None:
        return date.fromisoformat(data[key]) if data.get(key) else None

    issue = day("issue_date")
    assert issue is not None
    return directory.DocumentContent(
        category_code=data["category_code"], title=data["title"], issuing_body=data["issuing_body"],
        document_number=data["document_number"], issue_date=issue, valid_from=day("valid_from"),
        valid_to=day("valid_to"), validity=directory.Validity(data["validity"]),
        kind=directory.DocumentKind(data["kind"]), body_text=data["body_text"], attachment=attachment,
    )


def _searchable(content: directory.DocumentContent) -> dict[str, Any]:
    return dict(category_code=content.category_code, title=content.title, issuing_body=content.issuing_body,
                document_number=content.document_number, issue_date=content.issue_date, kind=content.kind.value,
                validity=content.validity.value, valid_to=content.valid_to, body_text=content.body_text)


def _load_document(session: Session, doc_id: str) -> directory.Document | None:
    row = session.execute(select(information_document).where(information_document.c.doc_id == doc_id)).first()
    if row is None:
        return None
    revisions = session.execute(
        select(information_document_revision).where(information_document_revision.c.doc_id == doc_id)
        .order_by(information_document_revision.c.revision)).all()
    return directory.Document(
        doc_id=row.doc_id, region_code=row.region_code,
        revisions=[directory.Revision(r.revision, _content_from_json(r.content), r.created_at, r.created_by,
                                      r.reason) for r in revisions],
        status=directory.PublicationStatus(row.status), published_at=row.published_at,
        withdrawn_at=row.withdrawn_at, withdraw_reason=row.withdraw_reason or "",
    )


def _officer_document(session: Session, principal: Principal, doc_id: str) -> directory.Document:
    """A document the officer may manage; another region's answers 404, never 403."""
    document = _load_document(session, doc_id)
    if document is None or not principal.can_see_region(document.region_code):
        raise Problem(404, "document-not-found", f"政府信息 {doc_id} 不存在")
    return document


def _document_out(session: Session, document: directory.Document, calendar: WorkingDayCalendar,
                  revision: directory.Revision | None = None, today: date | None = None) -> dict[str, Any]:
    revision = revision or document.current
    content = revision.content
    today = today or _local_date(datetime.now(UTC))
    categories = _categories(session, document.region_code)
    due = directory.publication_due(content.issue_date, calendar)
    published_on = _local_date(document.published_at) if document.published_at else None
    attachment = None
    if content.attachment is not None:
        attachment = asdict(content.attachment) | {
            "url": f"/api/v1/information/documents/{document.doc_id}/revisions/{revision.revision}/attachment"}
    return {
        "doc_id": document.doc_id, "region_code": document.region_code, "status": document.status.value,
        "revision": revision.revision, "current_revision": document.current.revision,
        "category_code": content.category_code,
        "category_path": [c.name for c in directory.category_path(categories, content.category_code)],
        "title": content.title, "issuing_body": content.issuing_body, "document_number": content.document_number,
        "issue_date": content.issue_date, "valid_from": content.valid_from, "valid_to": content.valid_to,
        "validity": content.validity.value,
        "effective_validity": directory.effective_validity(content, today).value,
        "validity_label": directory.VALIDITY_LABELS[directory.effective_validity(content, today)],
        "kind": content.kind.value, "body_text": content.body_text, "attachment": attachment,
        "publication_date": published_on, "publication_due": due,
        "published_late": published_on is not None and published_on > due,  # Art. 26: 20 working days
        "published_at": document.published_at, "revised_at": revision.created_at, "revision_reason": revision.reason,
        "withdrawn_at": document.withdrawn_at, "withdraw_reason": document.withdraw_reason,
        "revisions": [{"revision": r.revision, "created_at": r.created_at, "reason": r.reason}
                      for r in document.revisions],
    }


def publish_document(session: Session, principal: Principal, body: schemas.DocumentIn,
                     calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    _in_scope_or_403(principal, body.region_code)
    content = _content(body, session)
    doc_id = f"{region_prefix(body.region_code)}-{_local_date(now):%Y}-{secrets.token_hex(5)}"
    try:
        document = directory.publish(doc_id, body.region_code, content, _categories(session, body.region_code),
                                     principal.subject, now)
    except directory.DirectoryError as exc:
        raise _directory_problem(exc) from exc
    session.execute(insert(information_document).values(
        doc_id=doc_id, region_code=body.region_code, status=document.status.value, current_revision=1,
        published_at=now, updated_at=now, withdraw_reason="", **_searchable(content)))
    _insert_revision(session, doc_id, document.current)
    return _document_out(session, document, calendar, today=_local_date(now))


def _insert_revision(session: Session, doc_id: str, revision: directory.Revision) -> None:
    session.execute(insert(information_document_revision).values(
        doc_id=doc_id, revision=revision.revision, content=_content_json(revision.content), reason=revision.reason,
        created_at=revision.created_at, created_by=revision.created_by))


def amend_document(session: Session, principal: Principal, doc_id: str, body: schemas.AmendIn,
                   calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    document = _officer_document(session, principal, doc_id)
    content = _content(body.content, session)
    try:
        revision = directory.amend(document, content, body.reason, _categories(session, document.region_code),
                                   principal.subject, now)
    except directory.DirectoryError as exc:
        raise _directory_problem(exc) from exc
    _insert_revision(session, doc_id, revision)
    session.execute(update(information_document).where(information_document.c.doc_id == doc_id)
                    .values(current_revision=revision.revision, updated_at=now, **_searchable(content)))
    return _document_out(session, document, calendar, today=_local_date(now))


def withdraw_document(session: Session, principal: Principal, doc_id: str, reason: str,
                      calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    document = _officer_document(session, principal, doc_id)
    try:
        directory.withdraw(document, reason, now)
    except directory.DirectoryError as exc:
        raise _directory_problem(exc) from exc
    session.execute(update(information_document).where(information_document.c.doc_id == doc_id)
                    .values(status=document.status.value, withdrawn_at=now, withdraw_reason=reason, updated_at=now))
    return _document_out(session, document, calendar, today=_local_date(now))


def _visible_document(session: Session, principal: Principal, doc_id: str) -> directory.Document:
    """Published documents are public; a withdrawn one only to its region's officers."""
    document = _load_document(session, doc_id)
    officer = allows(principal, Action.information_withdraw)
    if document is None or (document.status is directory.PublicationStatus.withdrawn
                            and not (officer and principal.can_see_region(document.region_code))):
        raise Problem(404, "document-not-found", f"政府信息 {doc_id} 不存在")
    return document


def get_document(session: Session, principal: Principal, doc_id: str, calendar: WorkingDayCalendar,
                 revision: int | None = None) -> dict[str, Any]:
    document = _visible_document(session, principal, doc_id)
    chosen = document.revision(revision) if revision is not None else document.current
    if chosen is None:
        raise Problem(404, "revision-not-found", f"政府信息 {doc_id} 没有第 {revision} 版")
    return _document_out(session, document, calendar, chosen)


def get_attachment(session: Session, principal: Principal, doc_id: str, revision: int) -> tuple[bytes, str, str, str]:
    document = _visible_document(session, principal, doc_id)
    chosen = document.revision(revision)
    if chosen is None or chosen.content.attachment is None:
        raise Problem(404, "attachment-not-found", "该版本没有附件")
    att = chosen.content.attachment
    row = session.execute(select(information_attachment.c.content)
                          .where(information_attachment.c.sha256 == att.sha256)).first()
    if row is None:
        raise Problem(404, "attachment-not-found", "附件内容缺失")
    return bytes(row.content), att.media_type, att.filename, att.sha256


def search_documents(session: Session, *, q: str | None, category_code: str | None, region_code: str | None,
                     issuing_body: str | None, since: date | None, until: date | None, validity: str | None,
                     limit: int, offset: int, today: date) -> dict[str, Any]:
    """Published documents only: title, 文号 and body contain `q`; a category includes its subcategories;
    the period is the publication date (Asia/Shanghai), both ends included."""
    t = information_document
    stmt = select(t).where(t.c.status == directory.PublicationStatus.published.value)
    if region_code:
        stmt = stmt.where(t.c.region_code.startswith(region_prefix(region_code), autoescape=True))
    if category_code:
        if region_code:
            codes = directory.descendants(_categories(session, region_code), category_code)
        else:
            codes = {category_code}
        stmt = stmt.where(t.c.category_code.in_(codes))
    if issuing_body:
        stmt = stmt.where(t.c.issuing_body.contains(issuing_body, autoescape=True))
    if q:
        stmt = stmt.where(or_(t.c.title.contains(q, autoescape=True),
                              t.c.document_number.contains(q, autoescape=True),
                              t.c.body_text.contains(q, autoescape=True)))
    if since:
        stmt = stmt.where(t.c.published_at >= _day_start(since))
    if until:
        stmt = stmt.where(t.c.published_at < _day_start(until + timedelta(days=1)))
    if validity == directory.Validity.valid.value:
        stmt = stmt.where(t.c.validity == "valid", or_(t.c.valid_to.is_(None), t.c.valid_to >= today))
    elif validity == directory.Validity.expired.value:
        stmt = stmt.where(or_(t.c.validity == "expired", and_(t.c.validity == "valid", t.c.valid_to < today)))
    elif validity:
        stmt = stmt.where(t.c.validity == validity)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(t.c.published_at.desc(), t.c.doc_id).limit(limit).offset(offset)).all()
    items = []
    for r in rows:
        effective = "expired" if r.validity == "valid" and r.valid_to and r.valid_to < today else r.validity
        items.append({"doc_id": r.doc_id, "region_code": r.region_code, "category_code": r.category_code,
                      "title": r.title, "issuing_body": r.issuing_body, "document_number": r.document_number,
                      "issue_date": r.issue_date, "publication_date": _local_date(r.published_at),
                      "effective_validity": effective,
                      "validity_label": directory.VALIDITY_LABELS[directory.Validity(effective)],
                      "revision": r.current_revision})
    return {"total": total, "items": items}


def _day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)


# ---- requests (依申请公开) --------------------------------------------------------------------------------

def _applicant_key(id_type: str, id_number: str) -> str:
    """The same applicant across requests (按件计收 counts per applicant): a hash, so the index holds no id."""
    return hashlib.sha256(f"{id_type}:{id_number.strip().upper()}".encode()).hexdigest()


def _next_request_no(session: Session, region_code: str, now: datetime) -> str:
    """Region + day + sequence, e.g. 320102-GK-20261125-0007. The counter row is incremented inside the
    registering transaction: SQLite writers queue (BEGIN IMMEDIATE), PostgreSQL locks the row on UPDATE,
    so two submissions never read the same value; the request number's primary key is the backstop."""
    scope = f"{region_code[:6]}-{_local_date(now):%Y%m%d}"
    seq = information_request_sequence
    for _ in range(3):
        bumped = session.execute(update(seq).where(seq.c.scope == scope).values(last_value=seq.c.last_value + 1))
        if bumped.rowcount:
            break
        try:
            with session.begin_nested():
                session.execute(insert(seq).values(scope=scope, last_value=1))
            break
        except IntegrityError:
            continue  # created concurrently: increment it instead
    value = session.execute(select(seq.c.last_value).where(seq.c.scope == scope)).scalar_one()
    return f"{region_code[:6]}-GK-{_local_date(now):%Y%m%d}-{value:04d}"


def _detail_json(r: requests.InformationRequest) -> dict[str, Any]:
    def instant(v: datetime | None) -> str | None:
        return v.astimezone(UTC).isoformat() if v else None

    s = r.supplement
    return {
        "supplement": None if s is None else {
            "issued_at": instant(s.issued_at), "what": s.what, "supply_within": s.supply_within.model_dump(mode="json"),
            "supply_due_at": instant(s.supply_due_at), "supplemented_at": instant(s.supplemented_at), "note": s.note},
        "consultations": [{"consultation_id": c.consultation_id, "party": c.party, "party_kind": c.party_kind.value,
                           "started_at": instant(c.started_at), "due_at": instant(c.due_at),
                           "ended_at": instant(c.ended_at), "outcome": c.outcome.value if c.outcome else None,
                           "answer": c.answer} for c in r.consultations],
        "extension": None if r.extension is None else {
            "working_days": r.extension.working_days, "reason": r.extension.reason,
            "approved_by": r.extension.approved_by, "at": instant(r.extension.at)},
        "reply": None if r.reply is None else {
            "reply_type": r.reply.reply_type.value, "answered_at": instant(r.reply.answered_at),
            "reasons": r.reply.reasons, "grounds": [g.value for g in r.reply.grounds], "where": r.reply.where,
            "competent_agency": r.reply.competent_agency, "fee_mode": r.reply.fee_mode,
            "fee_yuan": r.reply.fee_yuan, "fee_basis": r.reply.fee_basis, "late": r.reply.late},
        "withdrawn_at": instant(r.withdrawn_at),
        "withdrawal_kind": r.withdrawal_kind.value if r.withdrawal_kind else None,
        "withdrawal_reason": r.withdrawal_reason,
    }


def _request_from_row(row: Any) -> requests.InformationRequest:
    d = row.detail

    def instant(v: str | None) -> datetime | None:
        return datetime.fromisoformat(v) if v else None

    r = requests.InformationRequest(
        request_no=row.request_no, region_code=row.region_code, agency=row.agency,
        channel=requests.Channel(row.channel), received_at=row.received_at,
        applicant_kind=requests.ApplicantKind(row.applicant_kind), state=requests.RequestState(row.state))
    if d.get("supplement"):
        s = d["supplement"]
        r.supplement = requests.SupplementNotice(
            issued_at=instant(s["issued_at"]), what=s["what"],  # type: ignore[arg-type]
            supply_within=TimeLimit.model_validate(s["supply_within"]),
            supply_due_at=instant(s["supply_due_at"]), supplemented_at=instant(s["supplemented_at"]),  # type: ignore[arg-type]
            note=s.get("note", ""))
    for c in d.get("consultations", []):
        r.consultations.append(requests.Consultation(
            consultation_id=c["consultation_id"], party=c["party"], party_kind=requests.PartyKind(c["party_kind"]),
            started_at=instant(c["started_at"]), due_at=instant(c["due_at"]),  # type: ignore[arg-type]
            ended_at=instant(c["ended_at"]),
            outcome=requests.ConsultationOutcome(c["outcome"]) if c["outcome"] else None, answer=c["answer"]))
    if d.get("extension"):
        e = d["extension"]
        r.extension = requests.Extension(e["working_days"], e["reason"], e["approved_by"], instant(e["at"]))  # type: ignore[arg-type]
    if d.get("reply"):
        p = d["reply"]
        r.reply = requests.Reply(
            reply_type=requests.ReplyType(p["reply_type"]), answered_at=instant(p["answered_at"]),  # type: ignore[arg-type]
            reasons=p["reasons"], grounds=tuple(requests.Ground(g) for g in p["grounds"]), where=p["where"],
            competent_agency=p["competent_agency"], fee_mode=p["fee_mode"], fee_yuan=p["fee_yuan"],
            fee_basis=p["fee_basis"], late=p["late"])
    r.withdrawn_at = instant(d.get("withdrawn_at"))
    r.withdrawal_kind = requests.WithdrawalKind(d["withdrawal_kind"]) if d.get("withdrawal_kind") else None
    r.withdrawal_reason = d.get("withdrawal_reason", "")
    return r


def _receipt(r: requests.InformationRequest, calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    concluded = r.reply.answered_at if r.reply else r.withdrawn_at
    due = r.due(calendar, concluded or now)  # a concluded request's clock stopped when it ended
    return {
        "request_no": r.request_no, "state": r.state.value, "state_label": requests.STATE_LABELS[r.state],
        "channel": r.channel.value, "received_at": r.received_at, "receipt_date": _local_date(r.received_at),
        "clock_start_date": _local_date(r.clock_start),
        "reply_due_at": due.due_at, "reply_due_date": due.due_date, "provisional": due.provisional,
        "limit_working_days": due.limit_working_days, "used_working_days": round(due.used_working_days, 2),
        # Waiting for the applicant or a consulted party: no due instant until the clock runs again.
        "clock_paused": r.state in (requests.RequestState.awaiting_supplement, requests.RequestState.consulting),
    }


def submit_request(session: Session, outbox: Outbox, principal: Principal, body: schemas.RequestIn,
                   calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    """Anyone may submit online (Art. 27); other channels are registered at the window by an officer,
    with the evidence Art. 31 takes the date of receipt from."""
    officer = allows(principal, Action.information_request_handle)
    if officer:
        _in_scope_or_403(principal, body.region_code)
    elif body.channel is not requests.Channel.online or body.submitted_at or body.signed_for_at or body.confirmed_at:
        raise Problem(403, "channel-for-officers",
                      "网上申请以系统确认时间为收到申请之日；其他渠道由政府信息公开工作人员登记")
    try:
        received_at = requests.receipt_instant(body.channel, body.submitted_at or now, body.signed_for_at,
                                               body.confirmed_at)
        request_no = _next_request_no(session, body.region_code, now)
        request = requests.new_request(request_no, body.region_code, body.agency, body.channel, received_at,
                                       body.applicant.kind, now)
    except requests.RequestError as exc:
        raise _request_problem(exc) from exc
    access_code = secrets.token_urlsafe(9)
    received = request.received_at
    session.execute(insert(information_request).values(
        request_no=request_no, region_code=body.region_code, agency=body.agency, channel=body.channel.value,
        state=request.state.value, received_at=received, receipt_month=f"{_local_date(received):%Y-%m}",
        applicant_kind=body.applicant.kind.value,
        applicant_key=_applicant_key(body.applicant.id_type, body.applicant.id_number),
        applicant=body.applicant.model_dump(mode="json"), information_wanted=body.information_wanted,
        delivery_form=body.delivery_form, access_code_hash=hashlib.sha256(access_code.encode()).hexdigest(),
        detail=_detail_json(request), fee_yuan=0, created_at=now, created_by=principal.subject, updated_at=now))
    outbox.emit(session, RequestReceived(
        occurred_at=received, request_no=request_no, region_code=body.region_code, agency=body.agency,
        receipt_channel=body.channel.value,
        # The event is read by supervision staff: the description is cut, the applicant never included.
        information_wanted=body.information_wanted[:200]))
    return _receipt(request, calendar, now) | {
        "agency": body.agency, "access_code": access_code,
        "notice": "请妥善保存申请编号和查询码；撤回申请时须提供查询码。答复期限按工作日计算，"
                  "补正、征求意见的时间依法不计算在内（政府信息公开条例第三十条、第三十二条、第三十三条）。",
    }


def _load_request_row(session: Session, request_no: str) -> Any:
    return session.execute(select(information_request).where(information_request.c.request_no == request_no)
                           .with_for_update()).first()


def _officer_request(session: Session, principal: Principal,
                     request_no: str) -> tuple[Any, requests.InformationRequest]:
    row = _load_request_row(session, request_no)
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "request-not-found", f"申请 {request_no} 不存在")
    return row, _request_from_row(row)


def _save(session: Session, request: requests.InformationRequest, now: datetime, **values: Any) -> None:
    concluded = request.reply.answered_at if request.reply else request.withdrawn_at
    session.execute(update(information_request).where(information_request.c.request_no == request.request_no)
                    .values(state=request.state.value, detail=_detail_json(request), concluded_at=concluded,
                            updated_at=now, **values))


def _apply(session: Session, outbox: Outbox, principal: Principal, request_no: str, calendar: WorkingDayCalendar,
           now: datetime, act: Any) -> dict[str, Any]:
    """Loads the request (locked), runs the domain act, stores it and emits its events, in one transaction."""
    row, request = _officer_request(session, principal, request_no)
    try:
        events: list[EventPayload] = act(request, row)
    except requests.RequestError as exc:
        raise _request_problem(exc, request) from exc
    _save(session, request, now, fee_yuan=request.reply.fee_yuan if request.reply else 0)
    outbox.emit_many(session, events)
    return request_view(row, request, calendar, now)


def request_supplement(session: Session, outbox: Outbox, principal: Principal, request_no: str,
                       body: schemas.SupplementNoticeIn, calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    def act(r: requests.InformationRequest, _row: Any) -> list[EventPayload]:
        within = TimeLimit(value=body.supply_within.value, unit=body.supply_within.unit, note="补正期限")
        r.request_supplement(body.what, within, now, calendar)
        return [RequestSupplementRequested(occurred_at=now, request_no=r.request_no, what=body.what,
                                           supply_within=within, actor=_actor(principal))]

    return _apply(session, outbox, principal, request_no, calendar, now, act)


def supplemented(session: Session, outbox: Outbox, principal: Principal, request_no: str, body: schemas.SupplementIn,
                 calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    at = body.received_at or now
    if at > now + timedelta(minutes=5):
        raise Problem(422, "time-in-future", "补正收到的时间不能晚于当前时间")

    def act(r: requests.InformationRequest, _row: Any) -> list[EventPayload]:
        r.supplemented(at, body.note)
        return [RequestSupplemented(occurred_at=at, request_no=r.request_no)]

    return _apply(session, outbox, principal, request_no, calendar, now, act)


def lapse_supplement(session: Session, outbox: Outbox, principal: Principal, request_no: str,
                     calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    def act(r: requests.InformationRequest, _row: Any) -> list[EventPayload]:
        r.lapse_supplement(now)
        return [RequestWithdrawn(occurred_at=now, request_no=r.request_no, reason=r.withdrawal_reason)]

    return _apply(session, outbox, principal, request_no, calendar, now, act)


def start_consultation(session: Session, outbox: Outbox, principal: Principal, request_no: str,
                       body: schemas.ConsultationIn, calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    def act(r: requests.InformationRequest, _row: Any) -> list[EventPayload]:
        consultation_id = f"c{len(r.consultations) + 1}"
        c = r.start_consultation(consultation_id, body.party, body.party_kind, now, calendar)
        return [ConsultationStarted(occurred_at=now, request_no=r.request_no, consultation_id=c.consultation_id,
                                    party=c.party, party_kind=c.party_kind.value)]

    return _apply(session, outbox, principal, request_no, calendar, now, act)


def end_consultation(session: Session, outbox: Outbox, principal: Principal, request_no: str, consultation_id: str,
                     body: schemas.ConsultationEndIn, calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    def act(r: requests.InformationRequest, _row: Any) -> list[EventPayload]:
        c = r.end_consultation(consultation_id, body.outcome, body.answer, now)
        return [ConsultationEnded(occurred_at=now, request_no=r.request_no, consultation_id=c.consultation_id,
                                  answer=f"{c.outcome.value if c.outcome else ''}: {c.answer}"[:500])]

    return _apply(session, outbox, principal, request_no, calendar, now, act)


def extend(session: Session, outbox: Outbox, principal: Principal, request_no: str, body: schemas.ExtensionIn,
           calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    def act(r: requests.InformationRequest, _row: Any) -> list[EventPayload]:
        e = r.extend(body.working_days, body.reason, body.approved_by, now, calendar)
        return [RequestExtended(
            occurred_at=now, request_no=r.request_no, reason=e.reason,
            extension=TimeLimit(value=e.working_days, unit=LimitUnit.working_days, note="政府信息公开条例第三十三条"),
            approved_by=Actor(user_id=e.approved_by, name=e.approved_by, role="disclosure_office_head",
                              department=principal.department))]

    return _apply(session, outbox, principal, request_no, calendar, now, act)


def _nth_in_month(session: Session, row: Any) -> int:
    """The request's rank among its applicant's requests received in the same calendar month (按件计收)."""
    t = information_request
    return int(session.execute(select(func.count()).where(
        t.c.applicant_key == row.applicant_key, t.c.receipt_month == row.receipt_month,
        or_(t.c.received_at < row.received_at,
            and_(t.c.received_at == row.received_at, t.c.request_no <= row.request_no)))).scalar_one())


def answer(session: Session, outbox: Outbox, principal: Principal, request_no: str, body: schemas.ReplyIn,
           calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    def act(r: requests.InformationRequest, row: Any) -> list[EventPayload]:
        if body.fee_mode is not FeeMode.none and body.reply_type not in requests.PROVIDES_INFORMATION:
            raise requests.RequestError(422, "fee-without-information", "只有提供政府信息的答复才可能收取信息处理费")
        try:
            fee = price(body.fee_mode, _nth_in_month(session, row), body.pages)
        except FeeError as exc:
            raise requests.RequestError(422, "fee-invalid", str(exc)) from exc
        reply = requests.Reply(reply_type=body.reply_type, answered_at=now, reasons=body.reasons,
                               grounds=tuple(body.grounds), where=body.where, competent_agency=body.competent_agency,
                               fee_mode=fee.mode.value, fee_yuan=fee.amount_yuan, fee_basis=fee.basis)
        r.answer(reply, calendar)
        return [RequestAnswered(occurred_at=now, request_no=r.request_no, reply_type=body.reply_type.value,
                                actor=_actor(principal))]

    return _apply(session, outbox, principal, request_no, calendar, now, act)


def withdraw_request(session: Session, outbox: Outbox, principal: Principal, request_no: str,
                     body: schemas.WithdrawIn, calendar: WorkingDayCalendar, now: datetime) -> dict[str, Any]:
    """The applicant withdraws: with the receipt's access code from anywhere, or through an officer who
    records the applicant's written withdrawal."""
    if body.access_code is None:
        # An officer records the applicant's written withdrawal; the public route lets anyone reach this.
        authorize(principal, Action.information_request_handle)
        row, request = _officer_request(session, principal, request_no)
    else:
        row = _load_request_row(session, request_no)
        given = hashlib.sha256(body.access_code.encode()).hexdigest()
        if row is None or not hmac.compare_digest(given, row.access_code_hash):
            # The same answer for an unknown number and a wrong code: numbers must not be probed.
            raise Problem(403, "access-code-invalid", "申请编号或查询码不正确")
        request = _request_from_row(row)
    open_consultations = [c for c in request.consultations if c.ended_at is None]
    try:
        request.withdraw(body.reason, now)
    except requests.RequestError as exc:
        raise _request_problem(exc, request) from exc
    _save(session, request, now)
    events: list[EventPayload] = [ConsultationEnded(occurred_at=now, request_no=request_no,
                                                    consultation_id=c.consultation_id, answer="申请已撤回")
                                  for c in open_consultations]
    events.append(RequestWithdrawn(occurred_at=now, request_no=request_no, reason=request.withdrawal_reason))
    outbox.emit_many(session, events)
    view = request_view(row, request, calendar, now)
    if not allows(principal, Action.information_request_read):
        return {k: view[k] for k in ("request_no", "state", "state_label", "withdrawn_at")}
    return view


def request_view(row: Any, request: requests.InformationRequest, calendar: WorkingDayCalendar,
                 now: datetime) -> dict[str, Any]:
    detail = _detail_json(request)
    return _receipt(request, calendar, now) | {
        "region_code": row.region_code, "agency": row.agency, "applicant": row.applicant,
        "applicant_kind": row.applicant_kind, "information_wanted": row.information_wanted,
        "delivery_form": row.delivery_form, "allowed_actions": request.allowed_actions(),
        "supplement": detail["supplement"], "consultations": detail["consultations"],
        "extension": detail["extension"], "reply": detail["reply"],
        "reply_label": requests.REPLY_LABELS[request.reply.reply_type] if request.reply else None,
        "fee_label": FEE_MODE_LABELS[FeeMode(request.reply.fee_mode)] if request.reply else None,
        "withdrawn_at": request.withdrawn_at, "withdrawal_kind": detail["withdrawal_kind"],
        "withdrawal_reason": request.withdrawal_reason,
    }


def get_request(session: Session, principal: Principal, request_no: str, calendar: WorkingDayCalendar,
                now: datetime) -> dict[str, Any]:
    row = session.execute(select(information_request)
                          .where(information_request.c.request_no == request_no)).first()
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "request-not-found", f"申请 {request_no} 不存在")
    return request_view(row, _request_from_row(row), calendar, now)


def list_requests(session: Session, principal: Principal, state: str | None, limit: int,
                  calendar: WorkingDayCalendar, now: datetime) -> list[dict[str, Any]]:
    t = information_request
    stmt = select(t).where(t.c.region_code.startswith(principal.region_scope(), autoescape=True))
    if state:
        stmt = stmt.where(t.c.state == state)
    rows = session.execute(stmt.order_by(t.c.received_at.desc()).limit(limit)).all()
    out = []
    for row in rows:
        r = _request_from_row(row)
        out.append(_receipt(r, calendar, now) | {"agency": row.agency, "region_code": row.region_code})
    return out


# ---- annual report (年度报告) -----------------------------------------------------------------------------

def annual(session: Session, year: int, region_code: str, agency: str, calendar: WorkingDayCalendar,
           ) -> dict[str, Any]:
    """Facts of one body for one year: its requests, its documents in the directory, and the cases completed
    through the platform in its region (licensing, punishment, coercion decisions)."""
    year_end = date(year, 12, 31)
    last_instant = _day_start(year_end + timedelta(days=1))
    t = information_request
    rows = session.execute(select(t).where(t.c.region_code == region_code, t.c.agency == agency,
                                           t.c.received_at < last_instant)).all()
    request_facts = []
    for row in rows:
        r = _request_from_row(row)
        request_facts.append(annual_report.RequestFacts(
            applicant_kind=row.applicant_kind, received_on=_local_date(row.received_at),
            concluded_on=_local_date(row.concluded_at) if row.concluded_at else None,
            reply_type=r.reply.reply_type.value if r.reply else None,
            grounds=tuple(g.value for g in r.reply.grounds) if r.reply else (),
            withdrawal_kind=r.withdrawal_kind.value if r.withdrawal_kind else None,
            fee_yuan=row.fee_yuan or 0))
    d = information_document
    doc_rows = session.execute(select(d.c.doc_id, d.c.status, d.c.published_at).where(
        d.c.region_code == region_code, d.c.issuing_body == agency, d.c.published_at < last_instant)).all()
    document_facts = []
    for doc in doc_rows:
        revisions = session.execute(select(information_document_revision).where(
            information_document_revision.c.doc_id == doc.doc_id,
            information_document_revision.c.created_at < last_instant)
            .order_by(information_document_revision.c.revision)).all()
        if not revisions:
            continue
        contents = [(_content_from_json(r.content), r.created_at) for r in revisions]
        in_force = contents[-1][0]
        repealed_on = next((_local_date(at) for c, at in contents if c.validity is directory.Validity.repealed), None)
        document_facts.append(annual_report.DocumentFacts(
            kind=in_force.kind.value, issue_date=in_force.issue_date, published_on=_local_date(doc.published_at),
            validity_at_year_end=directory.effective_validity(in_force, year_end).value, repealed_on=repealed_on,
            withdrawn=doc.status == directory.PublicationStatus.withdrawn.value))
    case_facts = _case_facts(session, region_code, year)
    return annual_report.build_report(year, region_code, agency, document_facts, request_facts, case_facts)


def _case_facts(session: Session, region_code: str, year: int) -> list[annual_report.CaseFacts]:
    c = case_summary
    rows = session.execute(select(c.c.item_code, c.c.completed_at).where(
        c.c.region_code.startswith(region_prefix(region_code), autoescape=True), c.c.completed_at.is_not(None),
        c.c.completed_at >= _day_start(date(year, 1, 1)), c.c.completed_at < _day_start(date(year + 1, 1, 1)),
        c.c.status == "completed")).all()
    types: dict[str, str] = {}
    codes = {r.item_code for r in rows if r.item_code}
    if codes:
        for item in session.execute(select(item_version.c.item_code, item_version.c.definition)
                                    .where(item_version.c.item_code.in_(codes))).all():
            types[item.item_code] = str(item.definition.get("item_type", ""))
    return [annual_report.CaseFacts(types.get(r.item_code or "", ""), _local_date(r.completed_at)) for r in rows]
