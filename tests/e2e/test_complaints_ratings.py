"""Complaints and ratings through the gateway on the real platform: filed without login, handled by the county
supervisor, and supervised by monitoring's clocks (issue 7: public complaint and rating submission)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Gateway, eventually
from tests.e2e.test_first_flow import COMPLETE, PERSON, publish_item, submit_when_replicated

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

TOWNSHIP = "320102001000"


def clock_of(gateway: Gateway, path: str, kind: str, state: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        r = gateway.call("GET", path, "supervisor")
        assert r.status_code == 200, r.text
        return next((c for c in r.json()["clocks"] if c["kind"] == kind and c["state"] == state), None)

    return dict(eventually(find))


def test_an_anonymous_complaint_is_transferred_and_answered_under_its_clock(gateway: Gateway) -> None:
    filed = gateway.call("POST", "/api/v1/monitoring/complaints",
                         json={"region_code": TOWNSHIP, "named": False, "content": "街道为民服务中心窗口无人值守"},
                         headers={"Idempotency-Key": str(uuid.uuid4())})
    assert filed.status_code == 201, filed.text
    no, code = filed.json()["complaint_no"], filed.json()["query_code"]
    assert no.startswith("TS320102001-")
    assert "x-request-id" in filed.headers

    public = gateway.call("GET", f"/api/v1/monitoring/complaints/{no}", params={"code": code})
    assert public.status_code == 200 and public.json()["state"] == "received"
    assert gateway.call("GET", f"/api/v1/monitoring/complaints/{no}", params={"code": "ABCDEFGHJK"}).status_code == 404
    # Staff acts and lists sit under the public paths, yet without a login they are refused like any other.
    assert gateway.call("POST", f"/api/v1/monitoring/complaints/{no}/transfer",
                        json={"to_unit": "街道办事处"}).status_code == 401
    assert gateway.call("GET", "/api/v1/monitoring/complaints").status_code == 401
    assert gateway.call("POST", f"/api/v1/monitoring/complaints/{no}/transfer", "county-clerk",
                        json={"to_unit": "街道办事处"}).status_code == 403

    path = f"/api/v1/monitoring/complaints/{no}"
    running = clock_of(gateway, path, "complaint_transfer", "running")
    assert running["limits"][0]["due_at"]
    r = gateway.call("POST", f"{path}/transfer", "supervisor", json={"to_unit": "街道办事处"})
    assert r.status_code == 200, r.text
    r = gateway.call("POST", f"{path}/answer", "supervisor", json={"answer": "已调整值班表，午间安排专人值守"})
    assert r.status_code == 200, r.text
    assert gateway.call("POST", f"{path}/answer", "supervisor", json={"answer": "再答"}).status_code == 409

    closed = clock_of(gateway, path, "complaint_transfer", "closed")
    assert closed["end_reason"] == "transferred" and closed["verdict"] == "on_time"
    seen = gateway.call("GET", path, params={"code": code}).json()
    assert seen["state"] == "answered" and seen["answer"] == "已调整值班表，午间安排专人值守"


def test_the_applicant_rates_an_accepted_case_once_per_channel_and_a_bad_rating_is_rectified(
        gateway: Gateway) -> None:
    code = f"E2R{uuid.uuid4().hex[:10]}"
    publish_item(gateway, code)
    accepted = submit_when_replicated(gateway, code, COMPLETE)
    assert accepted["outcome"] == "accepted", accepted
    case_no = accepted["case_no"]
    # Monitoring learns the case (and who may rate it) from the case topic.
    eventually(lambda: gateway.call("GET", f"/api/v1/monitoring/cases/{case_no}", "supervisor").status_code == 200)

    rating = {"case_no": case_no, "id_suffix": PERSON["id_number"][-6:], "channel": "window", "level": 5,
              "text": "办理时间过长，窗口解释不清"}
    r = gateway.call("POST", "/api/v1/monitoring/ratings", json={**rating, "id_suffix": "000000"})
    assert r.status_code == 404, r.text
    r = gateway.call("POST", "/api/v1/monitoring/ratings", json=rating)
    assert r.status_code == 201, r.text
    rating_no = r.json()["rating_no"]
    assert r.json()["bad"] is True and r.json()["level_name"] == "非常不满意"
    again = gateway.call("POST", "/api/v1/monitoring/ratings", json={**rating, "level": 1, "text": ""})
    assert again.status_code == 409 and again.json()["type"].endswith("/already-rated")

    path = f"/api/v1/monitoring/ratings/{rating_no}"
    assert gateway.call("GET", path).status_code == 401  # the rating itself is not public
    opened = clock_of(gateway, path, "rectification", "running")
    assert opened["limits"][0]["limit"]["value"] == 5 and opened["limits"][0]["due_at"]
    bad = gateway.call("GET", "/api/v1/monitoring/ratings/bad", "supervisor", params={"rectified": "false"})
    assert rating_no in {i["rating_no"] for i in bad.json()["items"]}

    r = gateway.call("POST", f"{path}/rectification", "supervisor", json={"result": "已回访，简化窗口告知流程"})
    assert r.status_code == 200, r.text
    closed = clock_of(gateway, path, "rectification", "closed")
    assert closed["end_reason"] == "rectified"
