"""Disclosure end to end on a real broker: an item is published to the catalogue topic, and a completed
case's result appears with the applicant masked, then disappears when the case is withdrawn."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi.testclient import TestClient

from services.common.contracts import Envelope, Topic
from services.common.contracts.bpmn import BPMN_NS, ZWFW_NS, parse_bpmn, user_tasks
from services.common.contracts.case import CaseAccepted, CaseCompleted, CaseWithdrawn, Channel
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired
from services.common.contracts.payloads import Actor, Applicant, EventPayload, LimitUnit, TimeLimit
from services.common.principal import PrincipalKind, Role
from tests.conftest import principal_headers

pytestmark = pytest.mark.kafka

RAW_NAME = "欧阳小明"
RAW_ID = "11010519491231002X"
RAW_PHONE = "13812345678"
ADMIN = principal_headers(Role.catalogue_admin, "320102000000")
PUBLIC = principal_headers(Role.public, "", kind=PrincipalKind.public, subject="anonymous")


def _item(code: str) -> dict[str, Any]:
    return {
        "item_code": code, "name": "个体工商户设立登记", "item_type": "01", "department": "玄武区市场监督管理局",
        "region_code": "320102000000", "case_type": "2",
        "legal_limit": {"value": 15, "unit": "working_days"}, "promised_limit": {"value": 3, "unit": "working_days"},
        "materials": [{"code": "M01", "name": "申请书", "originals": 1, "copies": 0},
                      {"code": "M02", "name": "经营者身份证明", "originals": 1, "copies": 1}],
        "process": [
            {"code": "review", "name": "受理审查", "role": "approver", "limit": {"value": 1, "unit": "working_days"}},
            {"code": "decide", "name": "核准决定", "role": "department_head",
             "limit": {"value": 2, "unit": "working_days"}},
        ],
    }


def _wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def _publish(bootstrap: str, topic: str, payloads: list[EventPayload]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for payload in payloads:
            key, value, headers = Envelope.wrap(payload, source="/test").to_kafka()
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _read_catalogue(bootstrap: str, topic: str, item_code: str, wanted: int,
                          within: float = 20.0) -> list[tuple[str, dict[str, Any]]]:
    """(ce_type, data) of the events about one item, in topic order, once `wanted` of them are there."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[str, dict[str, Any]]] = []
    try:
        end = asyncio.get_running_loop().time() + within
        while len(found) < wanted and asyncio.get_running_loop().time() < end:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    envelope = Envelope.from_kafka(record.key, record.value, list(record.headers))
                    if envelope.subject == item_code:
                        found.append((envelope.type, envelope.data))
    finally:
        await consumer.stop()
    return found


def test_catalogue_and_public_results_flow(service_env: Path) -> None:
    from services.disclosure.main import create_app

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = os.environ["ZWFW_TOPIC_PREFIX"]
    item_code = f"320102000000-01-{uuid.uuid4().hex[:6]}"
    case_no = f"320102-20260302-{uuid.uuid4().hex[:5]}"
    now = datetime.now(UTC)

    with TestClient(create_app()) as client:
        # ---- catalogue: create, refuse a second draft, publish, a second version retires the first ----
        refused = client.post("/api/v1/catalogue/items", headers=ADMIN,
                              json=_item(item_code) | {"promised_limit": {"value": 20, "unit": "working_days"}})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "promised_limit"
        assert "承诺时限" in refused.json()["detail"]
        foreign = client.post("/api/v1/catalogue/items", headers=principal_headers(Role.catalogue_admin,
                                                                                   "320104000000"),
                              json=_item(item_code))
        assert foreign.status_code == 403
        assert client.post("/api/v1/catalogue/items", headers=PUBLIC, json=_item(item_code)).status_code == 403

        created = client.post("/api/v1/catalogue/items", headers=ADMIN, json=_item(item_code))
        assert created.status_code == 201, created.text
        assert (created.json()["version"], created.json()["status"]) == (1, "draft")
        again = client.post("/api/v1/catalogue/items", headers=ADMIN, json=_item(item_code))
        assert again.status_code == 409 and again.json()["type"].endswith("/draft-exists")
        assert client.get(f"/api/v1/catalogue/items/{item_code}", headers=PUBLIC).status_code == 404

        published = client.post(f"/api/v1/catalogue/items/{item_code}/publish", headers=ADMIN)
        assert published.status_code == 200, published.text
        assert published.json()["status"] == "published"
        assert client.post(f"/api/v1/catalogue/items/{item_code}/publish", headers=ADMIN).status_code == 409

        client.post("/api/v1/catalogue/items", headers=ADMIN,
                    json=_item(item_code) | {"name": "个体工商户设立登记（一件事）",
                                             "change_reason": "纳入“一件事”改革，事项更名"}).raise_for_status()
        client.post(f"/api/v1/catalogue/items/{item_code}/publish", headers=ADMIN).raise_for_status()

        current = client.get(f"/api/v1/catalogue/items/{item_code}", headers=PUBLIC).json()
        assert (current["version"], current["name"]) == (2, "个体工商户设立登记（一件事）")
        assert client.get(f"/api/v1/catalogue/items/{item_code}/versions/1",
                          headers=PUBLIC).json()["status"] == "retired"
        # A county item is offered in its townships, not in a neighbouring county.
        in_township = client.get("/api/v1/catalogue/items", headers=PUBLIC,
                                 params={"region_code": "320102001000", "q": "一件事"}).json()["items"]
        assert [i["item_code"] for i in in_township] == [item_code]
        elsewhere = client.get("/api/v1/catalogue/items", headers=PUBLIC,
                               params={"region_code": "320104001000"}).json()["items"]
        assert elsewhere == []

        events = asyncio.run(_read_catalogue(bootstrap, Topic.catalogue.name_with(prefix), item_code, wanted=3))
        assert [t for t, _ in events] == [ItemVersionPublished.event_type, ItemVersionRetired.event_type,
                                          ItemVersionPublished.event_type]
        first = ItemVersionPublished.model_validate(events[0][1])
        assert (first.item_code, first.version, first.promised_limit.value) == (item_code, 1, 3)
        assert [m.code for m in first.materials] == ["M01", "M02"]
        assert ItemVersionRetired.model_validate(events[1][1]).version == 1
        second = ItemVersionPublished.model_validate(events[2][1])
        assert second.version == 2
        # Each version carries its process as executable BPMN, which reads back to the same steps.
        for event in (first, second):
            assert 'isExecutable="true"' in event.process_bpmn
            parsed = parse_bpmn(event.process_bpmn)
            assert parsed.steps == event.process
            assert (parsed.item_code, parsed.name) == (item_code, event.name)
            assert ET.fromstring(event.process_bpmn).find(f"{{{BPMN_NS}}}process").get(
                f"{{{ZWFW_NS}}}version") == str(event.version)
        assert [(t.step_code, t.order) for t in user_tasks(second.process_bpmn).values() if t.kind == "step"] == [
            ("review", 0), ("decide", 1)]

        # ---- public results: accepted + completed for a natural person ------------------------------------
        limit = TimeLimit(value=3, unit=LimitUnit.working_days)
        accepted = CaseAccepted(
            occurred_at=now - timedelta(days=2), case_no=case_no, item_code=item_code, item_version=2,
            item_name="个体工商户设立登记（一件事）", item_type="01", department="玄武区市场监督管理局",
            region_code="320102001000", channel=Channel.township,
            applicant=Applicant(applicant_type="1", name=RAW_NAME, id_type="resident_id", id_number=RAW_ID,
                                phone=RAW_PHONE),
            legal_limit=TimeLimit(value=15, unit=LimitUnit.working_days), promised_limit=limit,
            received_at=now - timedelta(days=2), promised_due_date="2026-03-05",
            clerk=Actor(user_id="clerk-1", name="窗口一"), receipt_no=f"SL{case_no}",
        )
        completed = CaseCompleted(
            occurred_at=now, case_no=case_no, item_code=item_code, item_name="个体工商户设立登记（一件事）",
            region_code="320102001000", result="approve", result_summary="准予登记，核发营业执照",
        )
        # A case disclosure never saw accepted is still published, with the applicant unknown.
        orphan_no = f"{case_no}-orphan"
        orphan = CaseCompleted(occurred_at=now - timedelta(hours=1), case_no=orphan_no, item_code=item_code,
                               item_name="个体工商户设立登记（一件事）", region_code="320102000000", result="deny")
        case_topic = Topic.case.name_with(prefix)
        asyncio.run(_publish(bootstrap, case_topic, [accepted, completed, orphan]))

        def result_shown() -> Any:
            r = client.get(f"/api/v1/results/{case_no}", headers=PUBLIC)
            return r if r.status_code == 200 else None

        shown = _wait_for(result_shown, "the public result")
        body = shown.json()
        assert body["applicant_name_masked"] == "欧**明"
        assert body["applicant_id_masked"] == "1101**********002X"
        assert (body["result"], body["result_label"], body["item_code"]) == ("approve", "准予许可", item_code)
        for raw in (RAW_ID, RAW_NAME, RAW_PHONE):
            assert raw not in shown.text
        # Whatever a caller asks for, a public answer carries the masked values only.
        for params in ({"unmask": "true"}, {"fields": "applicant_name,applicant_id"}, {"raw": "1", "debug": "1"}):
            for url in (f"/api/v1/results/{case_no}", "/api/v1/results"):
                answer = client.get(url, headers=PUBLIC, params=params)
                assert answer.status_code == 200 and "欧**明" in answer.text
                assert not any(raw in answer.text for raw in (RAW_ID, RAW_NAME, RAW_PHONE)), (url, params)

        orphan_body = _wait_for(
            lambda: (r := client.get(f"/api/v1/results/{orphan_no}", headers=PUBLIC)).status_code == 200 and r,
            "the orphan result").json()
        assert (orphan_body["applicant_name_masked"], orphan_body["applicant_id_masked"]) == ("—", "—")

        listed = client.get("/api/v1/results", headers=PUBLIC,
                            params={"region_code": "320102000000", "item_code": item_code})
        assert [r["case_no"] for r in listed.json()["items"]] == [case_no, orphan_no]  # newest first
        assert RAW_ID not in listed.text and RAW_NAME not in listed.text
        township_only = client.get("/api/v1/results", headers=PUBLIC,
                                   params={"region_code": "320102001000"}).json()["items"]
        assert [r["case_no"] for r in township_only] == [case_no]
        # The API's days are Asia/Shanghai days (UTC+8): the UTC date is yesterday there from 16:00 UTC on.
        today = now.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
        assert client.get("/api/v1/results", headers=PUBLIC,
                          params={"from": "2000-01-01", "to": "2000-01-02"}).json()["items"] == []
        assert len(client.get("/api/v1/results", headers=PUBLIC,
                              params={"from": "2000-01-01", "to": today}).json()["items"]) >= 1

        # Disclosure never stored the raw applicant: not in the database file, not in its WAL.
        for db_file in service_env.glob("disclosure.db*"):
            data = db_file.read_bytes()
            for raw in (RAW_ID, RAW_NAME, RAW_PHONE):
                assert raw.encode() not in data, f"raw applicant data in {db_file.name}"
                assert json.dumps(raw).encode() not in data

        # ---- withdrawal removes the result from every list ------------------------------------------------
        asyncio.run(_publish(bootstrap, case_topic, [
            CaseWithdrawn(occurred_at=datetime.now(UTC), case_no=case_no, reason="申请人撤回"),
        ]))
        _wait_for(lambda: client.get(f"/api/v1/results/{case_no}", headers=PUBLIC).status_code == 404,
                  "the withdrawn result to disappear")
        remaining = client.get("/api/v1/results", headers=PUBLIC, params={"item_code": item_code}).json()["items"]
        assert [r["case_no"] for r in remaining] == [orphan_no]
