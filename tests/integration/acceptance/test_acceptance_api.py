"""Acceptance over real HTTP, a real SQLite file and the session Kafka broker.

An item version is published to the catalogue topic; once acceptance's replica holds it, applications
are accepted with a receipt (CaseAccepted out on the case topic), answered with a one-time notice of
everything missing (CaseReceived + SupplementRequested), or refused without leaving a trace.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi.testclient import TestClient

from services.common.contracts import Envelope, Topic, parse_payload
from services.common.contracts.case import CaseAccepted, CaseReceived, SupplementRequested
from services.common.contracts.catalogue import ItemVersionPublished, MaterialSpec
from services.common.contracts.payloads import EventPayload, LimitUnit, TimeLimit
from services.common.principal import PRINCIPAL_HEADER, Role
from services.common.workdays import SHANGHAI, WorkingDayCalendar, deadline
from tests.conftest import principal_headers, wait_for

pytestmark = pytest.mark.kafka

TIMEOUT = 20.0
COUNTY = "320102000000"  # the item's region and the clerk's scope
TOWNSHIP = "320102001000"  # where the cases are handled, inside the county
CLERK = principal_headers(Role.window_clerk, COUNTY, subject="u-clerk", name="窗口甲")
ITEM_VERSION = 2  # not 1, so a default cannot pass for the pinned version
LEGAL = TimeLimit(value=20, unit=LimitUnit.working_days, note="法定20个工作日")
PROMISED = TimeLimit(value=5, unit=LimitUnit.working_days, note="承诺5个工作日")
MATERIALS = [
    MaterialSpec(code="M01", name="申请书", originals=1, copies=0),
    MaterialSpec(code="M02", name="经营者身份证明", originals=1, copies=1),
    MaterialSpec(code="M03", name="委托书", required=False, originals=1, copies=0),  # 视情形提供
    MaterialSpec(code="M04", name="经营场所证明", originals=0, copies=1),
]
COMPLETE = [
    {"code": "M01", "originals": 1, "copies": 0},
    {"code": "M02", "originals": 1, "copies": 1},
    {"code": "M04", "originals": 0, "copies": 2},
]
PERSON = {"applicant_type": "1", "name": "欧阳小明", "id_type": "resident_id", "id_number": "11010519491231002x",
          "phone": "13812345678"}
COMPANY = {"applicant_type": "2", "name": "南京某某餐饮有限公司", "id_type": "uscc",
           "id_number": "91110000600037341L"}
CJK = re.compile(r"[\u4e00-\u9fff]")
TRACKED_TABLES = ("case_record", "outbox", "case_sequence")


@dataclass
class Acceptance:
    client: TestClient
    db: Path
    bootstrap: str
    prefix: str
    item_code: str

    def application(self, materials: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
        body = {"item_code": self.item_code, "region_code": TOWNSHIP, "channel": "window", "applicant": COMPANY,
                "materials": COMPLETE if materials is None else materials}
        return body | changes

    def submit(self, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post("/api/v1/applications", json=body or self.application(),
                                headers=CLERK if headers is None else headers)

    def counts(self) -> dict[str, int]:
        with sqlite3.connect(self.db) as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TRACKED_TABLES}

    def outbox_types(self, key: str) -> list[str]:
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute("SELECT event_type FROM outbox WHERE key = ? ORDER BY id", (key,)).fetchall()
        return [r[0] for r in rows]


def _item(item_code: str) -> ItemVersionPublished:
    return ItemVersionPublished(
        occurred_at=datetime.now(UTC), item_code=item_code, version=ITEM_VERSION, name="食品经营许可",
        item_type="01", department="区行政审批局", region_code=COUNTY, legal_limit=LEGAL,
        promised_limit=PROMISED, materials=MATERIALS,
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


async def _case_events(bootstrap: str, topic: str, case_no: str, expected: int,
                       linger: float = 1.0) -> list[tuple[bytes | None, Envelope, EventPayload]]:
    """(key, envelope, payload) of acceptance's events about one case, in topic order.

    Reads until `expected` arrived, then a little longer so an unexpected extra event is seen too."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"test-{uuid.uuid4().hex[:8]}", enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[bytes | None, Envelope, EventPayload]] = []
    try:
        end = time.monotonic() + TIMEOUT
        lingering_until: float | None = None
        while time.monotonic() < end:
            if lingering_until is None and len(found) >= expected:
                lingering_until = time.monotonic() + linger
            if lingering_until is not None and time.monotonic() >= lingering_until:
                break
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    envelope = Envelope.from_kafka(record.key, record.value, list(record.headers))
                    if envelope.subject == case_no and envelope.source == "/zwfw/acceptance":
                        found.append((record.key, envelope, parse_payload(envelope)))
    finally:
        await consumer.stop()
    return found



def _wait_for(what: str, probe: Callable[[], Any]) -> Any:
    return wait_for(what, probe, TIMEOUT)


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem = response.json()
    assert problem["status"] == status, problem
    assert isinstance(problem["detail"], str) and CJK.search(problem["detail"]), problem
    return problem


def _working_days_after(start: date, n: int) -> date:
    """The N-th official working day after `start`, stepping chinese_calendar day by day (no index)."""
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        counted += chinese_calendar.is_workday(day)
    return day


@pytest.fixture
def acceptance(service_env: Path) -> Iterator[Acceptance]:
    from services.acceptance.main import create_app

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = os.environ["ZWFW_TOPIC_PREFIX"]
    item_code = f"11320102MB0000000X-{uuid.uuid4().hex[:8]}"
    with TestClient(create_app()) as client:
        service = Acceptance(client, service_env / "acceptance.db", bootstrap, prefix, item_code)
        asyncio.run(_publish(bootstrap, prefix, [_item(item_code)]))

        # An unknown material is refused only after the item was found, and leaves nothing behind.
        def replica_has_item() -> bool:
            probe = service.submit(service.application([{"code": "M99", "originals": 1}]))
            assert probe.status_code in (404, 422), probe.text
            return probe.status_code != 404

        _wait_for("the catalogue replica", replica_has_item)
        yield service


def test_complete_application_is_accepted_with_a_receipt(acceptance: Acceptance) -> None:
    before = datetime.now(UTC)
    response = acceptance.submit(acceptance.application(applicant=PERSON))
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    body = response.json()
    case_no = body["case_no"]
    assert body["outcome"] == "accepted" and body["status"] == "accepted"
    assert response.headers["location"] == f"/api/v1/applications/{case_no}"
    assert (body["item_code"], body["item_version"]) == (acceptance.item_code, ITEM_VERSION)
    assert body["document_no"] == f"SL{case_no}"  # 受理凭证
    assert body["missing"] == []

    received_at = datetime.fromisoformat(body["received_at"])
    assert before - timedelta(seconds=1) <= received_at <= after + timedelta(seconds=1)
    local_day = received_at.astimezone(SHANGHAI).date()
    assert re.fullmatch(rf"320102001-{local_day:%Y%m%d}-\d{{5}}", case_no), case_no

    # The working-day rule: the day of receipt is not counted; due on the 5th working day after it.
    expected = deadline(received_at, PROMISED, WorkingDayCalendar()).due_date_local
    assert body["promised_due_date"] == expected.isoformat()
    # An independent check, straight from the official calendar, in the years it covers.
    try:
        independent = _working_days_after(local_day, PROMISED.value)
    except NotImplementedError:  # a year chinese_calendar does not know yet
        independent = None
    if independent is not None:
        assert body["promised_due_date"] == independent.isoformat()
    assert body["promised_due_date"] in body["message"] and case_no in body["message"]

    fetched = acceptance.client.get(f"/api/v1/applications/{case_no}", headers=CLERK)
    assert fetched.status_code == 200, fetched.text
    got = fetched.json()
    for field in ("case_no", "outcome", "status", "document_no", "item_code", "item_version",
                  "promised_due_date", "missing"):
        assert got[field] == body[field], field
    assert datetime.fromisoformat(got["received_at"]) == received_at

    events = asyncio.run(_case_events(acceptance.bootstrap, Topic.case.name_with(acceptance.prefix), case_no, 1))
    assert [type(p).__name__ for _, _, p in events] == ["CaseAccepted"], events
    key, envelope, accepted = events[0]
    assert key == case_no.encode()
    assert isinstance(accepted, CaseAccepted)
    assert (accepted.case_no, accepted.item_code, accepted.item_version) == (case_no, acceptance.item_code,
                                                                             ITEM_VERSION)
    assert (accepted.legal_limit, accepted.promised_limit) == (LEGAL, PROMISED)
    assert (accepted.item_name, accepted.item_type, accepted.department) == ("食品经营许可", "01", "区行政审批局")
    assert accepted.region_code == TOWNSHIP
    assert accepted.promised_due_date == body["promised_due_date"]
    assert accepted.receipt_no == body["document_no"]
    assert accepted.received_at == received_at
    assert accepted.applicant.id_number == "11010519491231002X"  # normalised to upper case
    assert [(m.code, m.name, m.originals, m.copies) for m in accepted.materials] == [
        ("M01", "申请书", 1, 0), ("M02", "经营者身份证明", 1, 1), ("M04", "经营场所证明", 0, 2)]
    assert (accepted.clerk.user_id, accepted.clerk.role) == ("u-clerk", "window_clerk")
    assert envelope.type == CaseAccepted.event_type


def test_incomplete_application_lists_everything_missing_at_once(acceptance: Acceptance) -> None:
    materials = [
        {"code": "M01", "originals": 1},  # complete
        {"code": "M02", "originals": 0, "copies": 0},  # short on both counts
        # M03 is conditional: not listed. M04 not brought at all.
    ]
    response = acceptance.submit(acceptance.application(materials))
    assert response.status_code == 201, response.text
    body = response.json()
    case_no = body["case_no"]
    assert body["outcome"] == "supplement_requested" and body["status"] == "supplement_requested"
    assert body["document_no"] == f"BZ{case_no}"  # 补正告知书
    assert body["promised_due_date"] is None and body["accepted_at"] is None
    expected_missing = [
        {"code": "M02", "name": "经营者身份证明", "reason": "原件需1份，已交0份；复印件需1份，已交0份"},
        {"code": "M04", "name": "经营场所证明", "reason": "未提交"},
    ]
    assert body["missing"] == expected_missing
    assert "经营者身份证明" in body["message"] and "经营场所证明" in body["message"]

    fetched = acceptance.client.get(f"/api/v1/applications/{case_no}", headers=CLERK)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["missing"] == expected_missing
    assert fetched.json()["outcome"] == "supplement_requested"

    events = asyncio.run(_case_events(acceptance.bootstrap, Topic.case.name_with(acceptance.prefix), case_no, 2))
    assert [type(p).__name__ for _, _, p in events] == ["CaseReceived", "SupplementRequested"], events
    assert all(key == case_no.encode() for key, _, _ in events)
    received, notice = events[0][2], events[1][2]
    assert isinstance(received, CaseReceived) and isinstance(notice, SupplementRequested)
    assert (received.item_code, received.item_version, received.region_code) == (acceptance.item_code,
                                                                                  ITEM_VERSION, TOWNSHIP)
    assert (notice.stage, notice.notice_no) == ("acceptance", body["document_no"])
    assert [m.model_dump() for m in notice.missing] == expected_missing
    assert acceptance.outbox_types(case_no) == [CaseReceived.event_type, SupplementRequested.event_type]


def test_refused_requests_leave_nothing_behind(acceptance: Acceptance) -> None:
    # One case first, so the tables hold rows an erroneous write or rollback would show against.
    assert acceptance.submit().status_code == 201
    _wait_for("the first case's event relayed", lambda: acceptance.counts()["outbox"] == 1)

    bad_check_digit = PERSON | {"id_number": "110105194912310021"}
    person_with_credit_code = COMPANY | {"applicant_type": "1"}
    json_type = {"content-type": "application/json"}
    refusals: list[tuple[str, int, Callable[[], Any], str | None]] = [
        ("resident id check digit", 422,
         lambda: acceptance.submit(acceptance.application(applicant=bad_check_digit)), "validation-error"),
        ("natural person with a credit code", 422,
         lambda: acceptance.submit(acceptance.application(applicant=person_with_credit_code)), "validation-error"),
        ("unknown material", 422,
         lambda: acceptance.submit(acceptance.application([*COMPLETE, {"code": "M99", "originals": 1}])),
         "unknown-materials"),
        ("item not published", 404,
         lambda: acceptance.submit(acceptance.application(item_code=f"{acceptance.item_code}-nope")),
         "item-not-found"),
        ("region outside the clerk's scope", 404,
         lambda: acceptance.submit(acceptance.application(region_code="320104001000")), "item-not-found"),
        ("approver may not accept", 403,
         lambda: acceptance.submit(headers=principal_headers(Role.approver, COUNTY)), "forbidden"),
        ("no identity", 401,
         lambda: acceptance.client.post("/api/v1/applications", json=acceptance.application(), headers={}),
         "unauthenticated"),
        ("forged identity", 401,
         lambda: acceptance.submit(headers={PRINCIPAL_HEADER: CLERK[PRINCIPAL_HEADER][:-4] + "AAAA"}),
         "invalid-principal"),
        ("malformed JSON", 422,
         lambda: acceptance.client.post("/api/v1/applications", content=b'{"item_code": "x", ',
                                        headers=CLERK | json_type), "validation-error"),
    ]
    for what, status, call, slug in refusals:
        before = acceptance.counts()
        problem = _assert_problem(call(), status)
        if slug is not None:
            assert problem["type"].endswith(f"/{slug}"), (what, problem)
        assert acceptance.counts() == before, what

    # The refusals say what is wrong, in the applicant's terms.
    detail = acceptance.submit(acceptance.application(applicant=bad_check_digit)).json()
    assert any("校验码" in e["message"] for e in detail["errors"]), detail
    unknown = acceptance.submit(acceptance.application([{"code": "M99", "originals": 1}])).json()
    assert unknown["unknown_materials"] == ["M99"] and "M99" in unknown["detail"]


def test_another_regions_clerk_cannot_see_the_case(acceptance: Acceptance) -> None:
    response = acceptance.submit()
    assert response.status_code == 201, response.text
    case_no = response.json()["case_no"]
    assert acceptance.client.get(f"/api/v1/applications/{case_no}", headers=CLERK).status_code == 200
    township_clerk = principal_headers(Role.window_clerk, TOWNSHIP)
    assert acceptance.client.get(f"/api/v1/applications/{case_no}", headers=township_clerk).status_code == 200

    elsewhere = acceptance.client.get(f"/api/v1/applications/{case_no}",
                                      headers=principal_headers(Role.window_clerk, "320104000000"))
    problem = _assert_problem(elsewhere, 404)  # not 403: the case does not exist for this caller
    assert problem["type"].endswith("/case-not-found")
    assert "320102" not in elsewhere.text.replace(case_no, "")  # nothing about the case leaks
    missing = acceptance.client.get("/api/v1/applications/320102001-20000101-99999", headers=CLERK)
    assert _assert_problem(missing, 404)["type"] == problem["type"]  # indistinguishable from absent


def test_case_numbers_stay_unique_under_concurrency(acceptance: Acceptance) -> None:
    before = acceptance.counts()

    def submit(i: int) -> Any:
        materials = COMPLETE if i % 2 else COMPLETE[:1]  # accepted and supplement-requested interleaved
        return acceptance.submit(acceptance.application(materials))

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(submit, range(20)))
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses if r.status_code != 201]
    numbers = [r.json()["case_no"] for r in responses]
    assert len(set(numbers)) == 20, sorted(numbers)
    sequences = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert sequences == list(range(sequences[0], sequences[0] + 20)), sequences  # no gaps, no repeats
    after = acceptance.counts()
    assert after["case_record"] == before["case_record"] + 20
    assert after["outbox"] == before["outbox"] + 10 * 1 + 10 * 2  # CaseAccepted, or CaseReceived + notice
    for number in numbers:
        assert acceptance.client.get(f"/api/v1/applications/{number}", headers=CLERK).status_code == 200
