"""Acceptance's service layer: one verb per command or event, each one unit of work."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.acceptance.adapters.tables import (
    case_progress,
    case_record,
    case_sequence,
    case_withdrawal,
    catalogue_item,
)
from services.acceptance.domain.model import (
    Outcome,
    SubmittedMaterial,
    case_number,
    missing_materials,
    unknown_materials,
)
from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseDecided,
    CaseReceived,
    CaseRejected,
    CaseResumed,
    CaseSuspended,
    CaseWithdrawn,
    Channel,
    MissingMaterial,
    ReceivedMaterial,
    StepCompleted,
    StepStarted,
    SupplementRequested,
    SupplementSupplied,
)
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired
from services.common.contracts.envelope import Envelope
from services.common.contracts.payloads import Actor, Applicant, EventPayload
from services.common.messaging import Outbox
from services.common.principal import Principal, region_prefix
from services.common.problems import Problem
from services.common.workdays import SHANGHAI, WorkingDayCalendar, deadline

# ---- progress rules (办件进度): plain functions, no I/O ---------------------------------------------

class ProgressStatus(StrEnum):
    received = "received"  # 已收件
    supplement_requested = "supplement_requested"  # 补正中
    accepted = "accepted"  # 已受理
    in_review = "in_review"  # 审查中
    suspended = "suspended"  # 特别程序中（暂停计时）
    decided = "decided"  # 已决定
    completed = "completed"  # 已办结
    withdrawn = "withdrawn"  # 已撤回
    rejected = "rejected"  # 不予受理


PROGRESS_NAMES = {
    ProgressStatus.received: "已收件",
    ProgressStatus.supplement_requested: "补正中",
    ProgressStatus.accepted: "已受理",
    ProgressStatus.in_review: "审查中",
    ProgressStatus.suspended: "特别程序中",
    ProgressStatus.decided: "已决定",
    ProgressStatus.completed: "已办结",
    ProgressStatus.withdrawn: "已撤回",
    ProgressStatus.rejected: "不予受理",
}
# 撤回 is possible until approval decides (行政许可法: the applicant may withdraw before the decision).
WITHDRAWABLE = frozenset({ProgressStatus.received, ProgressStatus.supplement_requested, ProgressStatus.accepted,
                          ProgressStatus.in_review, ProgressStatus.suspended})
# Rows are born only from events that name the applicant (the digest needs the id number).
_BIRTH = frozenset({ProgressStatus.received, ProgressStatus.supplement_requested, ProgressStatus.accepted})


def allowed_actions(status: ProgressStatus) -> list[str]:
    return ["withdraw"] if status in WITHDRAWABLE else []


def progress_moves(current: ProgressStatus | None, target: ProgressStatus) -> bool:
    """Whether an event leading to `target` changes a case now at `current` (events of one case arrive in
    topic order, keyed by case number).

    Approval is the authority on decisions. Acceptance marks a case withdrawn at once, but approval may have
    decided before the withdrawal reached it; it then refuses the withdrawal and its CaseDecided follows on
    the topic: a decision therefore overrides a withdrawal, never the reverse. Acceptance's own CaseAccepted
    comes back after its local write and may trail approval's first step: it only moves a case still at
    the acceptance stage."""
    if current is None:
        return target in _BIRTH
    if current in (ProgressStatus.completed, ProgressStatus.rejected):
        return False
    if current is ProgressStatus.decided:
        return target is ProgressStatus.completed
    if current is ProgressStatus.withdrawn:
        return target in (ProgressStatus.decided, ProgressStatus.completed)
    if target is ProgressStatus.received:
        return False  # only ever the first event of a case: coming back, it must not undo the notice after it
    if target is ProgressStatus.accepted:
        return current in (ProgressStatus.received, ProgressStatus.supplement_requested)
    return True


def progress_target(event: EventPayload) -> ProgressStatus | None:
    """The status a case-topic event leads to; None for events that do not change the public progress."""
    match event:
        case CaseReceived():
            return ProgressStatus.received
        case CaseAccepted():
            return ProgressStatus.accepted
        case SupplementRequested():
            return ProgressStatus.supplement_requested
        case SupplementSupplied(stage="acceptance"):
            return None  # the CaseAccepted that follows moves the case
        case StepStarted() | StepCompleted() | CaseResumed() | SupplementSupplied():
            return ProgressStatus.in_review
        case CaseSuspended():
            return ProgressStatus.suspended
        case CaseDecided():
            return ProgressStatus.decided
        case CaseCompleted():
            return ProgressStatus.completed
        case CaseWithdrawn():
            return ProgressStatus.withdrawn
        case CaseRejected():
            return ProgressStatus.rejected
    return None


def id_suffix_digest(case_no: str, id_suffix: str) -> str:
    """What the query compares: the id number's last 6 characters (X in either case), salted with the case
    number so equal suffixes of two cases do not look alike. The full id number is never stored here."""
    return hashlib.sha256(f"{case_no}:{id_suffix[-6:].upper()}".encode()).hexdigest()


# ---- events from the catalogue topic -------------------------------------------------------------

def item_published(session: Session, envelope: Envelope, event: ItemVersionPublished) -> None:
    """Keeps the newest published version; an older version arriving late is ignored."""
    row = session.execute(
        select(catalogue_item.c.version).where(catalogue_item.c.item_code == event.item_code)
    ).first()
    values = dict(
        version=event.version, status="published", region_code=event.region_code, name=event.name,
        definition=event.model_dump(mode="json"), updated_at=envelope.recorded_at,
    )
    if row is None:
        session.execute(insert(catalogue_item).values(item_code=event.item_code, **values))
    elif row.version <= event.version:
        session.execute(update(catalogue_item).where(catalogue_item.c.item_code == event.item_code).values(**values))


def item_retired(session: Session, envelope: Envelope, event: ItemVersionRetired) -> None:
    session.execute(
        update(catalogue_item)
        .where(catalogue_item.c.item_code == event.item_code, catalogue_item.c.version == event.version)
        .values(status="retired", updated_at=envelope.recorded_at)
    )


# ---- commands --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubmitApplication:
    item_code: str
    region_code: str
    channel: Channel
    applicant: Applicant
    materials: list[SubmittedMaterial]


@dataclass(frozen=True)
class SubmissionResult:
    outcome: Outcome
    case_no: str
    document_no: str
    record: dict[str, Any]


def _next_case_no(session: Session, region_code: str, day: str) -> str:
    """Unique under concurrency: one upsert bumps the sequence inside the case's own transaction, so two
    first cases of a day cannot both insert the row (PostgreSQL) and the row lock orders the rest."""
    scope = region_prefix(region_code).ljust(6, "0")[:12]
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(case_sequence).values(region_code=scope, day=day, last=1)
    seq = session.execute(
        statement.on_conflict_do_update(
            index_elements=[case_sequence.c.region_code, case_sequence.c.day],
            set_={"last": case_sequence.c.last + 1},
        ).returning(case_sequence.c.last)
    ).scalar_one()
    return case_number(scope, day, int(seq))


def submit_application(
    session: Session, outbox: Outbox, calendar: WorkingDayCalendar, principal: Principal,
    command: SubmitApplication, now: datetime | None = None,
) -> SubmissionResult:
    """Accepts complete materials with a receipt (受理凭证), else lists everything missing (一次性告知)."""
    now = now or datetime.now(UTC)
    if not principal.can_see_region(command.region_code):
        raise Problem(404, "item-not-found", "您的辖区内没有该事项")
    row = session.execute(select(catalogue_item).where(catalogue_item.c.item_code == command.item_code)).first()
    if row is None or row.status != "published":
        raise Problem(404, "item-not-found", f"事项 {command.item_code} 不存在或未发布")
    item = ItemVersionPublished.model_validate(row.definition)
    if not command.region_code.startswith(region_prefix(item.region_code)):
        raise Problem(422, "item-not-offered-here", f"事项 {item.name} 不在区划 {command.region_code} 办理",
                      item_region_code=item.region_code)
    unknown = unknown_materials(item.materials, command.materials)
    if unknown:
        raise Problem(422, "unknown-materials", f"以下材料不在该事项的材料清单中：{'、'.join(unknown)}",
                      unknown_materials=unknown)

    # The sequence restarts each local (Asia/Shanghai) day; stored as YYYYMMDD, as in the number itself.
    case_no = _next_case_no(session, command.region_code, now.astimezone(SHANGHAI).strftime("%Y%m%d"))
    clerk = Actor(user_id=principal.subject, name=principal.name, role=principal.role.value,
                  department=principal.department)
    specs = {m.code: m for m in item.materials}
    received = [
        ReceivedMaterial(code=m.code, name=specs[m.code].name, originals=m.originals, copies=m.copies)
        for m in command.materials
    ]
    shortfalls = missing_materials(item.materials, command.materials)
    record: dict[str, Any] = dict(
        case_no=case_no, item_code=item.item_code, item_version=item.version, region_code=command.region_code,
        channel=command.channel.value, applicant=command.applicant.model_dump(mode="json"),
        materials=[m.model_dump(mode="json") for m in received],
        missing=[{"code": s.code, "name": s.name, "reason": s.reason} for s in shortfalls],
        received_at=now, clerk=clerk.model_dump(mode="json"),
    )
    if shortfalls:
        document_no = f"BZ{case_no}"  # 补正告知书
        record.update(status=Outcome.supplement_requested.value, document_no=document_no)
        session.execute(insert(case_record).values(**record))
        _progress_born(session, case_no, command.region_code, command.applicant.id_number,
                       ProgressStatus.supplement_requested, None, now)
        outbox.emit(session, CaseReceived(
            occurred_at=now, case_no=case_no, item_code=item.item_code, item_version=item.version,
            region_code=command.region_code, channel=command.channel, applicant=command.applicant,
        ))
        outbox.emit(session, SupplementRequested(
            occurred_at=now, case_no=case_no, stage="acceptance", notice_no=document_no, actor=clerk,
            missing=[MissingMaterial(code=s.code, name=s.name, reason=s.reason) for s in shortfalls],
        ))
        return SubmissionResult(Outcome.supplement_requested, case_no, document_no, record)

    promised = deadline(now, item.promised_limit, calendar)
    document_no = f"SL{case_no}"  # 受理凭证
    record.update(status=Outcome.accepted.value, document_no=document_no, accepted_at=now,
                  promised_due_date=promised.due_date_local.isoformat())
    session.execute(insert(case_record).values(**record))
    _progress_born(session, case_no, command.region_code, command.applicant.id_number, ProgressStatus.accepted,
                   record["promised_due_date"], now)
    outbox.emit(session, CaseAccepted(
        occurred_at=now, case_no=case_no, item_code=item.item_code, item_version=item.version,
        item_name=item.name, item_type=item.item_type, department=item.department,
        region_code=command.region_code, channel=command.channel, applicant=command.applicant,
        materials=received, legal_limit=item.legal_limit, promised_limit=item.promised_limit, joint=item.joint,
        case_type=item.case_type, received_at=now, promised_due_date=record["promised_due_date"], clerk=clerk,
        receipt_no=document_no, process=item.process, publish_results=item.publish_results,
        fee_charged=item.fee_charged,
    ))
    record["item_name"] = item.name
    record["promised_provisional"] = promised.provisional
    return SubmissionResult(Outcome.accepted, case_no, document_no, record)


def get_case(session: Session, principal: Principal, case_no: str) -> dict[str, Any]:
    row = session.execute(select(case_record).where(case_record.c.case_no == case_no)).first()
    # Another region's case answers 404, never 403 with details.
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "case-not-found", f"办件 {case_no} 不存在")
    return dict(row._mapping)


# ---- 办件进度: the read model and the public query -------------------------------------------------

def _progress_born(session: Session, case_no: str, region_code: str, id_number: str, status: ProgressStatus,
                   promised_due_date: str | None, at: datetime) -> None:
    """Written with the case itself, so the applicant can query at once rather than after the round trip."""
    session.execute(insert(case_progress).values(
        case_no=case_no, region_code=region_code, id_suffix_digest=id_suffix_digest(case_no, id_number),
        status=status.value, step_name=None, promised_due_date=promised_due_date, updated_at=at,
    ))


def case_event(session: Session, envelope: Envelope, event: EventPayload) -> None:
    """One case-topic event into the progress read model. Redelivery is dropped by the inbox; an event that
    repeats what is already there (acceptance's own, coming back) changes nothing."""
    target = progress_target(event)
    case_no = getattr(event, "case_no", None)
    if target is None or case_no is None:
        return
    row = session.execute(select(case_progress).where(case_progress.c.case_no == case_no)).first()
    current = ProgressStatus(row.status) if row is not None else None
    if not progress_moves(current, target):
        return
    occurred_at = getattr(event, "occurred_at", None) or envelope.recorded_at
    if row is None:
        applicant = getattr(event, "applicant", None)
        region_code = getattr(event, "region_code", None)
        if applicant is None or region_code is None:
            return
        _progress_born(session, case_no, region_code, applicant.id_number, target,
                       getattr(event, "promised_due_date", None), occurred_at)
        return
    values: dict[str, Any] = dict(status=target.value, updated_at=max(row.updated_at, occurred_at))
    if isinstance(event, StepStarted):
        values["step_name"] = event.step_name
    elif target in (ProgressStatus.decided, ProgressStatus.completed, ProgressStatus.withdrawn,
                    ProgressStatus.rejected):
        values["step_name"] = None  # no step runs any more
    if isinstance(event, CaseAccepted):
        values["promised_due_date"] = event.promised_due_date
    session.execute(update(case_progress).where(case_progress.c.case_no == case_no).values(**values))


def query_progress(session: Session, case_no: str, id_suffix: str) -> dict[str, Any] | None:
    """None for an unknown case and for a wrong suffix alike: the caller cannot tell which (no oracle)."""
    row = session.execute(select(case_progress).where(case_progress.c.case_no == case_no)).first()
    expected = row.id_suffix_digest if row is not None else "0" * 64
    if not hmac.compare_digest(expected, id_suffix_digest(case_no, id_suffix)) or row is None:
        return None
    status = ProgressStatus(row.status)
    return {
        "case_no": row.case_no, "status": status.value, "status_name": PROGRESS_NAMES[status],
        "step_name": row.step_name, "promised_due_date": row.promised_due_date, "last_changed_at": row.updated_at,
    }


# ---- 撤回申请 ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WithdrawApplication:
    case_no: str
    request_ref: str  # the applicant's written request (撤回申请书)
    reason: str


def withdraw_application(
    session: Session, outbox: Outbox, principal: Principal, command: WithdrawApplication,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A window clerk records the applicant's withdrawal before a decision; CaseWithdrawn goes out."""
    now = now or datetime.now(UTC)
    case = session.execute(select(case_record).where(case_record.c.case_no == command.case_no)).first()
    if case is None or not principal.can_see_region(case.region_code):
        raise Problem(404, "case-not-found", f"办件 {command.case_no} 不存在")
    # FOR UPDATE on PostgreSQL orders two withdrawals of one case; SQLite's writer lock already does.
    progress = session.execute(
        select(case_progress).where(case_progress.c.case_no == command.case_no).with_for_update()
    ).first()
    status = ProgressStatus(progress.status) if progress is not None else ProgressStatus(case.status)
    if status not in WITHDRAWABLE:
        raise Problem(409, "case-not-withdrawable",
                      f"办件当前状态为「{PROGRESS_NAMES[status]}」，已不能撤回", state=status.value,
                      allowed_actions=allowed_actions(status))
    clerk = Actor(user_id=principal.subject, name=principal.name, role=principal.role.value,
                  department=principal.department)
    session.execute(insert(case_withdrawal).values(
        case_no=command.case_no, request_ref=command.request_ref, reason=command.reason,
        clerk=clerk.model_dump(mode="json"), withdrawn_at=now,
    ))
    session.execute(
        update(case_progress).where(case_progress.c.case_no == command.case_no)
        .values(status=ProgressStatus.withdrawn.value, step_name=None, updated_at=now)
    )
    # The contract has no field for the written request: its number travels in the reason.
    outbox.emit(session, CaseWithdrawn(
        occurred_at=now, case_no=command.case_no, reason=f"{command.reason}（撤回申请书 {command.request_ref}）",
        actor=clerk,
    ))
    return {"case_no": command.case_no, "status": ProgressStatus.withdrawn.value,
            "status_name": PROGRESS_NAMES[ProgressStatus.withdrawn], "request_ref": command.request_ref,
            "reason": command.reason, "withdrawn_at": now}
