"""Approval's actions on a real SQLite file through the service layer, the case running on its BPMN in
SpiffWorkflow: claims and AB岗, joint opinions and 超时默认, review-stage supplements, special procedures,
the one extension, licence, delivery and completion, withdrawal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.approval import handlers
from services.approval.adapters.tables import messaging
from services.common.contracts.case import (
    CaseWithdrawn,
    DeliveryMethod,
    MissingMaterial,
    ReceivedMaterial,
    SuspensionReason,
)
from services.common.contracts.catalogue import ProcessStep
from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.db import make_engine, make_session_factory, upgrade_database
from services.common.messaging import Outbox
from services.common.principal import Principal, PrincipalKind, Role
from services.common.problems import Problem
from tests.integration.approval.test_approval_flow import _accepted, _item, bpmn_of

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "approval" / "migrations"
REGION = "320102000000"
DEPARTMENTS = ["区自然资源局", "区农业农村局", "区住房城乡建设局"]


def person(subject: str, role: Role, department: str = "区行政审批局", region: str = REGION) -> Principal:
    return Principal(kind=PrincipalKind.staff, subject=subject, name=subject, role=role, department=department,
                     region_code=region)


APPROVER, OTHER, HEAD = person("u-a", Role.approver), person("u-b", Role.approver), person("u-h", Role.department_head)


@dataclass
class World:
    sessions: sessionmaker[Session]
    outbox: Outbox

    def run(self, work: Any) -> Any:
        with self.sessions.begin() as session:
            return work(session)

    def case(self, case_no: str, who: Principal = APPROVER) -> dict[str, Any]:
        with self.sessions() as session:
            return handlers.get_case(session, who, case_no)

    def open_tasks(self, case_no: str) -> dict[str, dict[str, Any]]:
        return {t["step_code"] if t["kind"] == "step" else t["department"]: t
                for t in self.case(case_no, person("sup", Role.supervisor))["tasks"] if t["status"] == "open"}

    def complete(self, who: Principal, task_id: str, **fields: Any) -> handlers.CompletionResult:
        command = handlers.CompleteTask(task_id=task_id, opinion=fields.pop("opinion", "意见"), **fields)
        return self.run(lambda s: handlers.complete_task(s, self.outbox, who, command, {"u-a": "u-b"}))

    def events(self, case_no: str) -> list[str]:
        with self.sessions() as session:
            return list(session.execute(select(messaging.outbox.c.event_type)
                                        .where(messaging.outbox.c.key == case_no)
                                        .order_by(messaging.outbox.c.id)).scalars())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path}/approval.db"
    upgrade_database(url, MIGRATIONS)
    engine = make_engine(url)
    yield World(make_session_factory(engine), Outbox(messaging, source="/test", topic_prefix=""))
    engine.dispose()


def open_case(world: World, case_no: str, joint: bool = False) -> None:
    event = _accepted(case_no)
    if joint:
        steps = [ProcessStep(code="review", name="受理审查", role="approver"),
                 ProcessStep(code="joint", name="联合审查", role="approver", departments=DEPARTMENTS,
                             limit=TimeLimit(value=5, unit=LimitUnit.working_days)),
                 ProcessStep(code="decide", name="审批决定", role="department_head")]
        item = _item().model_copy(update={"process": steps, "joint": True})
        event = event.model_copy(update={"process": steps, "process_bpmn": bpmn_of(item), "joint": True})
    world.run(lambda s: handlers.case_accepted(s, world.outbox, event))


def problem(work: Any) -> Problem:
    with pytest.raises(Problem) as caught:
        work()
    return caught.value


def test_claims_are_exclusive_and_a_deputy_acts_for_the_holder(world: World) -> None:
    open_case(world, "C-1")
    review = world.open_tasks("C-1")["review"]
    claimed = world.run(lambda s: handlers.claim_task(s, APPROVER, review["task_id"]))
    assert claimed["claimed_by"] == "u-a"
    third = person("u-c", Role.approver)
    taken = problem(lambda: world.run(lambda s: handlers.claim_task(s, third, review["task_id"])))
    assert (taken.status, taken.slug, taken.extensions["claimed_by"]) == (409, "task-claimed", "u-a")
    assert problem(lambda: world.complete(third, review["task_id"])).slug == "task-claimed"
    # AB岗: u-b is u-a's configured deputy and completes the claimed task for them; both names are kept.
    done = world.complete(OTHER, review["task_id"], deputy_for=handlers.Absence("u-a", "甲"))
    assert done.case_status == "in_review"
    task = next(t for t in world.case("C-1")["tasks"] if t["task_id"] == review["task_id"])
    assert (task["assignee"], task["acting_for"]) == ("u-b", {"user_id": "u-a", "name": "甲"})
    again = problem(lambda: world.complete(APPROVER, review["task_id"]))
    assert (again.slug, again.extensions["acted_by"]) == ("task-already-completed", "u-b")


def test_joint_opinions_run_in_parallel_and_a_silent_department_defaults_to_consent(world: World) -> None:
    open_case(world, "C-2", joint=True)
    world.complete(APPROVER, world.open_tasks("C-2")["review"]["task_id"])
    tasks = world.open_tasks("C-2")
    assert set(tasks) == set(DEPARTMENTS)
    first, second, silent = (tasks[d] for d in DEPARTMENTS)
    # Another department's approver does not see the task at all.
    assert problem(lambda: world.complete(person("x", Role.approver, DEPARTMENTS[1]), first["task_id"],
                                          consent=True)).status == 404
    assert problem(lambda: world.complete(person("x", Role.approver, DEPARTMENTS[0]), first["task_id"],
                                          decision="approve")).status == 422
    world.complete(person("d1", Role.approver, DEPARTMENTS[0]), first["task_id"], consent=True)
    world.complete(person("d2", Role.approver, DEPARTMENTS[1]), second["task_id"], consent=False,
                   opinion="建议补充地质说明")
    assert "decide" not in world.open_tasks("C-2")  # the decision waits for the third
    assert world.run(lambda s: handlers.apply_joint_default(s, world.outbox, "C-2", silent["task_id"]))
    assert not world.run(lambda s: handlers.apply_joint_default(s, world.outbox, "C-2", silent["task_id"]))
    supervisor = person("sup", Role.supervisor)  # sees every department's task
    defaulted = next(t for t in world.case("C-2", supervisor)["tasks"] if t["task_id"] == silent["task_id"])
    assert len(world.case("C-2")["tasks"]) == 5  # the lead department (the case's own) follows every opinion
    outsider = person("o", Role.approver, "区财政局")
    assert all(t["kind"] == "step" for t in world.case("C-2", outsider)["tasks"])  # not theirs
    assert (defaulted["defaulted"], defaulted["outcome"], defaulted["assignee"]) == (True, "consent",
                                                                                      "system:approval")
    decide = world.open_tasks("C-2")["decide"]
    world.complete(HEAD, decide["task_id"], decision="approve")
    assert world.case("C-2")["status"] == "decided"
    assert world.events("C-2").count("zwfw.case.joint_review_answered.v1") == 3
    assert world.events("C-2").count("zwfw.case.joint_review_requested.v1") == 3


def test_review_supplement_is_asked_once_and_only_listed_materials_resume_it(world: World) -> None:
    open_case(world, "C-3")
    missing = [MissingMaterial(code="M09", name="场地平面图", reason="未提交")]
    world.run(lambda s: handlers.request_supplement(s, world.outbox, APPROVER, "C-3", missing, None))
    assert world.case("C-3")["status"] == "supplement_requested"
    review = world.open_tasks("C-3")["review"]
    paused = problem(lambda: world.complete(APPROVER, review["task_id"]))
    assert (paused.status, paused.extensions["state"]) == (409, "supplement_requested")
    outside = problem(lambda: world.run(lambda s: handlers.supplement_received(
        s, world.outbox, APPROVER, "C-3", [ReceivedMaterial(code="M01", name="申请书")])))
    assert (outside.status, outside.slug) == (422, "supplement-not-listed")
    world.run(lambda s: handlers.supplement_received(s, world.outbox, APPROVER, "C-3",
                                                     [ReceivedMaterial(code="M09", name="场地平面图")]))
    assert world.case("C-3")["status"] == "in_review"
    twice = problem(lambda: world.run(lambda s: handlers.request_supplement(s, world.outbox, APPROVER, "C-3",
                                                                            missing, None)))
    assert twice.slug == "supplement-already-requested"


def test_special_procedure_pauses_and_the_one_extension_is_the_heads(world: World) -> None:
    open_case(world, "C-4")
    world.run(lambda s: handlers.suspend(s, world.outbox, APPROVER, "C-4", SuspensionReason.expert_review,
                                         "组织专家评审", 10))
    case = world.case("C-4")
    assert case["status"] == "suspended" and case["allowed_actions"] == ["resume", "extend", "withdraw"]
    assert problem(lambda: world.run(lambda s: handlers.suspend(
        s, world.outbox, APPROVER, "C-4", SuspensionReason.hearing, "听证", 5))).status == 409
    world.run(lambda s: handlers.resume(s, world.outbox, APPROVER, "C-4", "评审通过"))
    assert world.case("C-4")["status"] == "in_review"
    assert problem(lambda: world.run(lambda s: handlers.extend(s, world.outbox, APPROVER, "C-4", "复杂"))).status == 403
    extension = world.run(lambda s: handlers.extend(s, world.outbox, HEAD, "C-4", "情况复杂，需进一步核查"))
    assert extension["limit"]["value"] == 10
    assert problem(lambda: world.run(lambda s: handlers.extend(s, world.outbox, HEAD, "C-4", "再延"))).slug == (
        "already-extended")
    assert world.events("C-4")[-3:] == ["zwfw.case.suspended.v1", "zwfw.case.resumed.v1", "zwfw.case.extended.v1"]


def test_after_the_decision_licence_then_delivery_then_completion(world: World) -> None:
    open_case(world, "C-5")
    world.complete(APPROVER, world.open_tasks("C-5")["review"]["task_id"])
    world.complete(HEAD, world.open_tasks("C-5")["decide"]["task_id"], decision="approve")
    early = problem(lambda: world.run(lambda s: handlers.deliver(s, world.outbox, APPROVER, "C-5",
                                                                 DeliveryMethod.post, "张三")))
    assert early.slug == "certificate-required"
    licence = world.run(lambda s: handlers.issue_certificate(s, world.outbox, APPROVER, "C-5"))
    assert licence["content"]["certificate_no"] == "XKC-5" and len(licence["content_sha256"]) == 64
    world.run(lambda s: handlers.deliver(s, world.outbox, APPROVER, "C-5", DeliveryMethod.post, "张三"))
    world.run(lambda s: handlers.complete_case(s, world.outbox, APPROVER, "C-5"))
    assert world.case("C-5")["status"] == "completed"
    assert world.events("C-5")[-4:] == ["zwfw.case.decided.v1", "zwfw.case.certificate_issued.v1",
                                        "zwfw.case.delivered.v1", "zwfw.case.completed.v1"]


def test_a_refusal_is_served_without_a_licence(world: World) -> None:
    open_case(world, "C-6")
    world.complete(APPROVER, world.open_tasks("C-6")["review"]["task_id"])
    world.complete(HEAD, world.open_tasks("C-6")["decide"]["task_id"], decision="deny", reasons="不符合选址要求")
    assert problem(lambda: world.run(lambda s: handlers.issue_certificate(s, world.outbox, APPROVER, "C-6"))).slug == (
        "no-licence-for-refusal")
    world.run(lambda s: handlers.deliver(s, world.outbox, APPROVER, "C-6", DeliveryMethod.window, "张三"))
    world.run(lambda s: handlers.complete_case(s, world.outbox, APPROVER, "C-6"))
    assert world.case("C-6")["decision"] == "deny"


def test_withdrawal_cancels_the_process_and_its_tasks(world: World) -> None:
    open_case(world, "C-7")
    world.run(lambda s: handlers.case_withdrawn(s, CaseWithdrawn(occurred_at=datetime.now(UTC), case_no="C-7")))
    case = world.case("C-7")
    assert case["status"] == "withdrawn" and [t["status"] for t in case["tasks"]] == ["cancelled"]
    assert problem(lambda: world.complete(APPROVER, case["tasks"][0]["task_id"])).extensions["state"] == "withdrawn"


def test_another_regions_approver_learns_nothing(world: World) -> None:
    open_case(world, "C-8")
    stranger = person("s", Role.approver, region="320104000000")
    assert problem(lambda: world.case("C-8", stranger)).status == 404
    review = world.open_tasks("C-8")["review"]
    assert problem(lambda: world.complete(stranger, review["task_id"])).status == 404


def test_a_department_that_does_not_take_part_is_recorded_absent_by_the_lead(world: World) -> None:
    open_case(world, "C-9", joint=True)
    world.complete(APPROVER, world.open_tasks("C-9")["review"]["task_id"])
    tasks = world.open_tasks("C-9")
    absent = tasks[DEPARTMENTS[2]]
    member = person("d1", Role.approver, DEPARTMENTS[0])
    refused = problem(lambda: world.run(lambda s: handlers.record_absence(s, member, world.outbox,
                                                                          absent["task_id"], "不涉及")))
    assert (refused.status, refused.slug) == (403, "not-lead-department")
    recorded = world.run(lambda s: handlers.record_absence(s, APPROVER, world.outbox, absent["task_id"],
                                                           "经函询不涉及本部门职责"))
    assert (recorded["defaulted"], recorded["outcome"], recorded["assignee"]) == (True, "consent", "u-a")
    assert "缺席默认" in recorded["opinion"]
    again = problem(lambda: world.run(lambda s: handlers.record_absence(s, APPROVER, world.outbox,
                                                                        absent["task_id"], "再次")))
    assert again.slug == "task-already-completed"
    step = world.open_tasks("C-9")[DEPARTMENTS[0]]
    assert problem(lambda: world.run(lambda s: handlers.record_absence(
        s, APPROVER, world.outbox, world.case("C-9")["tasks"][0]["task_id"], "x"))).slug == "not-a-joint-task"
    assert step["status"] == "open"


def open_surveyed_case(world: World, case_no: str) -> None:
    """review → 现场核查 (only where the review says the case needs it) → decide."""
    steps = [ProcessStep(code="review", name="受理审查", role="approver"),
             ProcessStep(code="survey", name="现场核查", role="approver", condition="site_survey"),
             ProcessStep(code="decide", name="审批决定", role="department_head")]
    item = _item().model_copy(update={"process": steps})
    event = _accepted(case_no).model_copy(update={"process": steps, "process_bpmn": bpmn_of(item)})
    world.run(lambda s: handlers.case_accepted(s, world.outbox, event))


def test_a_conditional_step_runs_only_where_the_case_needs_it(world: World) -> None:
    open_surveyed_case(world, "C-10")
    open_surveyed_case(world, "C-11")
    unknown = problem(lambda: world.complete(APPROVER, world.open_tasks("C-10")["review"]["task_id"],
                                             conditions={"hearing": True}))
    assert (unknown.status, unknown.slug, unknown.extensions["conditions"]) == (422, "unknown-condition",
                                                                                 ["site_survey"])
    world.complete(APPROVER, world.open_tasks("C-10")["review"]["task_id"], conditions={"site_survey": True})
    assert set(world.open_tasks("C-10")) == {"survey"}
    world.complete(APPROVER, world.open_tasks("C-10")["survey"]["task_id"], opinion="现场与申报一致")
    assert set(world.open_tasks("C-10")) == {"decide"}
    # Not marked: the case goes past the survey straight to the decision.
    world.complete(APPROVER, world.open_tasks("C-11")["review"]["task_id"])
    assert set(world.open_tasks("C-11")) == {"decide"}
    world.complete(HEAD, world.open_tasks("C-11")["decide"]["task_id"], decision="approve")
    assert [t["step_code"] for t in world.case("C-11")["tasks"]] == ["review", "decide"]
