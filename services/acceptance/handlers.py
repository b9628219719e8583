"""Acceptance's service layer: one verb per command or event, each one unit of work."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.acceptance.adapters.file_tables import material_file_name
from services.acceptance.adapters.tables import (
    case_fee,
    case_progress,
    case_record,
    case_withdrawal,
    catalogue_item,
)
from services.acceptance.domain.documents import CHANNEL_NAMES
from services.acceptance.domain.model import (
    Shortfall,
    SubmittedMaterial,
    case_number,
    missing_materials,
    unknown_materials,
)
from services.acceptance.domain.outcomes import (
    DOCUMENT_TITLES,
    INSTANT_CASE_TYPE,
    Correction,
    Deferral,
    Outcome,
    OutcomeRefused,
    Refusal,
    check_fee,
    check_imported_times,
    check_supplement,
    decide,
    document_number,
    outcome_texts,
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
    FeeCharged,
    MissingMaterial,
    ReceivedMaterial,
    StepCompleted,
    StepStarted,
    SupplementRequested,
    SupplementSupplied,
)
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired, MaterialSpec
from services.common.contracts.envelope import Envelope
from services.common.contracts.payloads import Actor, Applicant, EventPayload
from services.common.messaging import Outbox
from services.common.principal import Principal, Role, region_prefix
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
        case SupplementSupplied(stage="deferred"):
            return None  # 容缺 materials brought: the case stays where approval has it
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
class Absence:
    """AB岗: the absent clerk the acting clerk stands in for (checked against the configured pairs)."""

    user_id: str
    name: str = ""


@dataclass(frozen=True)
class SubmitApplication:
    item_code: str
    region_code: str
    channel: Channel
    applicant: Applicant
    materials: list[SubmittedMaterial]
    agent: dict[str, Any] | None = None  # 代办人 (AgentIn, checked)
    refusal: Refusal | None = None  # 不予受理, the clerk's judgement
    corrections: list[Correction] = field(default_factory=list)  # 当场更正
    deferral: Deferral | None = None  # 容缺
    deputy_for: Absence | None = None  # AB岗
    received_at: datetime | None = None  # imported cases only: the source's times
    accepted_at: datetime | None = None


@dataclass(frozen=True)
class SubmissionResult:
    outcome: Outcome
    case_no: str
    document_no: str
    record: dict[str, Any]


# The submission's statements, built once with their parameters named: SQLAlchemy then finds each compiled
# statement in its cache by a constant key instead of walking a new statement with a literal per column
# (a third of a submission's CPU before, measured with cProfile; docs/benchmarks.md). The upsert is text:
# the dialects' on_conflict_do_update constructs are not cacheable, and this SQL is the same on SQLite
# (3.35+) and PostgreSQL.
_BUMP_SEQUENCE = text(
    "INSERT INTO case_sequence (region_code, day, last) VALUES (:scope, :day, 1) "
    "ON CONFLICT (region_code, day) DO UPDATE SET last = case_sequence.last + 1 RETURNING last"
)
_SELECT_ITEM = select(catalogue_item).where(catalogue_item.c.item_code == bindparam("item_code"))
_INSERT_CASE = insert(case_record)
_INSERT_PROGRESS = insert(case_progress)
# The consumer's two statements for every case event (the SET columns come from the parameters).
_SELECT_PROGRESS = select(case_progress).where(case_progress.c.case_no == bindparam("case_no"))
_UPDATE_PROGRESS = update(case_progress).where(case_progress.c.case_no == bindparam("target_case_no"))


def _next_case_no(session: Session, region_code: str, day: str) -> str:
    """Unique under concurrency: one upsert bumps the sequence inside the case's own transaction, so two
    first cases of a day cannot both insert the row (PostgreSQL) and the row lock orders the rest."""
    scope = region_prefix(region_code).ljust(6, "0")[:12]
    seq = session.execute(_BUMP_SEQUENCE, {"scope": scope, "day": day}).scalar_one()
    return case_number(scope, day, int(seq))


def acting_clerk(principal: Principal, deputy_for: Absence | None,
                 deputies: dict[str, str]) -> tuple[Actor, dict[str, Any] | None]:
    """The clerk who acts, and for AB岗 the absent clerk: only the configured deputy may stand in."""
    on_behalf_of = None
    absent = None
    if deputy_for is not None:
        if deputies.get(deputy_for.user_id) != principal.subject:
            raise Problem(403, "not-a-deputy", f"您不是 {deputy_for.name or deputy_for.user_id} 的AB岗代理人",
                          deputy_for=deputy_for.user_id)
        absent = {"user_id": deputy_for.user_id, "name": deputy_for.name}
        on_behalf_of = f"{deputy_for.name}（{deputy_for.user_id}）" if deputy_for.name else deputy_for.user_id
    actor = Actor(user_id=principal.subject, name=principal.name, role=principal.role.value,
                  department=principal.department, on_behalf_of=on_behalf_of)
    return actor, absent


def _check_files(session: Session, principal: Principal, materials: list[SubmittedMaterial]) -> None:
    """Each referenced scan must be stored and uploaded within the clerk's region (else as if absent)."""
    hashes = sorted({h for m in materials for h in m.files})
    if not hashes:
        return
    rows = session.execute(
        select(material_file_name.c.sha256, material_file_name.c.region_code)
        .where(material_file_name.c.sha256.in_(hashes))
    ).all()
    visible = {r.sha256 for r in rows if principal.can_see_region(r.region_code)}
    unknown = [h for h in hashes if h not in visible]
    if unknown:
        raise Problem(422, "unknown-files", f"以下材料文件不存在或不在您的辖区内：{'、'.join(unknown)}",
                      unknown_files=unknown)


def _received(specs: dict[str, MaterialSpec], materials: list[SubmittedMaterial]) -> list[ReceivedMaterial]:
    # The contract carries one sha256 per material: the first scan; the record keeps them all ("files").
    return [ReceivedMaterial(code=m.code, name=specs[m.code].name, originals=m.originals, copies=m.copies,
                             sha256=m.files[0] if m.files else None) for m in materials]


def _materials_json(specs: dict[str, MaterialSpec], materials: list[SubmittedMaterial]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") | {"files": list(m.files)}
            for r, m in zip(_received(specs, materials), materials, strict=True)]


def _shortfalls_json(shortfalls: list[Shortfall]) -> list[dict[str, str]]:
    return [{"code": s.code, "name": s.name, "reason": s.reason} for s in shortfalls]


def _pinned_item(session: Session, item_code: str) -> ItemVersionPublished:
    row = session.execute(_SELECT_ITEM, {"item_code": item_code}).first()
    if row is None or row.status != "published":
        raise Problem(404, "item-not-found", f"事项 {item_code} 不存在或未发布")
    return ItemVersionPublished.model_validate(row.definition)


def _times(principal: Principal, command: SubmitApplication, now: datetime) -> tuple[datetime, datetime | None]:
    """(received_at, source accepted_at): the platform's own times, checked; everyone else's is now."""
    if principal.role is not Role.platform:
        if command.received_at is not None or command.accepted_at is not None:
            raise Problem(422, "times-not-allowed", "只有省级平台推送的办件可以带收件、受理时间")
        return now, None
    if command.received_at is None:
        raise Problem(422, "imported-times-required", "省级平台推送的办件须带收件时间 received_at")
    reason = check_imported_times(command.received_at, command.accepted_at, now)
    if reason:
        raise Problem(422, "imported-times-invalid", f"推送办件的时间不可信：{reason}",
                      received_at=command.received_at.isoformat(),
                      accepted_at=command.accepted_at.isoformat() if command.accepted_at else None)
    return command.received_at, command.accepted_at


def _check_channel(principal: Principal, command: SubmitApplication) -> None:
    provincial = command.channel is Channel.provincial
    if provincial != (principal.role is Role.platform):
        raise Problem(422, "channel-invalid", "省级平台推送的办件须用 provincial 渠道，窗口不能使用该渠道",
                      channel=command.channel.value)
    if command.channel is Channel.village_agent and command.agent is None:
        raise Problem(422, "agent-required", "村（社区）代办须登记代办人身份", channel=command.channel.value)


@dataclass(frozen=True)
class CheckedApplication:
    """What every way in (decided at once, or received for later) checks before anything is written."""

    item: ItemVersionPublished
    received_at: datetime
    source_accepted_at: datetime | None  # the provincial platform's own acceptance time
    clerk: Actor
    absent: dict[str, Any] | None
    imported: bool


def check_application(session: Session, principal: Principal, command: SubmitApplication, now: datetime,
                      deputies: dict[str, str] | None) -> CheckedApplication:
    if not principal.can_see_region(command.region_code):
        raise Problem(404, "item-not-found", "您的辖区内没有该事项")
    item = _pinned_item(session, command.item_code)
    if not command.region_code.startswith(region_prefix(item.region_code)):
        raise Problem(422, "item-not-offered-here", f"事项 {item.name} 不在区划 {command.region_code} 办理",
                      item_region_code=item.region_code)
    unknown = unknown_materials(item.materials, command.materials)
    if unknown:
        raise Problem(422, "unknown-materials", f"以下材料不在该事项的材料清单中：{'、'.join(unknown)}",
                      unknown_materials=unknown)
    _check_channel(principal, command)
    received_at, source_accepted_at = _times(principal, command, now)
    clerk, absent = acting_clerk(principal, command.deputy_for, deputies or {})
    _check_files(session, principal, command.materials)
    return CheckedApplication(item, received_at, source_accepted_at, clerk, absent, principal.role is Role.platform)


def new_case_no(session: Session, region_code: str, now: datetime) -> str:
    # The sequence restarts each local (Asia/Shanghai) day; stored as YYYYMMDD, as in the number itself.
    return _next_case_no(session, region_code, now.astimezone(SHANGHAI).strftime("%Y%m%d"))


def base_record(command: SubmitApplication, checked: CheckedApplication, case_no: str, outcome: Outcome,
                document_no: str) -> dict[str, Any]:
    """The case record's columns known at receipt, before any decision."""
    item = checked.item
    specs = {m.code: m for m in item.materials}
    return dict(
        case_no=case_no, item_code=item.item_code, item_version=item.version, region_code=command.region_code,
        channel=command.channel.value, applicant=command.applicant.model_dump(mode="json"),
        materials=_materials_json(specs, command.materials), missing=[],
        received_at=checked.received_at, clerk=checked.clerk.model_dump(mode="json"), outcome=outcome.value,
        document_no=document_no, item_definition=item.model_dump(mode="json"), agent=command.agent,
        acting_for=checked.absent, imported=checked.imported,
    )


def submit_application(
    session: Session, outbox: Outbox, calendar: WorkingDayCalendar, principal: Principal,
    command: SubmitApplication, now: datetime | None = None, deputies: dict[str, str] | None = None,
) -> SubmissionResult:
    """One of the outcomes of Art. 32 (domain.outcomes.decide), stored with its document and its events."""
    now = now or datetime.now(UTC)
    checked = check_application(session, principal, command, now, deputies)
    item, received_at, source_accepted_at = checked.item, checked.received_at, checked.source_accepted_at
    clerk, imported = checked.clerk, checked.imported
    try:
        decision = decide(item.materials, command.materials, item.case_type, now.astimezone(SHANGHAI).date(),
                          command.refusal, command.corrections, command.deferral)
    except OutcomeRefused as exc:
        raise Problem(422, exc.code, exc.detail, **exc.extra) from exc
    if imported and source_accepted_at is not None and not decision.accepts:
        raise Problem(422, "imported-inconsistent", "推送办件带有受理时间，但材料不齐全或为不予受理",
                      outcome=decision.outcome.value)

    case_no = new_case_no(session, command.region_code, now)
    specs = {m.code: m for m in item.materials}
    received = _received(specs, command.materials)
    document_no = document_number(decision.outcome, case_no)
    record = base_record(command, checked, case_no, decision.outcome, document_no)
    record.update(
        missing=_shortfalls_json(decision.missing),
        refusal=asdict(command.refusal) if command.refusal else None,
        corrections=[asdict(c) for c in command.corrections] or None,
        deferred_materials=_shortfalls_json(decision.deferred) or None,
        deferred_due_date=command.deferral.due_date.isoformat() if decision.deferred and command.deferral else None,
    )
    received_event = CaseReceived(
        occurred_at=received_at, case_no=case_no, item_code=item.item_code, item_version=item.version,
        region_code=command.region_code, channel=command.channel, applicant=command.applicant, imported=imported,
    )
    if decision.outcome is Outcome.rejected:
        assert command.refusal is not None
        record.update(status=ProgressStatus.rejected.value)
        record["outcome_document"] = outcome_document(record, item, now, command.deferral)
        session.execute(_INSERT_CASE, record)
        _progress_born(session, case_no, command.region_code, command.applicant.id_number,
                       ProgressStatus.rejected, None, now)
        outbox.emit(session, received_event)
        outbox.emit(session, CaseRejected(
            occurred_at=now, case_no=case_no, reason=command.refusal.reason,
            legal_basis=command.refusal.legal_basis, competent_agency=command.refusal.competent_agency,
            actor=clerk,
        ))
        return SubmissionResult(decision.outcome, case_no, document_no, record)
    if decision.outcome is Outcome.supplement_requested:
        record.update(status=Outcome.supplement_requested.value)
        record["outcome_document"] = outcome_document(record, item, now, command.deferral)
        session.execute(_INSERT_CASE, record)
        _progress_born(session, case_no, command.region_code, command.applicant.id_number,
                       ProgressStatus.supplement_requested, None, now)
        outbox.emit(session, received_event)
        outbox.emit(session, SupplementRequested(
            occurred_at=now, case_no=case_no, stage="acceptance", notice_no=document_no, actor=clerk,
            missing=[MissingMaterial(code=s.code, name=s.name, reason=s.reason) for s in decision.missing],
        ))
        return SubmissionResult(decision.outcome, case_no, document_no, record)

    accepted_at = source_accepted_at or now
    accept(session, outbox, calendar, item, record, received, decision.outcome, received_at, accepted_at,
            clerk, command.applicant, imported, command.deferral)
    session.execute(_INSERT_CASE, record)
    status = ProgressStatus.completed if decision.outcome is Outcome.completed else ProgressStatus.accepted
    _progress_born(session, case_no, command.region_code, command.applicant.id_number, status,
                   record["promised_due_date"], accepted_at)
    return SubmissionResult(decision.outcome, case_no, document_no, record)


def accept(session: Session, outbox: Outbox, calendar: WorkingDayCalendar, item: ItemVersionPublished,
            record: dict[str, Any], received: list[ReceivedMaterial], outcome: Outcome, received_at: datetime,
            accepted_at: datetime, clerk: Actor, applicant: Applicant, imported: bool,
            deferral: Deferral | None = None, deemed: bool = False) -> None:
    """受理 in every form (plain, corrected, 容缺, 即办): the record's acceptance fields, CaseAccepted and, for
    即办件, CaseCompleted at once. The caller writes the record."""
    promised = deadline(accepted_at, item.promised_limit, calendar)
    record.update(status=ProgressStatus.accepted.value, accepted_at=accepted_at,
                  promised_due_date=promised.due_date_local.isoformat(), promised_provisional=promised.provisional)
    if outcome is Outcome.completed:
        record.update(status=ProgressStatus.completed.value, completed_at=accepted_at)
    record["outcome_document"] = outcome_document(record, item, accepted_at, deferral)
    record.pop("promised_provisional")
    deferred = record.get("deferred_materials") or []
    outbox.emit(session, CaseAccepted(
        occurred_at=accepted_at, case_no=record["case_no"], item_code=item.item_code, item_version=item.version,
        item_name=item.name, item_type=item.item_type, department=item.department,
        region_code=record["region_code"], channel=Channel(record["channel"]), applicant=applicant,
        materials=received, legal_limit=item.legal_limit, promised_limit=item.promised_limit, joint=item.joint,
        case_type=item.case_type, received_at=received_at, promised_due_date=record["promised_due_date"],
        clerk=clerk, receipt_no=record["document_no"], process=item.process, publish_results=item.publish_results,
        fee_charged=item.fee_charged, deferred_materials=[d["name"] for d in deferred],
        deferred_due_date=record.get("deferred_due_date"), imported=imported, deemed=deemed,
        process_bpmn=item.process_bpmn,
    ))
    if outcome is Outcome.completed:
        outbox.emit(session, CaseCompleted(
            occurred_at=accepted_at, case_no=record["case_no"], item_code=item.item_code,
            item_version=item.version, item_name=item.name, region_code=record["region_code"], result="done",
            result_summary="即办件，窗口当场办结", publish_result=False,
        ))


def superseded(row: Any) -> list[dict[str, Any]]:
    """`issued_documents` once the row's current document is replaced by the next outcome's: the earlier
    ones stay printable as issued (documents/model.earlier_views)."""
    earlier = list(row.issued_documents or [])
    return [*earlier, row.outcome_document] if row.outcome_document else earlier


def outcome_document(record: dict[str, Any], item: ItemVersionPublished, issued_at: datetime,
                     deferral: Deferral | None) -> dict[str, Any]:
    """What the printable document of the outcome needs (shape in the README, "Outcome documents")."""
    outcome = Outcome(record["outcome"])
    texts = outcome_texts(outcome, item.name, record)
    return {
        "document_no": record["document_no"], "kind": outcome.value, "title": DOCUMENT_TITLES[outcome],
        "issued_at": issued_at.isoformat(), "case_no": record["case_no"],
        "item": {"code": item.item_code, "version": item.version, "name": item.name,
                 "department": item.department, "case_type": item.case_type},
        "region_code": record["region_code"], "channel": record["channel"],
        "channel_name": CHANNEL_NAMES[Channel(record["channel"])], "imported": record.get("imported", False),
        "applicant": record["applicant"], "agent": record.get("agent"), "clerk": record["clerk"],
        "acting_for": record.get("acting_for"), "received_at": _iso(record.get("received_at")),
        "accepted_at": _iso(record.get("accepted_at")), "completed_at": _iso(record.get("completed_at")),
        "promised_due_date": record.get("promised_due_date"),
        "promised_provisional": record.get("promised_provisional", False),
        "materials": record["materials"], "missing": record["missing"],
        "refusal": record.get("refusal"), "corrections": record.get("corrections") or [],
        "deferred": None if not record.get("deferred_materials") else {
            "materials": record["deferred_materials"], "due_date": record.get("deferred_due_date"),
            "promise_ref": deferral.promise_ref if deferral else "",
        },
        "texts": texts,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def get_case(session: Session, principal: Principal, case_no: str) -> dict[str, Any]:
    row = session.execute(select(case_record).where(case_record.c.case_no == case_no)).first()
    # Another region's case answers 404, never 403 with details.
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "case-not-found", f"办件 {case_no} 不存在")
    return dict(row._mapping)


# ---- 补正 and 收费 -----------------------------------------------------------------------------------

# What may be done to a case in each state, named in every 409 (the status is the case record's).
CASE_ACTIONS = {
    "received": ["withdraw"],
    "supplement_requested": ["supplement", "withdraw"],
    "accepted": ["fees", "withdraw"],  # and "supplement" while 容缺 materials are outstanding
    "in_review": ["fees", "withdraw"],
    "suspended": ["withdraw"],
    "decided": ["fees"],
    "completed": ["fees"],
    "withdrawn": [],
    "rejected": [],
}


def _case_for_update(session: Session, principal: Principal, case_no: str) -> Any:
    row = session.execute(
        select(case_record).where(case_record.c.case_no == case_no).with_for_update()
    ).first()
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "case-not-found", f"办件 {case_no} 不存在")
    return row


def _state_conflict(row: Any, action: str, progress_status: str | None = None) -> Problem:
    state = progress_status or row.status
    return Problem(409, "case-state-conflict", f"办件当前状态为「{_state_name(state)}」，不能{action}",
                   state=state, allowed_actions=CASE_ACTIONS.get(state, []))


def _state_name(state: str) -> str:
    try:
        return PROGRESS_NAMES[ProgressStatus(state)]
    except ValueError:
        return state


def _current_status(session: Session, row: Any) -> str:
    """The progress model knows of withdrawal and approval's moves; the record only acceptance's own."""
    progress = session.execute(select(case_progress.c.status).where(case_progress.c.case_no == row.case_no)).first()
    return progress.status if progress is not None else str(row.status)


def _owner_check(row: Any, principal: Principal, deputy_for: Absence | None) -> None:
    """首问负责: the first clerk keeps the case; another clerk acts only as their AB岗 deputy."""
    first = row.clerk.get("user_id")
    if principal.subject == first:
        return
    if deputy_for is None or deputy_for.user_id != first:
        raise Problem(403, "not-case-owner", f"该办件由首问负责人 {row.clerk.get('name') or first} 办理；"
                      "代为办理须注明 deputy_for（AB岗）", first_clerk=first)


@dataclass(frozen=True)
class SupplyMaterials:
    case_no: str
    materials: list[SubmittedMaterial]
    deputy_for: Absence | None = None


def supply_materials(
    session: Session, outbox: Outbox, calendar: WorkingDayCalendar, principal: Principal,
    command: SupplyMaterials, now: datetime | None = None, deputies: dict[str, str] | None = None,
) -> SubmissionResult:
    """补正: only what the notice listed; once everything listed is there the case is accepted, counted as
    received on the day of the supplement (Art. 32)."""
    now = now or datetime.now(UTC)
    row = _case_for_update(session, principal, command.case_no)
    status = _current_status(session, row)
    deferred_pending = bool(row.deferred_materials) and row.supplied_at is None and status in _DEFERRED_OPEN
    if status != ProgressStatus.supplement_requested.value and not deferred_pending:
        raise _state_conflict(row, "补正", status)
    _owner_check(row, principal, command.deputy_for)
    clerk, absent = acting_clerk(principal, command.deputy_for, deputies or {})
    # The list as issued (the document), not what remains after a partial supplement: bringing one more copy
    # of something the notice listed is still within it.
    issued = (row.outcome_document or {}).get("missing") or row.missing
    listed = [m["code"] for m in (row.deferred_materials if deferred_pending else issued)]
    outside = check_supplement(listed, [m.code for m in command.materials])
    if outside:
        # 一次性告知 enforced: a second notice with materials the first did not list cannot happen.
        raise Problem(422, "supplement-not-listed",
                      f"以下材料不在{'容缺受理' if deferred_pending else '一次性告知书'} {row.document_no} 中，"
                      f"不能要求补正：{'、'.join(outside)}", not_listed=outside, notice_no=row.document_no)
    if deferred_pending:
        return _supply_deferred(session, outbox, principal, row, command, clerk, now)
    if row.item_definition is None:
        raise Problem(409, "case-state-conflict", "该办件早于补正功能受理，请重新申请", state=status,
                      allowed_actions=CASE_ACTIONS.get(status, []))
    _check_files(session, principal, command.materials)
    item = ItemVersionPublished.model_validate(row.item_definition)
    specs = {m.code: m for m in item.materials}
    merged = {m["code"]: SubmittedMaterial(m["code"], m["originals"], m["copies"], tuple(m.get("files", [])))
              for m in row.materials}
    for m in command.materials:  # what is brought adds to what was there
        before = merged.get(m.code, SubmittedMaterial(m.code, 0, 0))
        merged[m.code] = SubmittedMaterial(m.code, before.originals + m.originals, before.copies + m.copies,
                                           before.files + m.files)
    materials = [merged[s.code] for s in item.materials if s.code in merged]
    shortfalls = missing_materials(item.materials, materials)
    record: dict[str, Any] = {c: getattr(row, c) for c in row._fields}
    record.update(materials=_materials_json(specs, materials), missing=_shortfalls_json(shortfalls))
    outbox.emit(session, SupplementSupplied(
        occurred_at=now, case_no=row.case_no, stage="acceptance", actor=clerk,
        materials=_received(specs, [m for m in materials if m.code in {b.code for b in command.materials}]),
    ))
    if shortfalls:  # brought part of it: still waiting for the rest of the same notice, no new notice
        session.execute(update(case_record).where(case_record.c.case_no == row.case_no)
                        .values(materials=record["materials"], missing=record["missing"]))
        return SubmissionResult(Outcome.supplement_requested, row.case_no, row.document_no, record)

    outcome = Outcome.completed if item.case_type == INSTANT_CASE_TYPE else Outcome.accepted
    # The receipt names who accepted (perhaps a deputy, with the absent clerk); the record's clerk stays the
    # first clerk (首问负责), the case's owner.
    record.update(outcome=outcome.value, document_no=document_number(outcome, row.case_no), supplied_at=now,
                  clerk=clerk.model_dump(mode="json"), acting_for=absent, issued_documents=superseded(row))
    applicant = Applicant.model_validate(row.applicant)
    accept(session, outbox, calendar, item, record, _received(specs, materials), outcome, now, now, clerk,
            applicant, bool(row.imported))
    record.update(clerk=row.clerk, acting_for=row.acting_for)
    values = {k: record[k] for k in ("materials", "missing", "status", "outcome", "document_no", "accepted_at",
                                     "promised_due_date", "supplied_at", "completed_at", "outcome_document",
                                     "issued_documents")
              if k in record}
    session.execute(update(case_record).where(case_record.c.case_no == row.case_no).values(**values))
    target = ProgressStatus.completed if outcome is Outcome.completed else ProgressStatus.accepted
    session.execute(update(case_progress).where(case_progress.c.case_no == row.case_no).values(
        status=target.value, promised_due_date=record["promised_due_date"], updated_at=now))
    return SubmissionResult(outcome, row.case_no, record["document_no"], record)


# 容缺 materials may be brought while the accepted case is with approval, until it is decided.
_DEFERRED_OPEN = frozenset({ProgressStatus.accepted.value, ProgressStatus.in_review.value,
                            ProgressStatus.suspended.value})


def _supply_deferred(session: Session, outbox: Outbox, principal: Principal, row: Any, command: SupplyMaterials,
                     clerk: Actor, now: datetime) -> SubmissionResult:
    """容缺 materials brought after acceptance: once all promised materials are there, SupplementSupplied
    (stage "deferred") ends the promise's clock (monitoring); until then they are only recorded."""
    _check_files(session, principal, command.materials)
    item = ItemVersionPublished.model_validate(row.item_definition)
    specs = {m.code: m for m in item.materials}
    merged = {m["code"]: SubmittedMaterial(m["code"], m["originals"], m["copies"], tuple(m.get("files", [])))
              for m in row.materials}
    for m in command.materials:
        before = merged.get(m.code, SubmittedMaterial(m.code, 0, 0))
        merged[m.code] = SubmittedMaterial(m.code, before.originals + m.originals, before.copies + m.copies,
                                           before.files + m.files)
    materials = [merged[s.code] for s in item.materials if s.code in merged]
    promised = {d["code"] for d in row.deferred_materials}
    still_short = [s for s in missing_materials(item.materials, materials) if s.code in promised]
    record: dict[str, Any] = {c: getattr(row, c) for c in row._fields}
    record["materials"] = _materials_json(specs, materials)
    values: dict[str, Any] = {"materials": record["materials"]}
    if not still_short:
        record["supplied_at"] = values["supplied_at"] = now
        outbox.emit(session, SupplementSupplied(
            occurred_at=now, case_no=row.case_no, stage="deferred", actor=clerk,
            materials=_received(specs, [m for m in materials if m.code in promised]),
        ))
    session.execute(update(case_record).where(case_record.c.case_no == row.case_no).values(**values))
    return SubmissionResult(Outcome(row.outcome), row.case_no, row.document_no, record)


@dataclass(frozen=True)
class ChargeFee:
    case_no: str
    amount_fen: int
    receipt_no: str  # 票据号
    deputy_for: Absence | None = None


def charge_fee(session: Session, outbox: Outbox, principal: Principal, command: ChargeFee,
               now: datetime | None = None, deputies: dict[str, str] | None = None) -> dict[str, Any]:
    """收费 from the pinned item's published standard, once per case, with its receipt (票据) number."""
    now = now or datetime.now(UTC)
    row = _case_for_update(session, principal, command.case_no)
    status = _current_status(session, row)
    if status not in (ProgressStatus.accepted.value, ProgressStatus.in_review.value,
                      ProgressStatus.completed.value, ProgressStatus.decided.value):
        raise _state_conflict(row, "收费", status)
    _owner_check(row, principal, command.deputy_for)
    clerk, absent = acting_clerk(principal, command.deputy_for, deputies or {})
    if row.item_definition is None:
        raise Problem(409, "case-state-conflict", "该办件没有固定的事项版本，不能收费", state=status,
                      allowed_actions=[])
    item = ItemVersionPublished.model_validate(row.item_definition)
    standard = item.elements.fee
    reason = check_fee(item.fee_charged and standard is not None,
                       standard.amount_fen if standard else None, command.amount_fen)
    if reason:
        raise Problem(422, "fee-not-allowed", reason, amount_fen=command.amount_fen,
                      standard_fen=standard.amount_fen if standard else None)
    assert standard is not None
    if session.execute(select(case_fee.c.case_no).where(case_fee.c.case_no == row.case_no)).first():
        raise Problem(409, "fee-already-charged", f"办件 {row.case_no} 已收费", state=status,
                      allowed_actions=[a for a in CASE_ACTIONS.get(status, []) if a != "fees"])
    if session.execute(select(case_fee.c.case_no).where(case_fee.c.receipt_no == command.receipt_no)).first():
        raise Problem(409, "receipt-no-used", f"票据号 {command.receipt_no} 已使用", receipt_no=command.receipt_no)
    fee_item = f"{item.name}（{standard.basis}：{standard.standard}）"
    fee = dict(case_no=row.case_no, receipt_no=command.receipt_no, amount_fen=command.amount_fen,
               fee_item=fee_item, clerk=clerk.model_dump(mode="json"), acting_for=absent, charged_at=now)
    try:
        # A savepoint: two clerks using one receipt number at once (PostgreSQL) get the 409, not a 500.
        with session.begin_nested():
            session.execute(insert(case_fee).values(**fee))
    except IntegrityError as exc:
        raise Problem(409, "receipt-no-used", f"票据号 {command.receipt_no} 已使用",
                      receipt_no=command.receipt_no) from exc
    outbox.emit(session, FeeCharged(occurred_at=now, case_no=row.case_no, amount_fen=command.amount_fen,
                                    fee_item=fee_item, receipt_no=command.receipt_no, actor=clerk))
    return fee


# ---- 办件进度: the read model and the public query -------------------------------------------------

def _progress_born(session: Session, case_no: str, region_code: str, id_number: str, status: ProgressStatus,
                   promised_due_date: str | None, at: datetime) -> None:
    """Written with the case itself, so the applicant can query at once rather than after the round trip."""
    session.execute(_INSERT_PROGRESS, dict(
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
    row = session.execute(_SELECT_PROGRESS, {"case_no": case_no}).first()
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
    session.execute(_UPDATE_PROGRESS, {"target_case_no": case_no, **values})


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
    # At the acceptance stage the record is acceptance's alone: it says withdrawn too, so the 5-day sweep
    # (intake.py) does not find the case again. Later, approval's events keep the progress model current.
    session.execute(
        update(case_record).where(case_record.c.case_no == command.case_no,
                                  case_record.c.status.in_(("received", "supplement_requested")))
        .values(status=ProgressStatus.withdrawn.value)
    )
    # The contract has no field for the written request: its number travels in the reason.
    outbox.emit(session, CaseWithdrawn(
        occurred_at=now, case_no=command.case_no, reason=f"{command.reason}（撤回申请书 {command.request_ref}）",
        actor=clerk,
    ))
    return {"case_no": command.case_no, "status": ProgressStatus.withdrawn.value,
            "status_name": PROGRESS_NAMES[ProgressStatus.withdrawn], "request_ref": command.request_ref,
            "reason": command.reason, "withdrawn_at": now}
