"""Complaints and ratings through monitoring's own HTTP API, on real SQLite and the real broker: each change goes
out through the outbox, comes back through monitoring's consumer and moves the complaint's or rating's clocks."""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from fastapi.testclient import TestClient
from httpx import Response

from services.common.contracts import Envelope, Topic
from services.common.contracts.case import CaseAccepted, Channel
from services.common.contracts.payloads import Actor, Applicant, LimitUnit, TimeLimit
from services.common.principal import PrincipalKind, Role
from services.common.workdays import SHANGHAI
from tests.conftest import principal_headers

pytestmark = pytest.mark.kafka

COUNTY = "320102000000"
TOWNSHIP = "320102001000"
OTHER_COUNTY = "320205000000"
ID_NUMBER = "11010519491231002X"
TIMEOUT = 20.0

PUBLIC = principal_headers(Role.public, "", kind=PrincipalKind.public, subject="anonymous")
SUPERVISOR = principal_headers(Role.supervisor, COUNTY, subject="u-supervisor", name="监察员甲")
OTHER_SUPERVISOR = principal_headers(Role.supervisor, OTHER_COUNTY, subject="u-supervisor-2")
CLERK = principal_headers(Role.window_clerk, COUNTY)


def accepted(case_no: str) -> CaseAccepted:
    now = datetime.now(UTC)
    return CaseAccepted(
        occurred_at=now, case_no=case_no, item_code="11320102MB0000000X4320117001000", item_version=1,
        item_name="食品经营许可（新办）", item_type="01", department="行政审批局", region_code=TOWNSHIP,
        channel=Channel.window,
        applicant=Applicant(applicant_type="1", name="张三", id_type="resident_id", id_number=ID_NUMBER),
        legal_limit=TimeLimit(value=20, unit=LimitUnit.working_days),
        promised_limit=TimeLimit(value=5, unit=LimitUnit.working_days), received_at=now,
        promised_due_date="2026-12-31", clerk=Actor(user_id="clerk-1", name="窗口一"), receipt_no=f"SL{case_no}")


async def publish(event: CaseAccepted) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], enable_idempotence=True)
    await producer.start()
    try:
        key, value, headers = Envelope.wrap(event, source="/test").to_kafka()
        await producer.send_and_wait(Topic.case.name_with(os.environ["ZWFW_TOPIC_PREFIX"]), value=value, key=key,
                                     headers=headers)
    finally:
        await producer.stop()


def until(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def clock(client: TestClient, path: str, kind: str, state: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body = client.get(path, headers=SUPERVISOR).json()
        return next((c for c in body.get("clocks", []) if c["kind"] == kind and c["state"] == state), None)

    return dict(until(f"{kind} clock {state} at {path}", probe))


def problem(response: Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["type"].endswith("/" + slug), body
    return body


ANONYMOUS = {"region_code": TOWNSHIP, "named": False, "content": "窗口工作人员中午提前离岗，群众排队等候一小时"}


def test_a_complaint_from_filing_to_answer(service_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_COMPLAINT_CODE_FAILURES", "4/hour")
    from services.monitoring.main import create_app

    with TestClient(create_app()) as client:
        key = str(uuid.uuid4())
        filed = client.post("/api/v1/monitoring/complaints", json=ANONYMOUS,
                            headers={**PUBLIC, "Idempotency-Key": key})
        assert filed.status_code == 201, filed.text
        out = filed.json()
        no, code = out["complaint_no"], out["query_code"]
        assert re.fullmatch(r"TS320102001-\d{8}-\d{5}", no)
        assert filed.headers["Location"] == f"/api/v1/monitoring/complaints/{no}"
        assert out["state"] == "received" and out["named"] is False

        # A citizen's retry files nothing twice; the same key with another body is refused.
        again = client.post("/api/v1/monitoring/complaints", json=ANONYMOUS, headers={**PUBLIC, "Idempotency-Key": key})
        assert again.status_code == 201 and again.json() == out
        assert again.headers["Idempotent-Replayed"] == "true"
        problem(client.post("/api/v1/monitoring/complaints", json={**ANONYMOUS, "content": "另一件事"},
                            headers={**PUBLIC, "Idempotency-Key": key}), 422, "idempotency-key-reused")
        second = client.post("/api/v1/monitoring/complaints", json=ANONYMOUS, headers=PUBLIC).json()
        assert second["complaint_no"] != no and second["complaint_no"][:-5] == no[:-5]
        assert int(second["complaint_no"][-5:]) == int(no[-5:]) + 1

        # The complainant sees the state with the code; a wrong code or none looks like an unknown number.
        seen = client.get(f"/api/v1/monitoring/complaints/{no}", params={"code": code.lower()}, headers=PUBLIC)
        assert seen.status_code == 200 and seen.json()["state"] == "received" and "content" not in seen.json()
        problem(client.get(f"/api/v1/monitoring/complaints/{no}", params={"code": "ABCDEFGHJK"}, headers=PUBLIC),
                404, "complaint-not-found")
        problem(client.get(f"/api/v1/monitoring/complaints/{no}", headers=PUBLIC), 404, "complaint-not-found")
        problem(client.get("/api/v1/monitoring/complaints/TS320102001-20000101-00001", params={"code": code},
                           headers=PUBLIC), 404, "complaint-not-found")

        # Staff: the supervisor of the county sees it and its transfer clock; another county's does not.
        running = clock(client, f"/api/v1/monitoring/complaints/{no}", "complaint_transfer", "running")
        assert running["limits"][0]["limit"] == {"value": 5, "unit": "working_days", "note": "投诉转办"}
        assert client.get(f"/api/v1/monitoring/complaints/{no}", headers=SUPERVISOR).json()["content"] == \
            ANONYMOUS["content"]
        problem(client.get(f"/api/v1/monitoring/complaints/{no}", headers=OTHER_SUPERVISOR), 404,
                "complaint-not-found")
        listed = client.get("/api/v1/monitoring/complaints", params={"state": "received"}, headers=SUPERVISOR).json()
        assert {i["complaint_no"] for i in listed["items"]} == {no, second["complaint_no"]}
        assert client.get("/api/v1/monitoring/complaints", headers=OTHER_SUPERVISOR).json()["items"] == []
        problem(client.get("/api/v1/monitoring/complaints", headers=PUBLIC), 401, "unauthenticated")

        # Acts: no login 401, wrong role 403, another region 404, out of order 409 with what is allowed.
        transfer = f"/api/v1/monitoring/complaints/{no}/transfer"
        problem(client.post(transfer, json={"to_unit": "区行政审批局"}, headers=PUBLIC), 401, "unauthenticated")
        problem(client.post(transfer, json={"to_unit": "区行政审批局"}, headers=CLERK), 403, "forbidden")
        problem(client.post(transfer, json={"to_unit": "区行政审批局"}, headers=OTHER_SUPERVISOR), 404,
                "complaint-not-found")
        early = problem(client.post(f"/api/v1/monitoring/complaints/{no}/answer", json={"answer": "已处理"},
                                    headers=SUPERVISOR), 409, "complaint-action-not-allowed")
        assert early["allowed_actions"] == ["transfer", "not_accept"] and early["state"] == "received"
        problem(client.post(transfer, json={"to_unit": "  "}, headers=SUPERVISOR), 422, "validation-error")
        moved = client.post(transfer, json={"to_unit": "区行政审批局"}, headers=SUPERVISOR)
        assert moved.status_code == 200, moved.text
        assert moved.json()["state"] == "transferred" and moved.json()["allowed_actions"] == ["answer"]
        twice = problem(client.post(transfer, json={"to_unit": "别处"}, headers=SUPERVISOR), 409,
                        "complaint-action-not-allowed")
        assert twice["allowed_actions"] == ["answer"]
        closed = clock(client, f"/api/v1/monitoring/complaints/{no}", "complaint_transfer", "closed")
        assert closed["end_reason"] == "transferred" and closed["verdict"] == "on_time"

        answered = client.post(f"/api/v1/monitoring/complaints/{no}/answer",
                               json={"answer": "经核实，已对相关人员批评教育并调整午间值班"}, headers=SUPERVISOR)
        assert answered.status_code == 200 and answered.json()["allowed_actions"] == []
        public = client.get(f"/api/v1/monitoring/complaints/{no}", params={"code": code}, headers=PUBLIC).json()
        assert public["state"] == "answered" and public["to_unit"] == "区行政审批局"
        assert public["answer"] == "经核实，已对相关人员批评教育并调整午间值班"
        staff = client.get(f"/api/v1/monitoring/complaints/{no}", headers=SUPERVISOR).json()
        assert [(h["action"], h["actor_id"]) for h in staff["history"]] == [
            ("transfer", "u-supervisor"), ("answer", "u-supervisor")]

        # Wrong codes are counted per complaint: past the budget even the right code waits (no oracle).
        for _ in range(4):
            client.get(f"/api/v1/monitoring/complaints/{second['complaint_no']}", params={"code": "WRONGCODE2"},
                       headers=PUBLIC)
        limited = problem(client.get(f"/api/v1/monitoring/complaints/{second['complaint_no']}",
                                     params={"code": second["query_code"]}, headers=PUBLIC), 429, "too-many-requests")
        assert int(limited["retry_after_seconds"]) > 0


def test_named_complaints_the_reply_clock_and_refusal(service_env: Any) -> None:
    from services.monitoring.main import create_app

    named = {"region_code": COUNTY, "named": True, "name": "李四", "contact": "13912345678",
             "content": "申请材料被要求重复提交", "about_case_no": "320102-20261125-00001"}
    with TestClient(create_app()) as client:
        missing = problem(client.post("/api/v1/monitoring/complaints", json={**named, "contact": None},
                                      headers=PUBLIC), 422, "invalid-text")
        assert missing["errors"][0]["field"] == "contact"
        with_name = problem(client.post("/api/v1/monitoring/complaints", json={**ANONYMOUS, "name": "王五"},
                                        headers=PUBLIC), 422, "anonymous-with-identity")
        assert with_name["errors"][0]["field"] == "name"
        problem(client.post("/api/v1/monitoring/complaints", json={**ANONYMOUS, "content": "字" * 2001},
                            headers=PUBLIC), 422, "validation-error")
        problem(client.post("/api/v1/monitoring/complaints", json={**ANONYMOUS, "content": "a\x07b"},
                            headers=PUBLIC), 422, "validation-error")
        lone_surrogate = b'{"region_code": "320102001000", "named": false, "content": "a\\ud800b"}'
        problem(client.post("/api/v1/monitoring/complaints", content=lone_surrogate,
                            headers={**PUBLIC, "content-type": "application/json"}), 422, "validation-error")
        problem(client.post("/api/v1/monitoring/complaints", json={**ANONYMOUS, "region_code": "3201"},
                            headers=PUBLIC), 422, "validation-error")
        problem(client.post("/api/v1/monitoring/complaints", json={**ANONYMOUS, "about_case_no": "../../etc"},
                            headers=PUBLIC), 422, "validation-error")
        markup = client.post("/api/v1/monitoring/complaints",
                             json={**ANONYMOUS, "content": "<img src=x onerror=alert(1)>"}, headers=PUBLIC)
        assert markup.status_code == 201 and markup.headers["content-type"] == "application/json"

        filed = client.post("/api/v1/monitoring/complaints", json=named, headers=PUBLIC)
        assert filed.status_code == 201, filed.text
        no = filed.json()["complaint_no"]
        assert no.startswith("TS320102-")
        reply = clock(client, f"/api/v1/monitoring/complaints/{no}", "complaint_reply", "running")
        assert reply["limits"][0]["limit"]["value"] == 7 and reply["limits"][0]["limit"]["unit"] == "calendar_days"
        staff = client.get(f"/api/v1/monitoring/complaints/{no}", headers=SUPERVISOR).json()
        assert staff["name"] == "李四" and staff["contact"] == "13912345678"

        refused = client.post(f"/api/v1/monitoring/complaints/{no}/not-accept",
                              json={"reason": "不属于本机关职责范围，请向市场监管部门反映"}, headers=SUPERVISOR)
        assert refused.status_code == 200 and refused.json()["state"] == "not_accepted"
        after = problem(client.post(f"/api/v1/monitoring/complaints/{no}/answer", json={"answer": "x"},
                                    headers=SUPERVISOR), 409, "complaint-action-not-allowed")
        assert after["allowed_actions"] == []
        ended = clock(client, f"/api/v1/monitoring/complaints/{no}", "complaint_reply", "closed")
        assert ended["end_reason"] == "not_accepted"


def test_ratings_by_the_applicant_once_per_channel_and_the_rectification_clock(
        service_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_RATING_FAILURES_PER_CASE", "2/hour")
    from services.monitoring.main import create_app

    case_no = f"320102001-20261125-{uuid.uuid4().int % 100000:05d}"
    rating = {"case_no": case_no, "id_suffix": "31002x", "channel": "online", "level": 1, "text": ""}
    with TestClient(create_app()) as client:
        asyncio.run(publish(accepted(case_no)))
        until("the accepted case in monitoring",
              lambda: client.get(f"/api/v1/monitoring/cases/{case_no}", headers=SUPERVISOR).status_code == 200)

        problem(client.post("/api/v1/monitoring/ratings", json={**rating, "id_suffix": "31002Y"}, headers=PUBLIC),
                404, "case-not-found")
        problem(client.post("/api/v1/monitoring/ratings", json={**rating, "case_no": "320102-20000101-00001"},
                            headers=PUBLIC), 404, "case-not-found")
        good = client.post("/api/v1/monitoring/ratings", json=rating, headers=PUBLIC)
        assert good.status_code == 201, good.text
        assert good.json()["level_name"] == "非常满意" and good.json()["bad"] is False
        repeat = problem(client.post("/api/v1/monitoring/ratings", json={**rating, "level": 2}, headers=PUBLIC),
                         409, "already-rated")
        assert repeat["channel"] == "online"

        problem(client.post("/api/v1/monitoring/ratings", json={**rating, "channel": "window", "level": 5},
                            headers=PUBLIC), 422, "invalid-rating-text")
        problem(client.post("/api/v1/monitoring/ratings", json={**rating, "channel": "window", "level": 6},
                            headers=PUBLIC), 422, "validation-error")
        key = str(uuid.uuid4())
        bad_body = {**rating, "channel": "window", "level": 4, "text": "等候时间太长，材料被退回两次"}
        bad = client.post("/api/v1/monitoring/ratings", json=bad_body, headers={**PUBLIC, "Idempotency-Key": key})
        assert bad.status_code == 201, bad.text
        replay = client.post("/api/v1/monitoring/ratings", json=bad_body, headers={**PUBLIC, "Idempotency-Key": key})
        assert replay.status_code == 201 and replay.json() == bad.json()
        rating_no = bad.json()["rating_no"]
        assert bad.json()["bad"] is True

        path = f"/api/v1/monitoring/ratings/{rating_no}"
        opened = clock(client, path, "rectification", "running")
        assert opened["limits"][0]["limit"]["value"] == 5 and opened["label"] == f"办件 {case_no} 差评整改"
        problem(client.get(path, headers=OTHER_SUPERVISOR), 404, "rating-not-found")
        problem(client.get(path, headers=PUBLIC), 401, "unauthenticated")
        open_list = client.get("/api/v1/monitoring/ratings/bad", params={"rectified": "false"}, headers=SUPERVISOR)
        assert [i["rating_no"] for i in open_list.json()["items"]] == [rating_no]
        assert client.get("/api/v1/monitoring/ratings/bad", headers=OTHER_SUPERVISOR).json()["items"] == []

        rectify = f"{path}/rectification"
        problem(client.post(rectify, json={"result": "已回访"}, headers=CLERK), 403, "forbidden")
        done = client.post(rectify, json={"result": "已回访申请人并致歉，优化材料预审流程"}, headers=SUPERVISOR)
        assert done.status_code == 200, done.text
        assert done.json()["rectified_by"] == "u-supervisor"
        problem(client.post(rectify, json={"result": "再次"}, headers=SUPERVISOR), 409, "already-rectified")
        problem(client.post(f"/api/v1/monitoring/ratings/{good.json()['rating_no']}/rectification",
                            json={"result": "无"}, headers=SUPERVISOR), 409, "not-a-bad-rating")
        closed = clock(client, path, "rectification", "closed")
        assert closed["end_reason"] == "rectified" and closed["verdict"] == "on_time"
        assert client.get("/api/v1/monitoring/ratings/bad", params={"rectified": "false"},
                          headers=SUPERVISOR).json()["items"] == []

        # The satisfaction figures count what the consumer logged: one good and one bad rating.
        today = datetime.now(SHANGHAI).date().isoformat()  # the statistics count local days

        def counted() -> dict[str, Any] | None:
            stats = client.get("/api/v1/monitoring/stats", params={"from": today, "to": today},
                               headers=SUPERVISOR).json()
            return stats if stats["ratings"] == 2 else None

        assert until("both ratings in the statistics", counted)["satisfaction_rate"] == 0.5

        # Guesses of the id suffix are counted per case: past the budget even the right suffix waits.
        problem(client.post("/api/v1/monitoring/ratings", json={**rating, "channel": "sms", "id_suffix": "00000X"},
                            headers=PUBLIC), 404, "case-not-found")
        limited = problem(client.post("/api/v1/monitoring/ratings", json={**rating, "channel": "sms"},
                                      headers=PUBLIC), 429, "too-many-requests")
        assert int(limited["retry_after_seconds"]) > 0
