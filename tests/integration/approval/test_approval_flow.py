"""A case through approval on the real broker: catalogue version in, CaseAccepted (with the version's BPMN)
in, review, decide, licence, delivery and completion over HTTP, every step's event out on the case topic."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.common.contracts import Envelope, Topic, parse_payload
from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseDecided,
    CaseDelivered,
    CaseWithdrawn,
    CertificateIssued,
    Channel,
    StepCompleted,
    StepStarted,
)
from services.common.contracts.catalogue import ItemVersionPublished, ProcessStep
from services.common.contracts.payloads import Actor, Applicant, EventPayload, LimitUnit, TimeLimit
from services.common.principal import Role
from tests.conftest import principal_headers, wait_for

pytestmark = pytest.mark.kafka

REGION = "320102000000"
ITEM = "11320102MB0000000X4000117001"
TIMEOUT = 20.0


def bpmn_of(item: ItemVersionPublished) -> str:
    """The version's process as the catalogue publishes it (disclosure's renderer, as on publication)."""
    from services.disclosure.domain.bpmn import render_bpmn
    from services.disclosure.domain.catalogue import ItemDefinition

    fields = item.model_dump(mode="json", exclude={"occurred_at", "version", "process_bpmn"})
    return render_bpmn(ItemDefinition.model_validate(fields), item.version)


def _item() -> ItemVersionPublished:
    item = ItemVersionPublished(
        occurred_at=datetime.now(UTC), item_code=ITEM, version=1, name="食品经营许可", item_type="01",
        department="区行政审批局", region_code="320102000000",
        legal_limit=TimeLimit(value=20, unit=LimitUnit.working_days),
        promised_limit=TimeLimit(value=5, unit=LimitUnit.working_days),
        process=[
            ProcessStep(code="review", name="承办审查", role="approver",
                        limit=TimeLimit(value=3, unit=LimitUnit.working_days)),
            ProcessStep(code="decide", name="审批决定", role="department_head",
                        limit=TimeLimit(value=2, unit=LimitUnit.working_days)),
        ],
        publish_results=False,
    )
    return item.model_copy(update={"process_bpmn": bpmn_of(item)})


def _accepted(case_no: str) -> CaseAccepted:
    now = datetime.now(UTC)
    return CaseAccepted(
        occurred_at=now, case_no=case_no, item_code=ITEM, item_version=1, item_name="食品经营许可",
        item_type="01", department="区行政审批局", region_code="320102001000", channel=Channel.window,
        applicant=Applicant(applicant_type="2", name="南京某某餐饮有限公司", id_type="uscc",
                            id_number="91110000600037341L"),
        legal_limit=TimeLimit(value=20, unit=LimitUnit.working_days),
        promised_limit=TimeLimit(value=5, unit=LimitUnit.working_days),
        received_at=now, promised_due_date="2026-12-02",
        clerk=Actor(user_id="u-clerk", name="窗口甲", role="window_clerk"), receipt_no=f"SL{case_no}",
        process=_item().process, process_bpmn=_item().process_bpmn,
    )


async def _publish(bootstrap: str, prefix: str, payloads: list[EventPayload]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for payload in payloads:
            key, value, headers = Envelope.wrap(payload, source="/test").to_kafka()
            await producer.send_and_wait(payload.topic.name_with(prefix), value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _case_events(bootstrap: str, topic: str, case_no: str, expected: int) -> list[EventPayload]:
    """Reads the case topic from the start until `expected` events of this case arrived (or time runs out)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"test-{uuid.uuid4().hex[:8]}", enable_auto_commit=False)
    await consumer.start()
    found: list[EventPayload] = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and len(found) < expected:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    envelope = Envelope.from_kafka(record.key, record.value, list(record.headers))
                    if envelope.subject == case_no and envelope.source.startswith("/zwfw/approval"):
                        found.append(parse_payload(envelope))
    finally:
        await consumer.stop()
    return found



def _wait_for(what: str, probe: Callable[[], Any]) -> Any:
    return wait_for(what, probe, TIMEOUT)


def _open_task(client: TestClient, case_no: str, role: Role, step_code: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = client.get("/api/v1/approval/tasks", params={"case_no": case_no, "status": "open"},
                              headers=principal_headers(role, REGION))
        assert response.status_code == 200, response.text
        items = [t for t in response.json()["items"] if t["step_code"] == step_code]
        return items[0] if items else None

    return _wait_for(f"open {step_code} task of {case_no}", probe)


def test_review_then_decide_emits_the_case_events(service_env: Path) -> None:
    from services.approval.adapters.tables import item_version
    from services.approval.main import create_app

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = os.environ["ZWFW_TOPIC_PREFIX"]
    case_no = f"320102-20261125-{uuid.uuid4().hex[:5]}"
    withdrawn_no = f"320102-20261125-{uuid.uuid4().hex[:5]}"
    approver = principal_headers(Role.approver, REGION, subject="u-approver", name="李审查")
    head = principal_headers(Role.department_head, REGION, subject="u-head", name="王科长")

    with TestClient(create_app()) as client:
        asyncio.run(_publish(bootstrap, prefix, [_item()]))
        runtime = client.app.state.runtime  # type: ignore[attr-defined]

        def replica_has_item() -> bool:
            with runtime.session_factory() as session:
                return session.execute(select(item_version.c.version)
                                       .where(item_version.c.item_code == ITEM)).first() is not None

        # The case must open on the published process, not the default, so wait for the replica first.
        _wait_for("catalogue replica", replica_has_item)
        # The second CaseAccepted is a re-send with a new event id: it must not open a second task.
        asyncio.run(_publish(bootstrap, prefix, [_accepted(case_no), _accepted(case_no), _accepted(withdrawn_no)]))

        review = _open_task(client, case_no, Role.approver, "review")
        assert review["step_name"] == "承办审查"
        assert review["role"] == "approver"
        assert review["region_code"] == "320102001000"

        # Outside the region: the case does not exist for this caller.
        elsewhere = principal_headers(Role.approver, "320104000000")
        assert client.get(f"/api/v1/approval/cases/{case_no}", headers=elsewhere).status_code == 404
        listed = client.get("/api/v1/approval/tasks", params={"case_no": case_no}, headers=elsewhere)
        assert listed.json() == {"items": []}

        # A decision is not the review step's to take.
        early = client.post(f"/api/v1/approval/tasks/{review['task_id']}/complete", headers=approver,
                            json={"opinion": "同意", "decision": "approve"})
        assert early.status_code == 409, early.text
        assert early.json()["type"].endswith("/decision-not-allowed")

        done = client.post(f"/api/v1/approval/tasks/{review['task_id']}/complete", headers=approver,
                           json={"opinion": "材料齐全，符合条件，拟同意"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["status"] == "done" and body["case_status"] == "in_review"
        assert len(body["next_task_ids"]) == 1

        again = client.post(f"/api/v1/approval/tasks/{review['task_id']}/complete", headers=approver,
                            json={"opinion": "再次提交"})
        assert again.status_code == 409, again.text
        problem = again.json()
        assert again.headers["content-type"].startswith("application/problem+json")
        assert problem["acted_by"] == "u-approver"
        assert problem["acted_at"]

        decide = _open_task(client, case_no, Role.department_head, "decide")
        assert [decide["task_id"]] == body["next_task_ids"]
        no_decision = client.post(f"/api/v1/approval/tasks/{decide['task_id']}/complete", headers=head,
                                  json={"opinion": "同意"})
        assert no_decision.status_code == 409
        assert no_decision.json()["type"].endswith("/decision-required")
        deny_without_reasons = client.post(f"/api/v1/approval/tasks/{decide['task_id']}/complete", headers=head,
                                           json={"opinion": "不同意", "decision": "deny"})
        assert deny_without_reasons.status_code == 422

        final = client.post(f"/api/v1/approval/tasks/{decide['task_id']}/complete", headers=head,
                            json={"opinion": "同意许可", "decision": "approve"})
        assert final.status_code == 200, final.text
        assert final.json() == {"task_id": decide["task_id"], "case_no": case_no, "status": "done",
                                "next_task_ids": [], "case_status": "decided"}

        # 准予: no delivery before the licence (Art. 44), then 制证, 送达, 办结.
        early_delivery = client.post(f"/api/v1/approval/cases/{case_no}/delivery", headers=approver,
                                     json={"method": "window", "receiver": "张三"})
        assert early_delivery.status_code == 409 and early_delivery.json()["type"].endswith("/certificate-required")
        licence = client.post(f"/api/v1/approval/cases/{case_no}/certificate", headers=approver)
        assert licence.status_code == 200, licence.text
        assert licence.json()["content"]["certificate_no"] == f"XK{case_no}"
        assert len(licence.json()["content"]["verification_code"]) == 8
        served = client.post(f"/api/v1/approval/cases/{case_no}/delivery", headers=approver,
                             json={"method": "window", "receiver": "张三"})
        assert served.status_code == 200, served.text
        closed = client.post(f"/api/v1/approval/cases/{case_no}/complete", headers=approver)
        assert closed.status_code == 200, closed.text

        case = client.get(f"/api/v1/approval/cases/{case_no}", headers=approver).json()
        assert case["status"] == "completed" and case["decision"] == "approve"
        assert case["process_source"] == "catalogue" and case["allowed_actions"] == []
        assert case["item_version"] == 1
        assert [(t["step_code"], t["status"], t["assignee"]) for t in case["tasks"]] == [
            ("review", "done", "u-approver"), ("decide", "done", "u-head")]

        # A withdrawn case: its open task is cancelled and nothing more can be done on it.
        withdrawn_review = _open_task(client, withdrawn_no, Role.approver, "review")
        asyncio.run(_publish(bootstrap, prefix, [CaseWithdrawn(occurred_at=datetime.now(UTC),
                                                               case_no=withdrawn_no, reason="申请人主动撤回")]))

        def withdrawn() -> bool:
            response = client.get(f"/api/v1/approval/cases/{withdrawn_no}", headers=approver)
            return response.json()["status"] == "withdrawn"

        _wait_for("withdrawal", withdrawn)
        late = client.post(f"/api/v1/approval/tasks/{withdrawn_review['task_id']}/complete", headers=approver,
                           json={"opinion": "审查意见"})
        assert late.status_code == 409, late.text
        assert late.json()["state"] == "withdrawn"
        assert late.json()["allowed_actions"] == []

    events = asyncio.run(_case_events(bootstrap, Topic.case.name_with(prefix), case_no, expected=8))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["StepStarted", "StepCompleted", "StepStarted", "StepCompleted", "CaseDecided",
                     "CertificateIssued", "CaseDelivered", "CaseCompleted"], kinds
    started_review, completed_review, started_decide, completed_decide, decided, licensed, delivered, completed = (
        events)
    assert isinstance(licensed, CertificateIssued) and len(licensed.content_sha256) == 64
    assert isinstance(delivered, CaseDelivered) and delivered.receiver == "张三"
    assert isinstance(started_review, StepStarted) and isinstance(started_decide, StepStarted)
    assert started_review.task_id == review["task_id"]
    assert started_review.limit == TimeLimit(value=3, unit=LimitUnit.working_days)  # from the pinned version
    assert started_review.department == "区行政审批局"
    assert (started_decide.step_code, started_decide.role) == ("decide", "department_head")
    assert isinstance(completed_review, StepCompleted) and completed_review.outcome == "pass"
    assert completed_review.actor.user_id == "u-approver" and completed_review.actor.role == "approver"
    assert isinstance(completed_decide, StepCompleted) and completed_decide.outcome == "approve"
    assert isinstance(decided, CaseDecided) and decided.decision == "approve" and decided.remedy_notice == ""
    assert decided.actor.user_id == "u-head" and decided.actor.name == "王科长"
    assert isinstance(completed, CaseCompleted)
    assert (completed.result, completed.item_code, completed.region_code) == ("approve", ITEM, "320102001000")
    assert completed.publish_result is False  # the pinned version says not to publish


def test_a_retried_action_with_its_key_replays_the_first_answer(service_env: Path) -> None:
    from services.approval.main import create_app

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = os.environ["ZWFW_TOPIC_PREFIX"]
    case_no = f"320102-20261125-{uuid.uuid4().hex[:5]}"
    approver = principal_headers(Role.approver, REGION, subject="u-approver", name="李审查")
    with TestClient(create_app()) as client:
        asyncio.run(_publish(bootstrap, prefix, [_item(), _accepted(case_no)]))
        review = _open_task(client, case_no, Role.approver, "review")
        path = f"/api/v1/approval/tasks/{review['task_id']}/complete"
        keyed = approver | {"Idempotency-Key": str(uuid.uuid4())}
        first = client.post(path, headers=keyed, json={"opinion": "同意"})
        again = client.post(path, headers=keyed, json={"opinion": "同意"})
        assert first.status_code == again.status_code == 200, again.text
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert first.headers["idempotent-replayed"] == "false"
        other_body = client.post(path, headers=keyed, json={"opinion": "另一意见"})
        assert other_body.status_code == 422 and other_body.json()["type"].endswith("/idempotency-key-reused")
        unkeyed = client.post(path, headers=approver, json={"opinion": "同意"})
        assert unkeyed.status_code == 409 and unkeyed.json()["acted_by"] == "u-approver"
        case = client.get(f"/api/v1/approval/cases/{case_no}", headers=approver).json()
        assert [t["step_code"] for t in case["tasks"]] == ["review", "decide"]  # one decide task, not two
