"""Applications received but not yet decided (收件待审), and what the law does when nobody decides.

Online applications and materials left at a centre are received first (收件: CaseReceived, a 收件凭证) and
examined later by a window clerk (审查受理), who reaches one of the outcomes of Art. 32 exactly as at the
window. The decision is due within 5 working days of receipt (domain/intake.py). When the period runs out,
the case is accepted by law from the day of receipt (视为受理): the sweep below does it on time even if
nobody touches the case, and an examination that comes too late does it too, answering 409 (the route).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.acceptance.adapters.tables import case_progress, case_record
from services.acceptance.domain.intake import DEEMED_ACTOR, decision_due, is_overdue
from services.acceptance.domain.model import SubmittedMaterial
from services.acceptance.domain.outcomes import (
    Correction,
    Deferral,
    Outcome,
    OutcomeRefused,
    Refusal,
    decide,
    document_number,
)
from services.acceptance.handlers import (
    Absence,
    ProgressStatus,
    SubmissionResult,
    SubmitApplication,
    _case_for_update,
    _current_status,
    _owner_check,
    _progress_born,
    _received,
    _shortfalls_json,
    _state_conflict,
    accept,
    acting_clerk,
    base_record,
    check_application,
    new_case_no,
    outcome_document,
    superseded,
)
from services.common.contracts.case import CaseReceived, CaseRejected, MissingMaterial, SupplementRequested
from services.common.contracts.catalogue import ItemVersionPublished
from services.common.contracts.payloads import Applicant
from services.common.messaging import Outbox
from services.common.principal import Principal, Role
from services.common.problems import Problem
from services.common.workdays import SHANGHAI, WorkingDayCalendar

log = logging.getLogger(__name__)


def receive_application(
    session: Session, outbox: Outbox, calendar: WorkingDayCalendar, principal: Principal,
    command: SubmitApplication, now: datetime | None = None, deputies: dict[str, str] | None = None,
) -> SubmissionResult:
    """收件: the same checks as a decision at the window, then only CaseReceived and the 收件凭证."""
    now = now or datetime.now(UTC)
    checked = check_application(session, principal, command, now, deputies)
    case_no = new_case_no(session, command.region_code, now)
    document_no = document_number(Outcome.received, case_no)
    due = decision_due(checked.received_at, calendar)
    record = base_record(command, checked, case_no, Outcome.received, document_no)
    record.update(status=ProgressStatus.received.value, decision_due_at=due.due_at)
    texts = record | {"decision_due_date": due.due_date_local.isoformat()}
    record["outcome_document"] = outcome_document(texts, checked.item, checked.received_at, None)
    session.execute(case_record.insert(), record)
    _progress_born(session, case_no, command.region_code, command.applicant.id_number, ProgressStatus.received,
                   None, checked.received_at)
    outbox.emit(session, CaseReceived(
        occurred_at=checked.received_at, case_no=case_no, item_code=checked.item.item_code,
        item_version=checked.item.version, region_code=command.region_code, channel=command.channel,
        applicant=command.applicant, imported=checked.imported,
    ))
    return SubmissionResult(Outcome.received, case_no, document_no, record)


@dataclass(frozen=True)
class ExamineApplication:
    """审查受理 of a received case: the clerk's judgement, as at the window (the materials are those received)."""

    case_no: str
    refusal: Refusal | None = None
    corrections: list[Correction] | None = None
    deferral: Deferral | None = None
    deputy_for: Absence | None = None


@dataclass(frozen=True)
class Examined:
    result: SubmissionResult
    deemed: bool  # too late: the law had accepted the case; the clerk's judgement was not applied


def _materials(row: Any) -> list[SubmittedMaterial]:
    return [SubmittedMaterial(m["code"], m["originals"], m["copies"], tuple(m.get("files", [])))
            for m in row.materials]


def _record(row: Any) -> dict[str, Any]:
    """The row as a record whose current document is about to be replaced: the received one is kept."""
    return {c: getattr(row, c) for c in row._fields} | {"issued_documents": superseded(row)}


def _write(session: Session, record: dict[str, Any], columns: tuple[str, ...], progress: ProgressStatus,
           now: datetime) -> None:
    session.execute(update(case_record).where(case_record.c.case_no == record["case_no"])
                    .values(**{k: record[k] for k in columns if k in record}))
    session.execute(update(case_progress).where(case_progress.c.case_no == record["case_no"]).values(
        status=progress.value, promised_due_date=record.get("promised_due_date"), updated_at=now))


_ACCEPTED_COLUMNS = ("status", "outcome", "document_no", "accepted_at", "promised_due_date", "completed_at",
                     "outcome_document", "clerk", "acting_for", "corrections", "deferred_materials",
                     "deferred_due_date", "deemed_accepted", "missing", "issued_documents")


def examine_application(
    session: Session, outbox: Outbox, calendar: WorkingDayCalendar, principal: Principal,
    command: ExamineApplication, now: datetime | None = None, deputies: dict[str, str] | None = None,
) -> Examined:
    now = now or datetime.now(UTC)
    row = _case_for_update(session, principal, command.case_no)
    status = _current_status(session, row)
    if status != ProgressStatus.received.value:
        raise _state_conflict(row, "审查受理", status)
    # 首问负责: a case a clerk received stays theirs (or their AB岗 deputy's); one received online has no
    # clerk yet, and the clerk who examines it becomes its first clerk.
    online = row.clerk.get("role") == Role.platform.value
    if not online:
        _owner_check(row, principal, command.deputy_for)
    clerk, absent = acting_clerk(principal, command.deputy_for, deputies or {})
    if row.decision_due_at is None or is_overdue(row.decision_due_at, now):
        return Examined(deem_accepted(session, outbox, calendar, row, now), deemed=True)

    item = ItemVersionPublished.model_validate(row.item_definition)
    try:
        decision = decide(item.materials, _materials(row), item.case_type, now.astimezone(SHANGHAI).date(),
                          command.refusal, command.corrections or [], command.deferral)
    except OutcomeRefused as exc:
        raise Problem(422, exc.code, exc.detail, **exc.extra) from exc
    record = _record(row)
    document_no = document_number(decision.outcome, row.case_no)
    record.update(outcome=decision.outcome.value, document_no=document_no, missing=_shortfalls_json(decision.missing),
                  clerk=clerk.model_dump(mode="json") if online else row.clerk,
                  acting_for=absent if online else row.acting_for)

    def as_issued(values: dict[str, Any]) -> dict[str, Any]:
        # The document names who decided (perhaps a deputy, with the absent clerk); the record keeps the owner.
        return values | {"clerk": clerk.model_dump(mode="json"), "acting_for": absent}

    if decision.outcome is Outcome.rejected:
        assert command.refusal is not None
        record.update(status=ProgressStatus.rejected.value, refusal=asdict(command.refusal))
        record["outcome_document"] = outcome_document(as_issued(record), item, now, None)
        _write(session, record, ("status", "outcome", "document_no", "refusal", "outcome_document", "clerk",
                                 "acting_for", "issued_documents"), ProgressStatus.rejected, now)
        outbox.emit(session, CaseRejected(
            occurred_at=now, case_no=row.case_no, reason=command.refusal.reason,
            legal_basis=command.refusal.legal_basis, competent_agency=command.refusal.competent_agency, actor=clerk,
        ))
        return Examined(SubmissionResult(decision.outcome, row.case_no, document_no, record), deemed=False)
    if decision.outcome is Outcome.supplement_requested:
        record.update(status=ProgressStatus.supplement_requested.value)
        record["outcome_document"] = outcome_document(as_issued(record), item, now, None)
        _write(session, record, ("status", "outcome", "document_no", "missing", "outcome_document", "clerk",
                                 "acting_for", "issued_documents"), ProgressStatus.supplement_requested, now)
        outbox.emit(session, SupplementRequested(
            occurred_at=now, case_no=row.case_no, stage="acceptance", notice_no=document_no, actor=clerk,
            missing=[MissingMaterial(code=s.code, name=s.name, reason=s.reason) for s in decision.missing],
        ))
        return Examined(SubmissionResult(decision.outcome, row.case_no, document_no, record), deemed=False)

    record.update(
        corrections=[asdict(c) for c in command.corrections or []] or None,
        deferred_materials=_shortfalls_json(decision.deferred) or None,
        deferred_due_date=command.deferral.due_date.isoformat() if decision.deferred and command.deferral else None,
    )
    issued = as_issued(record)
    specs = {m.code: m for m in item.materials}
    # Counted from now, not from receipt: the decision was made in time, so acceptance is the clerk's.
    accept(session, outbox, calendar, item, issued, _received(specs, _materials(row)), decision.outcome,
           row.received_at, now, clerk, Applicant.model_validate(row.applicant), bool(row.imported),
           command.deferral)
    record.update({k: v for k, v in issued.items() if k not in ("clerk", "acting_for")})
    progress = ProgressStatus.completed if decision.outcome is Outcome.completed else ProgressStatus.accepted
    _write(session, record, _ACCEPTED_COLUMNS, progress, now)
    return Examined(SubmissionResult(decision.outcome, row.case_no, document_no, record), deemed=False)


def deem_accepted(session: Session, outbox: Outbox, calendar: WorkingDayCalendar, row: Any,
                  now: datetime) -> SubmissionResult:
    """视为受理 (Art. 32(4)): accepted from the day of receipt, on the materials as received, by nobody."""
    item = ItemVersionPublished.model_validate(row.item_definition)
    record = _record(row)
    document_no = document_number(Outcome.accepted, row.case_no)
    record.update(outcome=Outcome.accepted.value, document_no=document_no, deemed_accepted=True, missing=[])
    specs = {m.code: m for m in item.materials}
    issued = record | {"clerk": DEEMED_ACTOR.model_dump(mode="json"), "acting_for": None}
    accept(session, outbox, calendar, item, issued, _received(specs, _materials(row)), Outcome.accepted,
           row.received_at, row.received_at, DEEMED_ACTOR, Applicant.model_validate(row.applicant),
           bool(row.imported), None, deemed=True)
    record.update({k: v for k, v in issued.items() if k not in ("clerk", "acting_for")})
    _write(session, record, _ACCEPTED_COLUMNS, ProgressStatus.accepted, now)
    log.warning("case %s deemed accepted from its receipt on %s: no decision within 5 working days",
                row.case_no, row.received_at.isoformat())
    return SubmissionResult(Outcome.accepted, row.case_no, document_no, record)


def overdue_case_nos(session: Session, now: datetime, limit: int = 100) -> list[str]:
    return list(session.execute(
        select(case_record.c.case_no)
        .where(case_record.c.status == ProgressStatus.received.value, case_record.c.decision_due_at <= now)
        .order_by(case_record.c.decision_due_at).limit(limit)
    ).scalars())


def deem_if_still_received(session: Session, outbox: Outbox, calendar: WorkingDayCalendar, case_no: str,
                           now: datetime) -> SubmissionResult | None:
    """One case of the sweep, in its own transaction; None when a clerk or a withdrawal got there first."""
    row = session.execute(select(case_record).where(case_record.c.case_no == case_no).with_for_update()).first()
    if row is None or row.status != ProgressStatus.received.value or row.decision_due_at is None:
        return None
    if _current_status(session, row) != ProgressStatus.received.value or not is_overdue(row.decision_due_at, now):
        return None
    return deem_accepted(session, outbox, calendar, row, now)


def sweep_overdue(session_factory: Any, outbox: Outbox, calendar: WorkingDayCalendar,
                  now: datetime | None = None) -> list[str]:
    """Every received case whose 5 working days have run out, accepted by law; returns their numbers."""
    now = now or datetime.now(UTC)
    deemed: list[str] = []
    while True:
        with session_factory() as session:
            due = overdue_case_nos(session, now)
        if not due:
            return deemed
        for case_no in due:
            with session_factory.begin() as session:
                if deem_if_still_received(session, outbox, calendar, case_no, now) is not None:
                    deemed.append(case_no)
        if len(due) < 100:
            return deemed
