"""依申请公开 over real HTTP, a real SQLite file and the real broker: submission and receipt, who may act,
the state machine's 409s, the fee by count, withdrawal with the receipt's code, unique request numbers
under concurrency, and the events on the request topic — fed to monitoring's own clock rules, which must
arrive at the due date the receipt printed."""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from fastapi.testclient import TestClient

from services.common.contracts import Envelope, Topic
from services.common.contracts.disclosure import (
    ConsultationEnded,
    ConsultationStarted,
    RequestAnswered,
    RequestExtended,
    RequestReceived,
    RequestSupplemented,
    RequestSupplementRequested,
    RequestWithdrawn,
)
from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.contracts.registry import parse_payload
from services.common.principal import PrincipalKind, Role
from services.common.workdays import SHANGHAI, WorkingDayCalendar, deadline
from services.monitoring.domain.subjects import Recorded, request_subject
from tests.conftest import principal_headers

pytestmark = pytest.mark.kafka

REGION = "320102000000"
AGENCY = "玄武区人民政府办公室"
OFFICER = principal_headers(Role.disclosure_officer, REGION, department="区政府办公室", subject="officer-1")
OTHER_COUNTY = principal_headers(Role.disclosure_officer, "320104000000", subject="officer-2")
CLERK = principal_headers(Role.window_clerk, REGION)
PUBLIC = principal_headers(Role.public, "", kind=PrincipalKind.public, subject="anonymous")
BASE = "/api/v1/information-requests"


def _request(id_number: str = "11010519491231002X", **changes: Any) -> dict[str, Any]:
    body = {"region_code": REGION, "agency": AGENCY, "information_wanted": "2025年玄武大道改造工程的立项批复",
            "applicant": {"kind": "natural_person", "name": "张三", "id_number": id_number, "phone": "13812345678"}}
    return body | changes


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    return body


async def _read_requests(bootstrap: str, topic: str, wanted: int, within: float = 20.0) -> list[Envelope]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[Envelope] = []
    try:
        end = asyncio.get_running_loop().time() + within
        while len(found) < wanted and asyncio.get_running_loop().time() < end:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(Envelope.from_kafka(r.key, r.value, list(r.headers)) for r in records)
    finally:
        await consumer.stop()
    return found


def test_request_lifecycle_events_and_rules(service_env: Path) -> None:
    from services.disclosure.main import create_app

    bootstrap, prefix = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["ZWFW_TOPIC_PREFIX"]
    calendar = WorkingDayCalendar()
    with TestClient(create_app()) as client:
        # ---- anyone submits online; the receipt prints the date of receipt and the reply due date ----
        submitted = client.post(BASE, headers=PUBLIC, json=_request())
        assert submitted.status_code == 201, submitted.text
        receipt = submitted.json()
        a = receipt["request_no"]
        received_at = datetime.fromisoformat(receipt["received_at"])
        assert a.startswith(f"320102-GK-{received_at.astimezone(SHANGHAI):%Y%m%d}-")
        expected_due = deadline(received_at, TimeLimit(value=20, unit=LimitUnit.working_days), calendar)
        assert receipt["receipt_date"] == received_at.astimezone(SHANGHAI).date().isoformat()
        assert receipt["reply_due_date"] == expected_due.due_date_local.isoformat()
        assert receipt["access_code"] and "applicant" not in receipt

        # ---- the public may submit, not act; other roles and regions are refused ----
        _problem(client.post(f"{BASE}/{a}/consultations", headers=PUBLIC, json={"party": "某公司"}),
                 401, "unauthenticated")
        _problem(client.post(f"{BASE}/{a}/consultations", headers=CLERK, json={"party": "某公司"}), 403, "forbidden")
        _problem(client.post(f"{BASE}/{a}/consultations", headers=OTHER_COUNTY, json={"party": "某公司"}),
                 404, "request-not-found")
        _problem(client.get(f"{BASE}/{a}", headers=PUBLIC), 401, "unauthenticated")
        _problem(client.post(BASE, headers=PUBLIC, json=_request(channel="in_person")), 403, "channel-for-officers")
        _problem(client.post(BASE, headers=PUBLIC, json=_request(extra="x")), 422, "validation-error")
        _problem(client.post(BASE, headers=PUBLIC, json=_request(information_wanted="x" * 4001)),
                 422, "validation-error")

        # ---- consultation, the state machine, one bounded extension, the reply ----
        consulted = client.post(f"{BASE}/{a}/consultations", headers=OFFICER,
                                json={"party": "江苏某建设有限公司", "party_kind": "third_party"})
        assert consulted.status_code == 201, consulted.text
        assert consulted.json()["state"] == "consulting" and consulted.json()["reply_due_date"] is None
        assert consulted.json()["clock_paused"] is True
        wrong = _problem(client.post(f"{BASE}/{a}/reply", headers=OFFICER, json={"reply_type": "disclosed"}),
                         409, "wrong-state")
        assert wrong["state"] == "consulting"
        assert wrong["allowed_actions"] == ["end_consultation", "extend", "start_consultation", "withdraw"]
        _problem(client.post(f"{BASE}/{a}/consultations/c1/end", headers=OFFICER, json={"outcome": "no_answer"}),
                 409, "consultation-period-running")
        ended = client.post(f"{BASE}/{a}/consultations/c1/end", headers=OFFICER,
                            json={"outcome": "objection", "answer": "涉及商业秘密"})
        assert ended.status_code == 200 and ended.json()["state"] == "in_progress"
        _problem(client.post(f"{BASE}/{a}/extension", headers=OFFICER,
                             json={"working_days": 21, "reason": "需要协调", "approved_by": "王主任"}),
                 422, "extension-too-long")
        extended = client.post(f"{BASE}/{a}/extension", headers=OFFICER,
                               json={"working_days": 10, "reason": "需要协调多个部门", "approved_by": "王主任"})
        assert extended.status_code == 200, extended.text
        assert extended.json()["limit_working_days"] == 30
        due_after_extension = extended.json()["reply_due_at"]
        again = _problem(client.post(f"{BASE}/{a}/extension", headers=OFFICER,
                                     json={"working_days": 1, "reason": "x", "approved_by": "王主任"}),
                         409, "already-extended")
        assert again["state"] == "in_progress"
        _problem(client.post(f"{BASE}/{a}/reply", headers=OFFICER, json={"reply_type": "partially_disclosed"}),
                 422, "reasons-missing")
        replied = client.post(f"{BASE}/{a}/reply", headers=OFFICER, json={
            "reply_type": "partially_disclosed", "reasons": "第三方商业秘密部分不予公开（条例第十五条）",
            "grounds": ["third_party_rights"]})
        assert replied.status_code == 200, replied.text
        assert replied.json()["state"] == "answered" and replied.json()["reply"]["late"] is False
        _problem(client.post(f"{BASE}/{a}/withdraw", headers=OFFICER, json={"reason": "x"}), 409, "wrong-state")
        detail = client.get(f"{BASE}/{a}", headers=OFFICER).json()
        assert detail["applicant"]["id_number"] == "11010519491231002X" and detail["allowed_actions"] == []

        # ---- a request signed for long ago: the 7-working-day window for a supplement notice is over ----
        signed = (datetime.now(UTC) - timedelta(days=30)).isoformat()
        posted = client.post(BASE, headers=OFFICER, json=_request(channel="registered_post", signed_for_at=signed))
        assert posted.status_code == 201 and posted.json()["received_at"].startswith(signed[:16])
        _problem(client.post(BASE, headers=OFFICER, json=_request(channel="registered_post")),
                 422, "receipt-evidence-missing")
        _problem(client.post(f"{BASE}/{posted.json()['request_no']}/supplement-notice", headers=OFFICER,
                             json={"what": "请写明文号", "supply_within": {"value": 10}}),
                 409, "supplement-notice-too-late")

        # ---- supplement: one notice, the clock restarts; then the applicant withdraws with the code ----
        c_receipt = client.post(BASE, headers=PUBLIC, json=_request()).json()
        c = c_receipt["request_no"]
        noticed = client.post(f"{BASE}/{c}/supplement-notice", headers=OFFICER,
                              json={"what": "请写明所需文件的名称或文号", "supply_within": {"value": 10}})
        assert noticed.status_code == 200 and noticed.json()["state"] == "awaiting_supplement"
        _problem(client.post(f"{BASE}/{c}/supplement-lapsed", headers=OFFICER), 409, "supply-period-running")
        supplied = client.post(f"{BASE}/{c}/supplement", headers=OFFICER, json={"note": "已补充文号"})
        assert supplied.status_code == 200 and supplied.json()["state"] == "in_progress"
        _problem(client.post(f"{BASE}/{c}/supplement-notice", headers=OFFICER,
                             json={"what": "再补", "supply_within": {"value": 5}}), 409, "supplement-already-requested")
        _problem(client.post(f"{BASE}/{c}/withdraw", headers=PUBLIC, json={"access_code": "wrong"}),
                 403, "access-code-invalid")
        _problem(client.post(f"{BASE}/{c}/withdraw", headers=PUBLIC, json={}), 401, "unauthenticated")
        withdrawn = client.post(f"{BASE}/{c}/withdraw", headers=PUBLIC,
                                json={"access_code": c_receipt["access_code"], "reason": "已通过其他途径获取"})
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json() == {"request_no": c, "state": "withdrawn", "state_label": "已撤回",
                                    "withdrawn_at": withdrawn.json()["withdrawn_at"]}

        # ---- the events, read off the topic ----
        envelopes = asyncio.run(_read_requests(bootstrap, Topic.disclosure_request.name_with(prefix), wanted=10))
    by_request: dict[str, list[Envelope]] = {}
    for envelope in envelopes:
        by_request.setdefault(envelope.subject, []).append(envelope)
    assert [e.type for e in by_request[a]] == [
        RequestReceived.event_type, ConsultationStarted.event_type, ConsultationEnded.event_type,
        RequestExtended.event_type, RequestAnswered.event_type]
    assert [e.type for e in by_request[c]] == [
        RequestReceived.event_type, RequestSupplementRequested.event_type, RequestSupplemented.event_type,
        RequestWithdrawn.event_type]
    received = parse_payload(by_request[a][0])
    assert isinstance(received, RequestReceived)
    assert (received.region_code, received.agency, received.receipt_channel) == (REGION, AGENCY, "online")
    assert "张三" not in str([e.data for e in envelopes])  # the applicant's personal data never leaves
    answered = parse_payload(by_request[a][-1])
    assert isinstance(answered, RequestAnswered) and answered.reply_type == "partially_disclosed"
    assert answered.actor.user_id == "officer-1"

    # Monitoring's clock, built from exactly these events, holds the request to the date we printed.
    subject = request_subject([Recorded(e.id, parse_payload(e), e.recorded_at) for e in by_request[a]])
    clock = subject.clocks[f"request:{a}:reply"]
    assert subject.contradictions == []
    assert clock.end_reason == "answered"
    held_to = clock.deadline(clock.limits[0], calendar)
    assert held_to is not None and held_to.due_at == datetime.fromisoformat(due_after_extension)
    withdrawn_clock = request_subject([Recorded(e.id, parse_payload(e), e.recorded_at) for e in by_request[c]])
    assert withdrawn_clock.clocks[f"request:{c}:reply"].end_reason == "withdrawn"
    assert withdrawn_clock.clocks[f"request:{c}:reply"].restarts  # the supplement restarted it


def test_fee_by_count_and_unique_numbers_under_concurrency(service_env: Path) -> None:
    from services.disclosure.main import create_app

    with TestClient(create_app()) as client:
        # Sixteen submissions at once: every request gets its own number, the day's sequence has no gap.
        def submit(i: int) -> str:
            response = client.post(BASE, headers=PUBLIC, json=_request(id_number=f"32010219800101{i:04d}"))
            assert response.status_code == 201, response.text
            return str(response.json()["request_no"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            numbers = list(pool.map(submit, range(16)))
        assert len(set(numbers)) == 16
        assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 17))

        # One applicant's 11 requests this month: the 11th may be charged ¥100 by count, the 1st nothing.
        own = [client.post(BASE, headers=PUBLIC, json=_request(id_number="11010519491231002X")).json()["request_no"]
               for _ in range(11)]
        first = client.post(f"{BASE}/{own[0]}/reply", headers=OFFICER,
                            json={"reply_type": "disclosed", "fee_mode": "by_count"})
        assert first.status_code == 200 and first.json()["reply"]["fee_yuan"] == 0
        _problem(client.post(f"{BASE}/{own[10]}/reply", headers=OFFICER,
                             json={"reply_type": "disclosed", "fee_mode": "by_count", "pages": 40}),
                 422, "fee-invalid")
        _problem(client.post(f"{BASE}/{own[10]}/reply", headers=OFFICER,
                             json={"reply_type": "not_exist", "fee_mode": "by_count"}),
                 422, "fee-without-information")
        eleventh = client.post(f"{BASE}/{own[10]}/reply", headers=OFFICER,
                               json={"reply_type": "disclosed", "fee_mode": "by_count"})
        assert eleventh.status_code == 200, eleventh.text
        assert eleventh.json()["reply"]["fee_yuan"] == 100 and "第 11 件" in eleventh.json()["reply"]["fee_basis"]
        by_volume = client.post(f"{BASE}/{own[5]}/reply", headers=OFFICER,
                                json={"reply_type": "disclosed", "fee_mode": "by_volume", "pages": 150})
        assert by_volume.json()["reply"]["fee_yuan"] == 1700

        # The annual report counts them, with the fees charged.
        year = datetime.now(SHANGHAI).year
        report = client.get(f"/api/v1/information/annual-reports/{year}", headers=PUBLIC,
                            params={"region_code": REGION, "agency": AGENCY}).json()
        rows = {r["key"]: r["counts"] for r in report["requests"]["rows"]}
        assert rows["received"]["natural_person"] == 27 and rows["disclosed"]["total"] == 3
        assert rows["carried_forward"]["total"] == 24
        assert report["fees"]["requests_charged"] == 2 and report["fees"]["amount_yuan"] == 1800
