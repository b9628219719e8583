"""Approval's service layer: one verb per command or event, each one unit of work on a Session.

A case runs on its pinned BPMN process (adapters/bpmn_engine.py decides which user tasks are ready); the
domain (domain/process.py) says which actions the case's state allows and what the law asks of each; these
functions lock the case, apply both, keep the task list (the work queues) in step with the engine, and emit
the public events in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.orm import Session

from services.approval.adapters import bpmn_engine as engine
from services.approval.adapters.bpmn_engine import ProcessLibrary, ProcessRefused, TaskNotReady
from services.approval.adapters.tables import approval_case, approval_task, item_version
from services.approval.domain import process as flow
from services.approval.domain.exceptions import ApprovalConflict, TaskAlreadyCompleted, TaskClaimedByOther
from services.approval.domain.process import Action, CaseStatus, Decision, StepOutcome, TaskKind, TaskStatus
from services.common.contracts import permissions
from services.common.contracts.bpmn import BpmnUserTask, user_tasks
from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseDecided,
    CaseDelivered,
    CaseExtended,
    CaseResumed,
    CaseSuspended,
    CaseWithdrawn,
    CertificateIssued,
    DeliveryMethod,
    JointReviewAnswered,
    JointReviewRequested,
    MissingMaterial,
    ReceivedMaterial,
    StepCompleted,
    StepStarted,
    SupplementRequested,
    SupplementSupplied,
    SuspensionReason,
)
from services.common.contracts.case import Decision as ContractDecision
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired
from services.common.contracts.envelope import Envelope
from services.common.contracts.payloads import Actor, EventPayload, LimitUnit, TimeLimit
from services.common.messaging import Outbox, PermanentEventError
from services.common.principal import Principal, Role
from services.common.problems import Problem

log = logging.getLogger(__name__)

INSTANT_CASE_TYPE = "1"  # 即办件 (GB/T 39046 办件类型)
PROCESSES = Path(__file__).parent / "processes"
# 一审一核: what a case runs when its version carries no process of its own (or one that cannot run here).
DEFAULT_PROCESS = (PROCESSES / "review_decide.bpmn").read_text(encoding="utf-8")
# A department asked without a limit of its own answers within this (the contract needs one for its clock).
DEFAULT_JOINT_LIMIT = TimeLimit(value=5, unit=LimitUnit.working_days, note="会签默认时限")
APPROVED_END, DENIED_END = "EndEvent_approved", "EndEvent_denied"
LIBRARY = ProcessLibrary()


def _conflict(exc: ApprovalConflict) -> Problem:
    return Problem(409, exc.slug, exc.detail, **exc.extras)


@lru_cache(maxsize=256)
def _tasks_of(xml: str) -> dict[str, BpmnUserTask]:
    return user_tasks(xml)


def _deciding(metas: dict[str, BpmnUserTask], meta: BpmnUserTask) -> bool:
    """The last step decides (决定); earlier steps and department opinions pass the case on."""
    steps = [m.order for m in metas.values() if m.kind == TaskKind.step.value]
    return meta.kind == TaskKind.step.value and bool(steps) and meta.order == max(steps)


def _actor(principal: Principal, on_behalf_of: str | None = None) -> Actor:
    return Actor(user_id=principal.subject, name=principal.name, role=principal.role.value,
                 department=principal.department, on_behalf_of=on_behalf_of)


# ---- events from the catalogue topic -------------------------------------------------------------

def item_published(session: Session, envelope: Envelope, event: ItemVersionPublished) -> None:
    """Keeps every version: a published version is immutable, so a repeat of it changes nothing."""
    exists = session.execute(
        select(item_version.c.version)
        .where(item_version.c.item_code == event.item_code, item_version.c.version == event.version)
    ).first()
    if exists is not None:
        return
    session.execute(insert(item_version).values(
        item_code=event.item_code, version=event.version, status="published", name=event.name,
        process=[s.model_dump(mode="json") for s in event.process], publish_results=event.publish_results,
        definition=event.model_dump(mode="json"), updated_at=envelope.recorded_at,
    ))


def item_retired(session: Session, envelope: Envelope, event: ItemVersionRetired) -> None:
    """Retired versions stay: cases accepted under them are still decided by them."""
    session.execute(
        update(item_version)
        .where(item_version.c.item_code == event.item_code, item_version.c.version == event.version)
        .values(status="retired", updated_at=envelope.recorded_at)
    )


# ---- statements of the hot path, built once (SQLAlchemy caches them compiled) ---------------------------

_CASE_EXISTS = select(approval_case.c.case_no).where(approval_case.c.case_no == bindparam("case_no"))
_PINNED_VERSION = select(item_version.c.definition, item_version.c.publish_results).where(
    item_version.c.item_code == bindparam("item_code"), item_version.c.version == bindparam("version"))
_INSERT_CASE = insert(approval_case)
_INSERT_TASK = insert(approval_task)
_SELECT_CASE = select(approval_case).where(approval_case.c.case_no == bindparam("case_no"))
_CASE_FOR_UPDATE = _SELECT_CASE.with_for_update()
_SELECT_TASK = select(approval_task).where(approval_task.c.task_id == bindparam("task_id"))
_CASE_OF_TASK_FOR_UPDATE = select(approval_case).where(approval_case.c.case_no == select(
    approval_task.c.case_no).where(approval_task.c.task_id == bindparam("task_id")).scalar_subquery()
).with_for_update()
_CASE_ELEMENTS = select(approval_task.c.element_id).where(approval_task.c.case_no == bindparam("case_no"))
_CANCEL_OPEN_TASKS = (
    update(approval_task)
    .where(approval_task.c.case_no == bindparam("target_case_no"), approval_task.c.status == TaskStatus.open.value)
    .values(status=TaskStatus.cancelled.value, completed_at=bindparam("completed_at"))
)
# The SET columns come from the parameters; the WHERE's parameter is named apart from every column.
_UPDATE_CASE = update(approval_case).where(approval_case.c.case_no == bindparam("target_case_no"))
_UPDATE_TASK = update(approval_task).where(approval_task.c.task_id == bindparam("target_task_id"))
# Only the first of two people completing one task finds it open.
_FINISH_TASK = update(approval_task).where(approval_task.c.task_id == bindparam("target_task_id"),
                                           approval_task.c.status == TaskStatus.open.value)


# ---- the engine and the task list ------------------------------------------------------------------

def _open_ready_tasks(session: Session, case: dict[str, Any], workflow: Any, metas: dict[str, BpmnUserTask],
                      now: datetime, known: set[str] | None = None) -> tuple[list[str], list[EventPayload]]:
    """A task row for every user task the engine has ready and the case has not (`known`: the elements that
    already have one, else read), and the events that start their clocks, for the caller to emit."""
    if known is None:
        known = set(session.execute(_CASE_ELEMENTS, {"case_no": case["case_no"]}).scalars())
    opened: list[str] = []
    events: list[EventPayload] = []
    for element_id in engine.ready_tasks(workflow):
        if element_id in known:
            continue
        meta = metas[element_id]
        task_id = str(uuid.uuid4())
        department = meta.department if meta.kind == TaskKind.department.value else case["department"]
        name = meta.name if meta.kind == TaskKind.department.value else meta.step_name or meta.name
        session.execute(_INSERT_TASK, dict(
            task_id=task_id, case_no=case["case_no"], seq=meta.order, step_code=meta.step_code, step_name=name,
            role=meta.role, department=department, region_code=case["region_code"], status=TaskStatus.open.value,
            time_limit=meta.limit.model_dump(mode="json") if meta.limit else None, created_at=now,
            element_id=element_id, kind=meta.kind,
        ))
        if meta.kind == TaskKind.department.value:
            # 并联审批: the department's own clock (monitoring), which defaults to consent when it passes.
            events.append(JointReviewRequested(
                occurred_at=now, case_no=case["case_no"], department=department, task_id=task_id,
                limit=meta.limit or DEFAULT_JOINT_LIMIT,
            ))
        else:
            events.append(StepStarted(
                occurred_at=now, case_no=case["case_no"], step_code=meta.step_code, step_name=name, task_id=task_id,
                role=meta.role, department=department, limit=meta.limit,
            ))
        opened.append(task_id)
    return opened, events


def _start_workflow(xml: str) -> tuple[Any, dict[str, BpmnUserTask]]:
    workflow = LIBRARY.start(xml)
    metas = _tasks_of(xml)
    # 受理 is acceptance's, done before the case reached us. Every condition starts false: a conditional step
    # (e.g. 现场核查) runs only when a step before it says the case needs it.
    conditions = {m.condition: False for m in metas.values() if m.condition}
    for element_id in engine.ready_tasks(workflow):
        if metas[element_id].kind == "accept":
            engine.complete(workflow, element_id, conditions)
    return workflow, metas


def case_accepted(session: Session, outbox: Outbox, event: CaseAccepted, now: datetime | None = None) -> None:
    """Opens the case on the process of the version it was accepted under, and its first tasks.

    A 即办件 (case_type "1") is decided and completed at the window by acceptance (行政许可法 Art. 34: on the
    spot); it never reaches approval's queues. A process that cannot run here (refused by the engine) does
    not lose the case: it runs 一审一核, and the log says why."""
    now = now or datetime.now(UTC)
    if event.case_type == INSTANT_CASE_TYPE:
        return
    # The inbox drops a redelivered event id, but a re-sent CaseAccepted carries a new id.
    if session.execute(_CASE_EXISTS, {"case_no": event.case_no}).first():
        return
    xml, source = event.process_bpmn, "catalogue"
    if not xml:  # an older producer: the replica of the pinned version, if it has arrived
        pinned = session.execute(_PINNED_VERSION, {"item_code": event.item_code, "version": event.item_version}).first()
        xml = (pinned.definition or {}).get("process_bpmn", "") if pinned is not None else ""
    if not xml:
        xml, source = DEFAULT_PROCESS, "default"
    try:
        workflow, metas = _start_workflow(xml)
        if not any(m.kind == TaskKind.step.value for m in metas.values()):
            raise ProcessRefused("the process has no step for approval")  # the catalogue left it to us
    except Exception as exc:  # whatever the file does wrong (engine, parser, conditions), the case is not lost
        if source == "default":
            raise
        log.warning("case %s: the process of %s v%s does not run here (%s); running 一审一核", event.case_no,
                    event.item_code, event.item_version, exc)
        xml, source = DEFAULT_PROCESS, "default"
        workflow, metas = _start_workflow(xml)
    case = dict(
        case_no=event.case_no, item_code=event.item_code, item_version=event.item_version,
        item_name=event.item_name, region_code=event.region_code, department=event.department,
        applicant_type=event.applicant.applicant_type, status=CaseStatus.in_review.value,
        process=[s.model_dump(mode="json") for s in event.process], process_source=source, reasons="",
        accepted_at=event.occurred_at, opened_at=now, workflow=engine.dump(workflow), process_bpmn=xml,
        joint=event.joint,
    )
    session.execute(_INSERT_CASE, case)
    _, events = _open_ready_tasks(session, case, workflow, metas, now, known=set())
    outbox.emit_many(session, events)


def case_withdrawn(session: Session, event: CaseWithdrawn, now: datetime | None = None) -> None:
    """撤回: the process is cancelled, open tasks too; after a decision it can no longer apply."""
    now = now or datetime.now(UTC)
    row = session.execute(_CASE_FOR_UPDATE, {"case_no": event.case_no}).first()
    if row is None:
        return  # withdrawn before acceptance: never reached approval
    status = CaseStatus(row.status)
    if status is CaseStatus.withdrawn:
        return
    try:
        flow.require(status, Action.withdraw)
    except ApprovalConflict as exc:
        raise PermanentEventError(f"case {event.case_no}: {exc.detail}") from exc
    values: dict[str, Any] = {"target_case_no": event.case_no, "status": CaseStatus.withdrawn.value, "closed_at": now}
    if row.workflow:
        workflow = LIBRARY.load(row.workflow)
        engine.cancel(workflow)
        values["workflow"] = engine.dump(workflow)
    session.execute(_CANCEL_OPEN_TASKS, {"target_case_no": event.case_no, "completed_at": now})
    session.execute(_UPDATE_CASE, values)


# ---- who may touch what ----------------------------------------------------------------------------

_SEES_EVERY_DEPARTMENT = (Role.supervisor, Role.operations)


def _may_see_task(principal: Principal, task: Row[Any]) -> bool:
    """Region by code prefix; a joint department's task also by department (another's answers 404)."""
    if not principal.can_see_region(task.region_code):
        return False
    if task.kind == TaskKind.department.value and principal.role not in _SEES_EVERY_DEPARTMENT:
        return principal.department == task.department
    return True


def _locked_case(session: Session, principal: Principal, case_no: str) -> Row[Any]:
    case = session.execute(_CASE_FOR_UPDATE, {"case_no": case_no}).first()
    if case is None or not principal.can_see_region(case.region_code):
        raise Problem(404, "case-not-found", f"办件 {case_no} 不存在")
    return case


def _require(case: Row[Any], action: Action) -> None:
    try:
        flow.require(CaseStatus(case.status), action, case.decision)
    except ApprovalConflict as exc:
        raise _conflict(exc) from exc


def _task_under_lock(session: Session, principal: Principal, task_id: str) -> tuple[Row[Any], Row[Any]]:
    """The task and its case, the case row locked first (PostgreSQL) and the task read under that lock, so a
    concurrent claim or completion that committed while we waited is seen. One statement each."""
    case = session.execute(_CASE_OF_TASK_FOR_UPDATE, {"task_id": task_id}).first()
    task = session.execute(_SELECT_TASK, {"task_id": task_id}).first() if case is not None else None
    if task is None or case is None or not _may_see_task(principal, task):
        raise Problem(404, "task-not-found", f"任务 {task_id} 不存在")
    return task, case


@dataclass(frozen=True)
class Absence:
    """AB岗: the absent colleague the caller stands in for (checked against the configured pairs)."""

    user_id: str
    name: str = ""


def _acting(principal: Principal, task: Row[Any], deputy_for: Absence | None,
            deputies: dict[str, str]) -> tuple[str | None, dict[str, str] | None]:
    """(on_behalf_of, acting_for) when the caller may act on the task: its role, and the claim if any (the
    claimer, or their configured deputy standing in for them)."""
    if principal.role.value != task.role:
        raise Problem(403, "wrong-role", f"环节「{task.step_name}」应由 {task.role} 办理，当前角色为 "
                      f"{principal.role.value}", required_role=task.role)
    if deputy_for is not None:
        if deputies.get(deputy_for.user_id) != principal.subject:
            raise Problem(403, "not-a-deputy", f"您不是 {deputy_for.name or deputy_for.user_id} 的AB岗代理人",
                          deputy_for=deputy_for.user_id)
        name = f"{deputy_for.name}（{deputy_for.user_id}）" if deputy_for.name else deputy_for.user_id
        holder = task.claimed_by
        if holder is not None and holder != deputy_for.user_id:
            raise _conflict(TaskClaimedByOther(holder, task.claimed_name or "", _iso(task.claimed_at)))
        return name, {"user_id": deputy_for.user_id, "name": deputy_for.name}
    if task.claimed_by is not None and task.claimed_by != principal.subject:
        raise _conflict(TaskClaimedByOther(task.claimed_by, task.claimed_name or "", _iso(task.claimed_at)))
    return None, None


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _already_done(task: Row[Any]) -> Problem:
    return _conflict(TaskAlreadyCompleted(task.assignee or "", _iso(task.completed_at), task.assignee_name or ""))


def _open_task_or_conflict(task: Row[Any]) -> None:
    if task.status == TaskStatus.done.value:
        raise _already_done(task)
    if task.status != TaskStatus.open.value:
        raise Problem(409, "task-not-open", f"该任务当前状态为 {task.status}，不能办理", task_status=task.status)


# ---- task commands: 签收, 退回, 办理 -------------------------------------------------------------------

def claim_task(session: Session, principal: Principal, task_id: str, deputy_for: Absence | None = None,
               deputies: dict[str, str] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """签收: the task is the caller's until released; a second claimer gets 409 naming the holder."""
    now = now or datetime.now(UTC)
    task, case = _task_under_lock(session, principal, task_id)
    _require(case, Action.claim)
    _open_task_or_conflict(task)
    _acting(principal, task, deputy_for, deputies or {})
    holder = deputy_for.user_id if deputy_for else principal.subject
    if task.claimed_by != holder:
        session.execute(_UPDATE_TASK, {"target_task_id": task_id, "claimed_by": holder,
                                       "claimed_name": deputy_for.name if deputy_for else principal.name,
                                       "claimed_at": now})
    return _task_out(session.execute(_SELECT_TASK, {"task_id": task_id}).one())


def release_task(session: Session, principal: Principal, task_id: str, deputy_for: Absence | None = None,
                 deputies: dict[str, str] | None = None) -> dict[str, Any]:
    """退回待办: only the holder (or their deputy) gives a claimed task back to the queue."""
    task, case = _task_under_lock(session, principal, task_id)
    _require(case, Action.release)
    _open_task_or_conflict(task)
    if task.claimed_by is None:
        raise Problem(409, "task-not-claimed", "该任务尚未签收", task_status=task.status)
    _acting(principal, task, deputy_for, deputies or {})
    session.execute(_UPDATE_TASK, {"target_task_id": task_id, "claimed_by": None, "claimed_name": None,
                                   "claimed_at": None})
    return _task_out(session.execute(_SELECT_TASK, {"task_id": task_id}).one())


@dataclass(frozen=True)
class CompleteTask:
    task_id: str
    opinion: str
    decision: str | None = None  # the deciding step: approve / deny
    reasons: str = ""
    consent: bool | None = None  # a joint department's opinion: agree or not
    deputy_for: Absence | None = None
    conditions: dict[str, bool] | None = None  # 条件环节 ahead that this case needs (e.g. site_survey)


@dataclass(frozen=True)
class CompletionResult:
    task_id: str
    case_no: str
    status: str
    next_task_ids: list[str]
    case_status: str


def complete_task(session: Session, outbox: Outbox, principal: Principal, command: CompleteTask,
                  deputies: dict[str, str] | None = None, now: datetime | None = None) -> CompletionResult:
    """办理一个环节 (or a department's opinion): the engine moves the case on; the last step decides."""
    now = now or datetime.now(UTC)
    task, case = _task_under_lock(session, principal, command.task_id)
    # Who acted first beats the case's state: the second of two on one deciding task learns who decided.
    if task.status == TaskStatus.done.value:
        raise _already_done(task)
    _require(case, Action.complete_task)
    _open_task_or_conflict(task)
    on_behalf_of, acting_for = _acting(principal, task, command.deputy_for, deputies or {})
    if not case.workflow:
        raise Problem(409, "case-not-active", "该办件早于流程引擎开启，请由运维迁移后办理", state=case.status,
                      allowed_actions=[])
    metas = _tasks_of(case.process_bpmn)
    meta = metas[task.element_id]
    actor = _actor(principal, on_behalf_of)
    workflow = LIBRARY.load(case.workflow)
    decision: Decision | None = None
    if task.kind == TaskKind.department.value:
        if command.consent is None or command.decision is not None or command.conditions:
            raise Problem(422, "consent-required", "会签意见须明确是否同意（consent），不能作出许可决定或设定条件")
        outcome = StepOutcome.consent if command.consent else StepOutcome.dissent
        data: dict[str, Any] = {task.element_id: outcome.value}
    else:
        if command.consent is not None:
            raise Problem(422, "consent-not-allowed", "会签意见只用于并联审批的部门任务")
        try:
            decision = flow.check_decision(command.decision, command.reasons, _deciding(metas, meta))
        except ApprovalConflict as exc:
            status = 422 if exc.slug == "reasons-required" else 409
            raise Problem(status, exc.slug, exc.detail, **exc.extras) from exc
        outcome = StepOutcome(decision.value) if decision else StepOutcome.passed
        data = {"decision": decision.value} if decision else {}
        ahead = {m.condition for m in metas.values() if m.condition and m.order > meta.order}
        unknown = sorted(set(command.conditions or {}) - ahead)
        if unknown:
            raise Problem(422, "unknown-condition", f"流程中此环节之后没有这些条件环节：{'、'.join(unknown)}",
                          unknown=unknown, conditions=sorted(ahead))
        data.update(command.conditions or {})
    # Every element ready now has its task row (opened when it became ready): only what this step makes
    # ready needs one, so the case's task list is not read again.
    known = set(engine.ready_tasks(workflow))
    try:
        engine.complete(workflow, task.element_id, data)
    except TaskNotReady as exc:
        raise Problem(409, "task-not-open", "流程中该任务当前不可办理", ready=exc.ready) from exc
    finished = session.execute(_FINISH_TASK, {
        "target_task_id": task.task_id, "status": TaskStatus.done.value, "assignee": principal.subject,
        "assignee_name": principal.name, "opinion": command.opinion, "outcome": outcome.value,
        "completed_at": now, "acting_for": acting_for,
    }).rowcount
    if finished != 1:  # someone else completed it meanwhile (PostgreSQL: between our read and our lock)
        raise _already_done(session.execute(_SELECT_TASK, {"task_id": task.task_id}).one())
    events: list[EventPayload] = []
    if task.kind == TaskKind.department.value:
        events.append(JointReviewAnswered(
            occurred_at=now, case_no=case.case_no, department=task.department, task_id=task.task_id,
            opinion=command.opinion, consent=bool(command.consent), actor=actor,
        ))
    else:
        events.append(StepCompleted(
            occurred_at=now, case_no=case.case_no, step_code=task.step_code, step_name=task.step_name,
            task_id=task.task_id, actor=actor, opinion=command.opinion, outcome=outcome.value,
        ))
    opened, started = _open_ready_tasks(session, dict(case._mapping), workflow, metas, now, known)
    events += started
    values: dict[str, Any] = {"target_case_no": case.case_no, "workflow": engine.dump(workflow)}
    progress = engine.progress(workflow)
    if progress.completed:
        decided = decision or (Decision.approve if progress.end_event == APPROVED_END else Decision.deny)
        reasons = command.reasons.strip()
        events.append(CaseDecided(
            occurred_at=now, case_no=case.case_no, decision=ContractDecision(decided.value), reasons=reasons,
            remedy_notice=flow.remedy_notice(decided), actor=actor,
        ))
        values.update(status=CaseStatus.decided.value, decision=decided.value, reasons=reasons, decided_at=now)
    outbox.emit_many(session, events)  # one statement, in the order they happened
    session.execute(_UPDATE_CASE, values)
    return CompletionResult(task_id=task.task_id, case_no=case.case_no, status=TaskStatus.done.value,
                            next_task_ids=opened, case_status=values.get("status", case.status))


def _default_department(session: Session, outbox: Outbox, case: Row[Any], task: Row[Any], opinion: str,
                        assignee: str, assignee_name: str, actor: Actor | None, now: datetime) -> None:
    """A department's opinion taken as consent without its answer (超时默认 / 缺席默认)."""
    metas = _tasks_of(case.process_bpmn)
    workflow = LIBRARY.load(case.workflow)
    engine.complete(workflow, task.element_id, {task.element_id: StepOutcome.consent.value})
    session.execute(_FINISH_TASK, {
        "target_task_id": task.task_id, "status": TaskStatus.done.value, "assignee": assignee,
        "assignee_name": assignee_name, "opinion": opinion, "outcome": StepOutcome.consent.value, "completed_at": now,
        "defaulted": True, "acting_for": None,
    })
    answered = JointReviewAnswered(occurred_at=now, case_no=case.case_no, department=task.department,
                                   task_id=task.task_id, opinion=opinion, consent=True, by_default=True, actor=actor)
    _, started = _open_ready_tasks(session, dict(case._mapping), workflow, metas, now)
    outbox.emit_many(session, [answered, *started])
    session.execute(_UPDATE_CASE, {"target_case_no": case.case_no, "workflow": engine.dump(workflow)})


def apply_joint_default(session: Session, outbox: Outbox, case_no: str, task_id: str,
                        now: datetime | None = None) -> bool:
    """超时默认: a department that did not answer within its limit is taken to consent. Driven by monitoring's
    breach of the department's clock; False when there is nothing to default (answered, withdrawn …)."""
    now = now or datetime.now(UTC)
    task = session.execute(_SELECT_TASK, {"task_id": task_id}).first()
    if task is None or task.case_no != case_no or task.kind != TaskKind.department.value:
        return False
    case = session.execute(_CASE_FOR_UPDATE, {"case_no": case_no}).first()
    task = session.execute(_SELECT_TASK, {"task_id": task_id}).one()  # again, under the case's lock
    if case is None or task.status != TaskStatus.open.value or not case.workflow:
        return False
    # Applied while paused too: monitoring's clock of the department pauses with the case, so a breach that
    # arrives now passed before the pause began (and would not come again after it).
    if CaseStatus(case.status) not in (CaseStatus.in_review, CaseStatus.supplement_requested,
                                       CaseStatus.suspended):
        return False
    _default_department(session, outbox, case, task, "超时未答复，视为同意（超时默认）", "system:approval", "超时默认",
                        None, now)
    return True


def record_absence(session: Session, principal: Principal, outbox: Outbox, task_id: str, reason: str,
                   now: datetime | None = None) -> dict[str, Any]:
    """缺席默认: the lead department records that a joint department does not take part; it is taken to consent
    at once, with who recorded it and why (the department itself cannot: it would simply answer)."""
    now = now or datetime.now(UTC)
    case = session.execute(_CASE_OF_TASK_FOR_UPDATE, {"task_id": task_id}).first()
    task = session.execute(_SELECT_TASK, {"task_id": task_id}).first() if case is not None else None
    # The lead (the case's own staff) sees every task of the case; a department task is named, not guessed.
    if task is None or case is None or not principal.can_see_region(task.region_code):
        raise Problem(404, "task-not-found", f"任务 {task_id} 不存在")
    if task.kind != TaskKind.department.value:
        raise Problem(409, "not-a-joint-task", "只有并联审批的部门任务可以缺席默认", task_kind=task.kind)
    if task.status == TaskStatus.done.value:
        raise _already_done(task)
    _require(case, Action.complete_task)
    _open_task_or_conflict(task)
    if principal.department != case.department:
        raise Problem(403, "not-lead-department", f"缺席默认由牵头部门（{case.department}）登记",
                      lead_department=case.department)
    _default_department(session, outbox, case, task, f"部门未参加会签，视为同意（缺席默认）：{reason}",
                        principal.subject, principal.name, _actor(principal), now)
    return _task_out(session.execute(_SELECT_TASK, {"task_id": task_id}).one())


# ---- case commands: 补正, 特别程序, 延期 -------------------------------------------------------------------

def request_supplement(session: Session, outbox: Outbox, principal: Principal, case_no: str,
                       missing: list[MissingMaterial], supply_by: str | None,
                       now: datetime | None = None) -> dict[str, Any]:
    """审查中补正: everything at once (一次性告知); the case clock pauses until the materials come."""
    now = now or datetime.now(UTC)
    case = _locked_case(session, principal, case_no)
    _require(case, Action.request_supplement)
    try:
        flow.check_supplement_request(case.supplement is not None)
    except ApprovalConflict as exc:
        raise _conflict(exc) from exc
    notice_no = f"SCBZ{case_no}"
    actor = _actor(principal)
    outbox.emit(session, SupplementRequested(
        occurred_at=now, case_no=case_no, stage="review", missing=missing, notice_no=notice_no, actor=actor,
        supply_by=supply_by,
    ))
    supplement = {"notice_no": notice_no, "missing": [m.model_dump(mode="json") for m in missing],
                  "supply_by": supply_by, "requested_at": now.isoformat(), "requested_by": actor.model_dump()}
    session.execute(_UPDATE_CASE, {"target_case_no": case_no, "status": CaseStatus.supplement_requested.value,
                                   "supplement": supplement})
    return supplement


def supplement_received(session: Session, outbox: Outbox, principal: Principal, case_no: str,
                        materials: list[ReceivedMaterial], now: datetime | None = None) -> dict[str, Any]:
    """补正材料收到: only what the notice listed; review resumes where it was."""
    now = now or datetime.now(UTC)
    case = _locked_case(session, principal, case_no)
    _require(case, Action.supplement_received)
    listed = {m["code"] for m in (case.supplement or {}).get("missing", [])}
    outside = [m.code for m in materials if m.code not in listed]
    if outside:
        raise Problem(422, "supplement-not-listed", f"以下材料不在补正告知书中：{'、'.join(outside)}",
                      not_listed=outside, notice_no=(case.supplement or {}).get("notice_no"))
    outbox.emit(session, SupplementSupplied(occurred_at=now, case_no=case_no, stage="review", materials=materials,
                                            actor=_actor(principal)))
    supplement = dict(case.supplement or {}) | {"supplied_at": now.isoformat()}
    session.execute(_UPDATE_CASE, {"target_case_no": case_no, "status": CaseStatus.in_review.value,
                                   "supplement": supplement})
    return supplement


def suspend(session: Session, outbox: Outbox, principal: Principal, case_no: str, reason: SuspensionReason,
            explanation: str, expected_days: int, now: datetime | None = None) -> dict[str, Any]:
    """特别程序 (Art. 45): hearing, inspection, testing, expert review …, the applicant told how long."""
    now = now or datetime.now(UTC)
    case = _locked_case(session, principal, case_no)
    _require(case, Action.suspend)
    try:
        flow.check_suspension(reason, expected_days)
    except ApprovalConflict as exc:
        raise Problem(422, exc.slug, exc.detail) from exc
    suspension = {"suspension_id": str(uuid.uuid4()), "reason": reason.value, "explanation": explanation,
                  "expected_days": expected_days, "since": now.isoformat()}
    outbox.emit(session, CaseSuspended(
        occurred_at=now, case_no=case_no, suspension_id=suspension["suspension_id"], reason=reason,
        explanation=explanation, expected_days=expected_days, actor=_actor(principal),
    ))
    session.execute(_UPDATE_CASE, {"target_case_no": case_no, "status": CaseStatus.suspended.value,
                                   "suspension": suspension})
    return suspension


def resume(session: Session, outbox: Outbox, principal: Principal, case_no: str, result: str,
           now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    case = _locked_case(session, principal, case_no)
    _require(case, Action.resume)
    suspension = dict(case.suspension or {})
    outbox.emit(session, CaseResumed(occurred_at=now, case_no=case_no, suspension_id=suspension["suspension_id"],
                                     result=result, actor=_actor(principal)))
    session.execute(_UPDATE_CASE, {"target_case_no": case_no, "status": CaseStatus.in_review.value,
                                   "suspension": None})
    return suspension | {"resumed_at": now.isoformat(), "result": result}


def extend(session: Session, outbox: Outbox, principal: Principal, case_no: str, reason: str,
           now: datetime | None = None) -> dict[str, Any]:
    """延长审批期限 (Art. 42): once, approved by the head, 10 working days (15 for joint handling)."""
    now = now or datetime.now(UTC)
    # The route's dependency checks this too; the handler keeps the head-only rule for every other caller.
    permissions.authorize(principal, permissions.Action.approval_extend)
    case = _locked_case(session, principal, case_no)
    _require(case, Action.extend)
    try:
        flow.check_extension(case.extension is not None)
    except ApprovalConflict as exc:
        raise _conflict(exc) from exc
    limit = flow.extension_limit(bool(case.joint))
    approved_by = _actor(principal)
    outbox.emit(session, CaseExtended(occurred_at=now, case_no=case_no, extension=limit, reason=reason,
                                      approved_by=approved_by))
    extension = {"limit": limit.model_dump(mode="json"), "reason": reason, "approved_by": approved_by.model_dump(),
                 "at": now.isoformat()}
    session.execute(_UPDATE_CASE, {"target_case_no": case_no, "extension": extension})
    return extension


# ---- after the decision: 制证, 送达, 办结 ------------------------------------------------------------------

# Without 0/O, 1/I/L: read over the phone and typed from paper.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def issue_certificate(session: Session, outbox: Outbox, principal: Principal, case_no: str,
                      now: datetime | None = None) -> dict[str, Any]:
    """制证 (Art. 44, within 10 working days of approval): a number, a verification code, and the electronic
    licence's content with its sha256 (the record a verifier recomputes)."""
    now = now or datetime.now(UTC)
    case = _locked_case(session, principal, case_no)
    if case.status == CaseStatus.decided.value and case.decision != Decision.approve.value:
        raise Problem(409, "no-licence-for-refusal", "不予许可的办件不制证，请直接送达决定书", state=case.status,
                      allowed_actions=flow.allowed_actions(CaseStatus.decided, case.decision))
    _require(case, Action.issue_certificate)
    certificate_no = f"XK{case_no}"
    verification_code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    content = {
        "certificate_no": certificate_no, "case_no": case_no, "item_code": case.item_code,
        "item_name": case.item_name, "issuer": case.department, "region_code": case.region_code,
        "decided_at": _iso(case.decided_at), "issued_at": now.isoformat(), "verification_code": verification_code,
    }
    content_sha256 = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
    outbox.emit(session, CertificateIssued(
        occurred_at=now, case_no=case_no, certificate_no=certificate_no, verification_code=verification_code,
        content_sha256=content_sha256, actor=_actor(principal),
    ))
    certificate = {"content": content, "content_sha256": content_sha256}
    session.execute(_UPDATE_CASE, {"target_case_no": case_no, "status": CaseStatus.certified.value,
                                   "certificate": certificate})
    return certificate


def deliver(session: Session, outbox: Outbox, principal: Principal, case_no: str, method: DeliveryMethod,
            receiver: str, now: datetime | None = None) -> dict[str, Any]:
    """送达: the licence (after 制证) or the refusal decision, by window, post or electronically."""
    now = now or datetime.now(UTC)
    case = _locked_case(session, principal, case_no)
    if case.status == CaseStatus.decided.value and case.decision == Decision.approve.value:
        raise Problem(409, "certificate-required", "准予许可的办件须先制证再送达", state=case.status,
                      allowed_actions=flow.allowed_actions(CaseStatus.decided, case.decision))
    _require(case, Action.deliver)
    outbox.emit(session, CaseDelivered(occurred_at=now, case_no=case_no, method=method, receiver=receiver,
                                       actor=_actor(principal)))
    delivery = {"method": method.value, "receiver": receiver, "at": now.isoformat()}
    session.execute(_UPDATE_CASE, {"target_case_no": case_no, "status": CaseStatus.delivered.value,
                                   "delivery": delivery})
    return delivery


def complete_case(session: Session, outbox: Outbox, principal: Principal, case_no: str,
                  now: datetime | None = None) -> dict[str, Any]:
    """办结: the case clock ends, and the result is published where the pinned version says so."""
    now = now or datetime.now(UTC)
    case = _locked_case(session, principal, case_no)
    _require(case, Action.complete)
    decision = Decision(case.decision)
    pinned = session.execute(_PINNED_VERSION, {"item_code": case.item_code, "version": case.item_version}).first()
    outbox.emit(session, CaseCompleted(
        occurred_at=now, case_no=case_no, item_code=case.item_code, item_name=case.item_name,
        region_code=case.region_code, result=decision.value, result_summary=flow.result_summary(decision,
                                                                                                case.item_name),
        item_version=case.item_version, publish_result=bool(pinned.publish_results) if pinned else False,
    ))
    session.execute(_UPDATE_CASE, {"target_case_no": case_no, "status": CaseStatus.completed.value,
                                   "closed_at": now})
    return {"case_no": case_no, "status": CaseStatus.completed.value, "completed_at": now.isoformat()}


# ---- queries ---------------------------------------------------------------------------------------

def _task_out(row: Row[Any]) -> dict[str, Any]:
    return {
        "task_id": row.task_id, "case_no": row.case_no, "step_code": row.step_code, "step_name": row.step_name,
        "kind": row.kind, "element_id": row.element_id, "role": row.role, "department": row.department,
        "region_code": row.region_code, "status": row.status, "time_limit": row.time_limit,
        "claimed_by": row.claimed_by, "claimed_name": row.claimed_name, "claimed_at": row.claimed_at,
        "assignee": row.assignee, "assignee_name": row.assignee_name, "acting_for": row.acting_for,
        "opinion": row.opinion, "outcome": row.outcome, "defaulted": bool(row.defaulted),
        "created_at": row.created_at, "completed_at": row.completed_at,
    }


def list_tasks(session: Session, principal: Principal, case_no: str | None, status: TaskStatus | None,
               limit: int, actionable: bool = False, mine: bool = False) -> list[dict[str, Any]]:
    """Work queues: tasks inside the caller's region scope, oldest first (the order they should be worked).
    `actionable`: only those the caller's role (and, for joint opinions, department) may do; `mine`: claimed
    by the caller."""
    query = select(approval_task).where(approval_task.c.region_code.startswith(principal.region_scope()))
    if case_no is not None:
        query = query.where(approval_task.c.case_no == case_no)
    if status is not None:
        query = query.where(approval_task.c.status == status.value)
    if actionable:
        query = query.where(approval_task.c.role == principal.role.value)
    if mine:
        query = query.where(approval_task.c.claimed_by == principal.subject)
    query = query.order_by(approval_task.c.created_at, approval_task.c.case_no, approval_task.c.seq).limit(limit)
    return [_task_out(row) for row in session.execute(query) if _may_see_task(principal, row)]


def get_case(session: Session, principal: Principal, case_no: str) -> dict[str, Any]:
    row = session.execute(_SELECT_CASE, {"case_no": case_no}).first()
    # Another region's case answers 404, never 403 with details.
    if row is None or not principal.can_see_region(row.region_code):
        raise Problem(404, "case-not-found", f"办件 {case_no} 不存在")
    tasks = session.execute(
        select(approval_task).where(approval_task.c.case_no == case_no)
        .order_by(approval_task.c.seq, approval_task.c.created_at)
    )
    status = CaseStatus(row.status)
    return {
        "case_no": row.case_no, "item_code": row.item_code, "item_version": row.item_version,
        "item_name": row.item_name, "region_code": row.region_code, "department": row.department,
        "status": row.status, "allowed_actions": flow.allowed_actions(status, row.decision),
        "decision": row.decision,
        "reasons": row.reasons or "", "process_source": row.process_source, "joint": bool(row.joint),
        "supplement": row.supplement, "suspension": row.suspension, "extension": row.extension,
        "certificate": row.certificate, "delivery": row.delivery, "decided_at": row.decided_at,
        # The lead department (the case's own) follows every department's opinion; others see their own.
        "tasks": [_task_out(t) for t in tasks
                  if principal.department == row.department or _may_see_task(principal, t)],
    }
