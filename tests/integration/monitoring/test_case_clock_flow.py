"""Case events through the real broker: the clock opens, follows steps, closes and announces ClockClosed."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi.testclient import TestClient

from services.common.contracts import Envelope, Topic, parse_payload
from services.common.contracts.case import CaseAccepted, CaseCompleted, Channel, StepStarted
from services.common.contracts.payloads import Actor, Applicant, EventPayload, LimitUnit, TimeLimit
from services.common.contracts.supervision import ClockClosed
from services.common.principal import Role
from tests.conftest import principal_headers

SH = ZoneInfo("Asia/Shanghai")
REGION = "320102000000"  # 南京市玄武区
OTHER_REGION = "320205000000"  # 无锡市锡山区
TIMEOUT = 20.0


def accepted(case_no: str, region_code: str, occurred_at: datetime) -> CaseAccepted:
    return CaseAccepted(
        occurred_at=occurred_at, case_no=case_no, item_code="11320102MB0000000X4320117001000",
        item_version=2, item_name="食品经营许可（新办）", item_type="01", department="行政审批局",
        region_code=region_code, channel=Channel.window,
        applicant=Applicant(applicant_type="2", name="南京某某餐饮有限公司", id_type="uscc",
                            id_number="91110000600037341L"),
        legal_limit=TimeLimit(value=20, unit=LimitUnit.working_days),
        promised_limit=TimeLimit(value=5, unit=LimitUnit.working_days),
        received_at=occurred_at, promised_due_date="2025-10-14", clerk=Actor(user_id="clerk-1", name="窗口一"),
        receipt_no=f"SL{case_no}",
    )


def step(case_no: str, occurred_at: datetime) -> StepStarted:
    return StepStarted(occurred_at=occurred_at, case_no=case_no, step_code="review", step_name="审查",
                       task_id=f"task-{case_no}", role="approver")


async def publish(events: list[EventPayload]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], enable_idempotence=True)
    await producer.start()
    try:
        topic = Topic.case.name_with(os.environ["ZWFW_TOPIC_PREFIX"])
        for event in events:
            key, value, headers = Envelope.wrap(event, source="/test").to_kafka()
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def read_clock_closed(subject_no: str) -> tuple[Envelope, ClockClosed]:
    consumer = AIOKafkaConsumer(
        Topic.supervision.name_with(os.environ["ZWFW_TOPIC_PREFIX"]),
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    envelope = Envelope.from_kafka(record.key, record.value, list(record.headers or ()))
                    payload = parse_payload(envelope)
                    if isinstance(payload, ClockClosed) and payload.subject_no == subject_no:
                        assert record.key == subject_no.encode()
                        return envelope, payload
        raise AssertionError(f"no ClockClosed for {subject_no} on the supervision topic within {TIMEOUT}s")
    finally:
        await consumer.stop()


def poll(client: TestClient, path: str, headers: dict[str, str], done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    last: Any = None
    while time.monotonic() < deadline:
        response = client.get(path, headers=headers)
        last = (response.status_code, response.text)
        if response.status_code == 200 and done(response.json()):
            return dict(response.json())
        time.sleep(0.2)
    raise AssertionError(f"{path} did not reach the expected state in {TIMEOUT}s; last answer {last}")


@pytest.mark.kafka
def test_case_clock_closes_with_verdict_and_announces_it(service_env: Any) -> None:
    from services.monitoring.main import create_app

    suffix = uuid.uuid4().hex[:6].upper()
    done_case, late_case, far_case = f"3201022025A{suffix}", f"3201022025B{suffix}", f"3202052025C{suffix}"
    start = datetime(2025, 9, 30, 10, 0, tzinfo=SH)
    supervisor = principal_headers(Role.supervisor, REGION)

    with TestClient(create_app()) as client:
        asyncio.run(publish([
            accepted(done_case, REGION, start),
            step(done_case, datetime(2025, 10, 9, 9, 0, tzinfo=SH)),
            CaseCompleted(occurred_at=datetime(2025, 10, 10, 15, 0, tzinfo=SH), case_no=done_case,
                          item_code="11320102MB0000000X4320117001000", item_name="食品经营许可（新办）",
                          region_code=REGION, result="approve"),
            # A step seen before its case's acceptance (a consumer that started late): logged, applied later.
            step(late_case, datetime(2025, 9, 30, 11, 0, tzinfo=SH)),
            accepted(late_case, REGION, start),
            accepted(far_case, OTHER_REGION, start),
        ]))

        closed = poll(client, f"/api/v1/monitoring/cases/{done_case}", supervisor, lambda b: b["state"] == "closed")
        assert closed["verdict"] == "on_time"
        handling = next(c for c in closed["clocks"] if c["kind"] == "handling")
        promised = next(lim for lim in handling["limits"] if lim["name"] == "promised")
        # Oct 9 whole and Oct 10 until 15:00; Sep 30 (start day) and the holiday not counted.
        assert promised["used"] == pytest.approx(1.625)
        assert closed["promised_due_at"] == "2025-10-14T16:00:00+00:00"  # 2025-10-15T00:00+08:00 (domain.md §1)
        assert closed["legal_due_at"] == "2025-11-04T16:00:00+00:00"
        assert closed["provisional"] is False
        assert closed["level"] == "normal"  # the level it had when it closed
        assert closed["current_step"] is None
        assert closed["department"] == "行政审批局"
        assert [e["event_type"] for e in closed["events"]] == [
            CaseAccepted.event_type, StepStarted.event_type, CaseCompleted.event_type,
        ]
        assert datetime.fromisoformat(closed["events"][1]["occurred_at"]) == datetime(2025, 10, 9, 1, tzinfo=UTC)

        late = poll(client, f"/api/v1/monitoring/cases/{late_case}", supervisor, lambda b: True)
        assert late["state"] == "running"
        assert late["current_step"] == {"code": f"task-{late_case}", "name": "审查"}
        assert late["level"] == "severe"  # its legal limit ran out in November 2025
        assert late["verdict"] is None

        # Another region's case: found for a provincial supervisor, not found (404, not 403) for this one.
        province = principal_headers(Role.supervisor, "320000000000")
        poll(client, f"/api/v1/monitoring/cases/{far_case}", province, lambda b: b["region_code"] == OTHER_REGION)
        hidden = client.get(f"/api/v1/monitoring/cases/{far_case}", headers=supervisor)
        assert hidden.status_code == 404 and hidden.json()["type"].endswith("/case-not-found")
        forbidden = client.get(f"/api/v1/monitoring/cases/{done_case}",
                               headers=principal_headers(Role.window_clerk, REGION))
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"].startswith("application/problem+json")

        listed = client.get("/api/v1/monitoring/cases", headers=supervisor).json()
        assert {i["case_no"] for i in listed["items"]} == {done_case, late_case}
        severe = client.get("/api/v1/monitoring/cases", params={"level": "severe"}, headers=supervisor).json()
        assert [i["case_no"] for i in severe["items"]] == [late_case]
        closed_list = client.get("/api/v1/monitoring/cases", params={"state": "closed"},
                                 headers=principal_headers(Role.department_head, REGION)).json()
        assert [i["case_no"] for i in closed_list["items"]] == [done_case]
        outside = client.get("/api/v1/monitoring/cases", params={"region_code": OTHER_REGION}, headers=supervisor)
        assert outside.status_code == 200 and outside.json()["items"] == []
        bad = client.get("/api/v1/monitoring/cases", params={"level": "red"}, headers=supervisor)
        assert bad.status_code == 422

        envelope, event = asyncio.run(read_clock_closed(done_case))
        assert envelope.source == "/zwfw/monitoring"
        assert event.clock_id == f"case:{done_case}:handling"
        assert event.verdict == "on_time"
        assert event.used_working_days == pytest.approx(1.625)
        assert event.speed_up_ratio == pytest.approx((20 - 1.625) / 20, abs=1e-4)  # stored to 4 places
        assert event.occurred_at == datetime(2025, 10, 10, 15, 0, tzinfo=SH)
