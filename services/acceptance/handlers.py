"""Acceptance's service layer: one verb per command or event, each one unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.acceptance.adapters.tables import case_record, case_sequence, catalogue_item
from services.acceptance.domain.model import (
    Outcome,
    SubmittedMaterial,
    case_number,
    missing_materials,
    unknown_materials,
)
from services.common.contracts.case import (
    CaseAccepted,
    CaseReceived,
    Channel,
    MissingMaterial,
    ReceivedMaterial,
    SupplementRequested,
)
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired
from services.common.contracts.envelope import Envelope
from services.common.contracts.payloads import Actor, Applicant
from services.common.messaging import Outbox
from services.common.principal import Principal, region_prefix
from services.common.problems import Problem
from services.common.workdays import SHANGHAI, WorkingDayCalendar, deadline

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
