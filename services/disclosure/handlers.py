"""Disclosure's service layer: one verb per command, query or event, each run in the caller's unit of work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.contracts.case import CaseAccepted, CaseCompleted, CaseDecided, CaseWithdrawn
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired
from services.common.contracts.envelope import Envelope
from services.common.messaging import Outbox
from services.common.principal import Principal, region_prefix
from services.common.problems import Problem
from services.disclosure.adapters import search_index
from services.disclosure.adapters.tables import case_summary, item_version, public_result
from services.disclosure.domain.bpmn import render_bpmn
from services.disclosure.domain.catalogue import (
    CatalogueError,
    CatalogueItem,
    Editor,
    InvalidDefinition,
    ItemDefinition,
    ItemVersion,
    VersionStatus,
    validate_definition,
)
from services.disclosure.domain.diff import diff_definitions
from services.disclosure.domain.masking import MaskedApplicant, mask_applicant
from services.disclosure.domain.results import SummaryStatus, result_label, should_publish


def _problem(error: CatalogueError) -> Problem:
    if isinstance(error, InvalidDefinition):
        return Problem(422, error.slug, error.message,
                       errors=[{"field": i.field, "message": i.message} for i in error.issues])
    return Problem(409, error.slug, error.message)


# ---- catalogue (实施清单) -----------------------------------------------------------------------------

def _version_from_row(row: Any) -> ItemVersion:
    return ItemVersion(
        item_code=row.item_code, version=row.version,
        definition=ItemDefinition.model_validate(row.definition), status=VersionStatus(row.status),
        created_at=row.created_at, published_at=row.published_at,
        retired_at=row.retired_at, retire_reason=row.retire_reason or "",
        changed_by=Editor(row.created_by, row.created_by_name or "") if row.created_by else None,
        change_reason=row.change_reason or "",
    )


def _editor_out(v: ItemVersion, show_account: bool) -> dict[str, str] | None:
    """The name of who changed a public catalogue is public record; the account id behind it is only for the
    item's own administrators (it is a login, and of no use to anyone else)."""
    if v.changed_by is None:
        return None
    return {"subject": v.changed_by.subject if show_account else "", "name": v.changed_by.name}


def _version_meta(v: ItemVersion, show_account: bool = False) -> dict[str, Any]:
    return {
        "version": v.version, "status": v.status.value, "created_at": v.created_at,
        "published_at": v.published_at, "retired_at": v.retired_at,
        "changed_by": _editor_out(v, show_account), "change_reason": v.change_reason,
    }


def _version_out(v: ItemVersion, show_account: bool = False) -> dict[str, Any]:
    return {
        **v.definition.model_dump(mode="json"), **_version_meta(v, show_account), "retire_reason": v.retire_reason,
    }


def _administers(principal: Principal, region_code: str, can_see_drafts: bool) -> bool:
    """A catalogue administrator of the item's region: sees its drafts and its editors' accounts."""
    return can_see_drafts and principal.can_see_region(region_code)


def _load_item(session: Session, item_code: str) -> CatalogueItem:
    rows = session.execute(
        select(item_version).where(item_version.c.item_code == item_code).order_by(item_version.c.version)
    ).all()
    return CatalogueItem(item_code, [_version_from_row(r) for r in rows])


def _load_visible_item(session: Session, principal: Principal, item_code: str) -> CatalogueItem:
    """An item the administrator may manage; another region's item answers 404, never 403."""
    item = _load_item(session, item_code)
    newest = item.newest()
    if newest is None or not principal.can_see_region(newest.definition.region_code):
        raise Problem(404, "item-not-found", f"事项 {item_code} 不存在")
    return item


def _save_status(session: Session, v: ItemVersion) -> None:
    """Only lifecycle columns change after creation: a version's definition is never rewritten."""
    session.execute(
        update(item_version)
        .where(item_version.c.item_code == v.item_code, item_version.c.version == v.version)
        .values(status=v.status.value, published_at=v.published_at, retired_at=v.retired_at,
                retire_reason=v.retire_reason)
    )


def create_item(session: Session, principal: Principal, definition: ItemDefinition,
                now: datetime | None = None, change_reason: str = "") -> dict[str, Any]:
    """A new draft version of an item, in the administrator's own region, recording who wrote it and why."""
    now = now or datetime.now(UTC)
    issues = validate_definition(definition)
    if issues:
        # Before the scope check, so a malformed region code is named as such rather than "not yours".
        raise _problem(InvalidDefinition(issues))
    if not principal.can_see_region(definition.region_code):
        raise Problem(403, "region-out-of-scope",
                      f"区划 {definition.region_code} 不在您的管辖范围内，不能为其编制事项",
                      region_code=definition.region_code)
    item = _load_item(session, definition.item_code)
    newest = item.newest()
    if newest is not None and not principal.can_see_region(newest.definition.region_code):
        raise Problem(409, "item-code-taken", f"实施编码 {definition.item_code} 已被其他区划使用")
    try:
        draft = item.add_draft(definition, now, Editor(principal.subject, principal.name), change_reason)
    except CatalogueError as exc:
        raise _problem(exc) from exc
    try:
        with session.begin_nested():
            session.execute(insert(item_version).values(
                item_code=draft.item_code, version=draft.version, status=draft.status.value,
                region_code=definition.region_code, region_scope=region_prefix(definition.region_code),
                name=definition.name, definition=definition.model_dump(mode="json"), created_at=now,
                created_by=principal.subject, created_by_name=principal.name,
                change_reason=draft.change_reason, retire_reason="",
            ))
    except IntegrityError as exc:
        # Two administrators raced for the same next version (possible on PostgreSQL): one draft wins.
        raise Problem(409, "draft-exists", f"事项 {definition.item_code} 已有未发布的草稿") from exc
    return _version_out(draft, show_account=True)


def publish_item(session: Session, outbox: Outbox, principal: Principal, item_code: str,
                 now: datetime | None = None) -> dict[str, Any]:
    """Publishes the newest draft; the version it replaces is retired."""
    now = now or datetime.now(UTC)
    item = _load_visible_item(session, principal, item_code)
    try:
        publication = item.publish(now)
    except CatalogueError as exc:
        raise _problem(exc) from exc
    published = publication.published
    if publication.retired is not None:
        retired = publication.retired
        _save_status(session, retired)
        # Emitted before the publication: the catalogue topic is compacted by item code, and the
        # last record of a key is the one that survives compaction.
        outbox.emit(session, ItemVersionRetired(occurred_at=now, item_code=item_code, version=retired.version,
                                                reason=retired.retire_reason))
    _save_status(session, published)
    search_index.index_version(session, published)  # same transaction: search never shows a replaced version
    # The process travels as BPMN too, rendered from this very definition, so approval executes what was
    # published. (Administrators cannot upload a BPMN of their own yet; the rendered one is the only one.)
    outbox.emit(session, ItemVersionPublished(occurred_at=now, version=published.version,
                                              process_bpmn=render_bpmn(published.definition, published.version),
                                              **published.definition.model_dump()))
    return _version_out(published, show_account=True)


def retire_item(session: Session, outbox: Outbox, principal: Principal, item_code: str, reason: str,
                now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    item = _load_visible_item(session, principal, item_code)
    try:
        retired = item.retire(reason, now)
    except CatalogueError as exc:
        raise _problem(exc) from exc
    _save_status(session, retired)
    search_index.remove_item(session, item_code)
    outbox.emit(session, ItemVersionRetired(occurred_at=now, item_code=item_code, version=retired.version,
                                            reason=reason))
    return _version_out(retired, show_account=True)


def list_items(session: Session, region_code: str | None, q: str | None, limit: int = 500) -> list[dict[str, Any]]:
    """Published items offered in a region: those whose own region scope is a prefix of it."""
    stmt = select(item_version).where(item_version.c.status == VersionStatus.published.value)
    if region_code:
        stmt = stmt.where(literal(region_code).like(item_version.c.region_scope + "%"))
    if q:
        stmt = stmt.where(item_version.c.name.contains(q, autoescape=True))
    rows = session.execute(stmt.order_by(item_version.c.region_code, item_version.c.item_code).limit(limit)).all()
    return [_version_out(_version_from_row(r)) for r in rows]


def get_published(session: Session, item_code: str) -> dict[str, Any]:
    row = session.execute(
        select(item_version).where(item_version.c.item_code == item_code,
                                   item_version.c.status == VersionStatus.published.value)
    ).first()
    if row is None:
        raise Problem(404, "item-not-found", f"事项 {item_code} 不存在或未发布")
    return _version_out(_version_from_row(row))


def get_version(session: Session, principal: Principal, item_code: str, version: int,
                can_see_drafts: bool) -> dict[str, Any]:
    """Published and retired versions are public record; a draft only shows to its region's administrators."""
    row = session.execute(
        select(item_version).where(item_version.c.item_code == item_code, item_version.c.version == version)
    ).first()
    admin = row is not None and _administers(principal, row.region_code, can_see_drafts)
    if row is None or (row.status == VersionStatus.draft.value and not admin):
        raise Problem(404, "item-version-not-found", f"事项 {item_code} 第 {version} 版不存在")
    return _version_out(_version_from_row(row), show_account=admin)


def diff_version(session: Session, principal: Principal, item_code: str, version: int,
                 can_see_drafts: bool) -> dict[str, Any]:
    """What `version` changed against the version before it (版本比对), computed from the two definitions.
    A draft compares only for its region's administrators, as it reads; version 1 has nothing before it."""
    rows = session.execute(
        select(item_version).where(item_version.c.item_code == item_code,
                                   item_version.c.version.in_((version - 1, version)))
    ).all()
    by_version = {r.version: r for r in rows}
    after_row, before_row = by_version.get(version), by_version.get(version - 1)
    admin = after_row is not None and _administers(principal, after_row.region_code, can_see_drafts)
    if after_row is None or (after_row.status == VersionStatus.draft.value and not admin):
        raise Problem(404, "item-version-not-found", f"事项 {item_code} 第 {version} 版不存在")
    if before_row is None:
        raise Problem(404, "item-version-not-found",
                      f"事项 {item_code} 第 {version} 版之前没有版本可比对", item_code=item_code, version=version)
    before, after = _version_from_row(before_row), _version_from_row(after_row)
    return {
        "item_code": item_code,
        "before": _version_meta(before, admin), "after": _version_meta(after, admin),
        "changes": [
            {"field": c.field, "label": c.label, "kind": c.kind.value, "before": c.before, "after": c.after}
            for c in diff_definitions(before.definition, after.definition)
        ],
    }


# ---- events from the case topic: masked summaries and public results ------------------------------------

# Built once with named parameters: SQLAlchemy reuses the compiled statement instead of generating a cache key
# and coercing a literal per column on every event (most of case_accepted's CPU, measured with cProfile).
# The WHERE parameters are named apart from the columns, whose values come in the same parameter dict.
_SELECT_SUMMARY = select(case_summary).where(case_summary.c.case_no == bindparam("case_no"))
_INSERT_SUMMARY = insert(case_summary)
_UPDATE_SUMMARY = update(case_summary).where(case_summary.c.case_no == bindparam("target_case_no"))
_RESULT_EXISTS = select(public_result.c.case_no).where(public_result.c.case_no == bindparam("case_no"))
_INSERT_RESULT = insert(public_result)
_UPDATE_RESULT = update(public_result).where(public_result.c.case_no == bindparam("target_case_no"))
_DELETE_RESULT = delete(public_result).where(public_result.c.case_no == bindparam("case_no"))
_PINNED_DEFINITION = select(item_version.c.definition).where(
    item_version.c.item_code == bindparam("item_code"), item_version.c.version == bindparam("version"))
_NEWEST_DEFINITION = (
    select(item_version.c.definition)
    .where(item_version.c.item_code == bindparam("item_code"), item_version.c.status != VersionStatus.draft.value)
    .order_by(item_version.c.version.desc()).limit(1)
)


def _summary(session: Session, case_no: str) -> Any:
    return session.execute(_SELECT_SUMMARY, {"case_no": case_no}).first()


def _upsert_summary(session: Session, case_no: str, now: datetime, row: Any, **values: Any) -> None:
    """`row` is the summary as the caller just read it (None: none yet), so it is not read twice."""
    if row is None:
        unknown = MaskedApplicant.unknown()
        base = dict(applicant_type=unknown.applicant_type, applicant_name_masked=unknown.name,
                    applicant_id_masked=unknown.id_number, applicant_phone_masked=unknown.phone,
                    status=SummaryStatus.accepted.value)
        session.execute(_INSERT_SUMMARY, dict(case_no=case_no, updated_at=now, **(base | values)))
    else:
        session.execute(_UPDATE_SUMMARY, dict(target_case_no=case_no, updated_at=now, **values))


def case_accepted(session: Session, envelope: Envelope, event: CaseAccepted) -> None:
    """Keeps a summary with the applicant already masked: the raw name and id are never written."""
    masked = mask_applicant(event.applicant)
    row = _summary(session, event.case_no)
    values: dict[str, Any] = dict(
        item_code=event.item_code, item_name=event.item_name, region_code=event.region_code,
        applicant_type=masked.applicant_type, applicant_name_masked=masked.name,
        applicant_id_masked=masked.id_number, applicant_phone_masked=masked.phone,
        accepted_at=event.occurred_at,
    )
    if row is None:
        values["status"] = SummaryStatus.accepted.value
    _upsert_summary(session, event.case_no, envelope.recorded_at, row, **values)
    # A result published before its acceptance arrived showed "—"; it gets the masked applicant now. Only
    # case_completed publishes, after writing the summary (never deleted): no summary yet, no result either.
    if row is not None:
        session.execute(_UPDATE_RESULT, dict(target_case_no=event.case_no, applicant_name_masked=masked.name,
                                             applicant_id_masked=masked.id_number))


def case_decided(session: Session, envelope: Envelope, event: CaseDecided) -> None:
    row = _summary(session, event.case_no)
    values: dict[str, Any] = dict(decision=event.decision.value, decided_at=event.occurred_at)
    if row is None or row.status == SummaryStatus.accepted.value:
        values["status"] = SummaryStatus.decided.value
    _upsert_summary(session, event.case_no, envelope.recorded_at, row, **values)


def case_completed(session: Session, envelope: Envelope, event: CaseCompleted) -> None:
    """Publishes the result where the item allows it; a case disclosure never saw accepted shows "—"."""
    row = _summary(session, event.case_no)
    withdrawn = row is not None and row.status == SummaryStatus.withdrawn.value
    values: dict[str, Any] = dict(item_code=event.item_code, item_name=event.item_name,
                                  region_code=event.region_code, completed_at=event.occurred_at)
    if not withdrawn:
        values["status"] = SummaryStatus.completed.value
    _upsert_summary(session, event.case_no, envelope.recorded_at, row, **values)
    # Disclosure owns the catalogue: the item version's own flag decides, the event's only for items it lacks.
    item_allows = _item_publishes_results(session, event.item_code, event.item_version)
    if not should_publish(event.publish_result if item_allows is None else item_allows, withdrawn):
        return
    summary = _summary(session, event.case_no)
    result = event.result or summary.decision or "done"
    fields = dict(
        item_code=event.item_code, item_name=event.item_name, region_code=event.region_code,
        applicant_name_masked=summary.applicant_name_masked, applicant_id_masked=summary.applicant_id_masked,
        result=result, result_summary=event.result_summary, completed_at=event.occurred_at,
        published_at=envelope.recorded_at,
    )
    exists = session.execute(_RESULT_EXISTS, {"case_no": event.case_no}).first()
    if exists is None:
        session.execute(_INSERT_RESULT, dict(case_no=event.case_no, **fields))
    else:
        session.execute(_UPDATE_RESULT, dict(target_case_no=event.case_no, **fields))


def _item_publishes_results(session: Session, item_code: str, version: int | None) -> bool | None:
    """The 办件结果公示 flag of the version the case was pinned to (or the newest, if the event lacks it)."""
    row = (session.execute(_PINNED_DEFINITION, {"item_code": item_code, "version": version}) if version is not None
           else session.execute(_NEWEST_DEFINITION, {"item_code": item_code})).first()
    return None if row is None else bool(row.definition.get("publish_results", False))


def case_withdrawn(session: Session, envelope: Envelope, event: CaseWithdrawn) -> None:
    """A withdrawn case disappears from every list, and stays out if a completion still arrives."""
    _upsert_summary(session, event.case_no, envelope.recorded_at, _summary(session, event.case_no),
                    status=SummaryStatus.withdrawn.value)
    session.execute(_DELETE_RESULT, {"case_no": event.case_no})


def _result_out(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["result_label"] = result_label(out["result"])
    return out


def list_results(session: Session, item_code: str | None, region_code: str | None, since: datetime | None,
                 until: datetime | None, limit: int) -> list[dict[str, Any]]:
    """Newest first; a county's query includes its townships' and villages' results."""
    stmt = select(public_result)
    if item_code:
        stmt = stmt.where(public_result.c.item_code == item_code)
    if region_code:
        stmt = stmt.where(public_result.c.region_code.startswith(region_prefix(region_code), autoescape=True))
    if since is not None:
        stmt = stmt.where(public_result.c.completed_at >= since.astimezone(UTC))
    if until is not None:
        stmt = stmt.where(public_result.c.completed_at < until.astimezone(UTC))
    rows = session.execute(
        stmt.order_by(public_result.c.completed_at.desc(), public_result.c.case_no.desc()).limit(limit)
    ).all()
    return [_result_out(r) for r in rows]


def get_result(session: Session, case_no: str) -> dict[str, Any]:
    row = session.execute(select(public_result).where(public_result.c.case_no == case_no)).first()
    if row is None:
        raise Problem(404, "result-not-found", f"办件 {case_no} 没有公示结果")
    return _result_out(row)
