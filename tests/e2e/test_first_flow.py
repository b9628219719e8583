"""One case through every service over the real broker, through the gateway only (issue: foundation)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Gateway, SpanCollector, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

COUNTY = "320102000000"
PERSON = {"applicant_type": "1", "name": "张小三", "id_type": "resident_id", "id_number": "11010519491231002X",
          "phone": "13912345678"}


def new_item(code: str) -> dict[str, Any]:
    return {
        "item_code": code,
        "name": "个体工商户设立登记",
        "item_type": "01",
        "department": "区市场监督管理局",
        "region_code": COUNTY,
        "case_type": "2",
        "legal_limit": {"value": 15, "unit": "working_days", "note": "《促进个体工商户发展条例》"},
        "promised_limit": {"value": 3, "unit": "working_days", "note": "承诺3个工作日办结"},
        "joint": False,
        "materials": [
            {"code": "M01", "name": "个体工商户登记（备案）申请书", "originals": 1, "copies": 0},
            {"code": "M02", "name": "经营者身份证明", "originals": 1, "copies": 1},
            {"code": "M03", "name": "经营场所使用证明", "originals": 0, "copies": 1},
        ],
        "process": [],
        "publish_results": True,
        "fee_charged": False,
    }


def publish_item(gateway: Gateway, code: str) -> None:
    created = gateway.call("POST", "/api/v1/catalogue/items", "catalogue-admin", json=new_item(code))
    assert created.status_code == 201, created.text
    published = gateway.call("POST", f"/api/v1/catalogue/items/{code}/publish", "catalogue-admin", json={})
    assert published.status_code == 200, published.text


def application(code: str, materials: list[dict[str, Any]]) -> dict[str, Any]:
    return {"item_code": code, "region_code": COUNTY, "channel": "window", "applicant": PERSON,
            "materials": materials}


COMPLETE = [{"code": "M01", "originals": 1}, {"code": "M02", "originals": 1, "copies": 1},
            {"code": "M03", "copies": 1}]


def submit_when_replicated(gateway: Gateway, code: str, materials: list[dict[str, Any]]) -> dict[str, Any]:
    """Acceptance learns of the item from the catalogue topic; until then the item is unknown there (404)."""

    def attempt() -> dict[str, Any] | None:
        r = gateway.call("POST", "/api/v1/applications", "county-clerk", json=application(code, materials))
        if r.status_code == 404:
            return None
        assert r.status_code == 201, r.text
        return dict(r.json())

    return eventually(attempt)


def open_task(gateway: Gateway, case_no: str, step_code: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        r = gateway.call("GET", "/api/v1/approval/tasks", "approver", params={"case_no": case_no, "status": "open"})
        assert r.status_code == 200, r.text
        tasks = [t for t in r.json()["items"] if t["step_code"] == step_code]
        return tasks[0] if tasks else None

    return eventually(find)


def run_case_to_completion(gateway: Gateway, code: str) -> str:
    accepted = submit_when_replicated(gateway, code, COMPLETE)
    assert accepted["outcome"] == "accepted", accepted
    case_no = accepted["case_no"]
    review = open_task(gateway, case_no, "review")
    r = gateway.call("POST", f"/api/v1/approval/tasks/{review['task_id']}/complete", "approver",
                     json={"opinion": "材料齐全，符合条件"})
    assert r.status_code == 200, r.text
    decide = open_task(gateway, case_no, "decide")
    r = gateway.call("POST", f"/api/v1/approval/tasks/{decide['task_id']}/complete", "department-head",
                     json={"opinion": "同意", "decision": "approve"})
    assert r.status_code == 200, r.text
    serve_and_close(gateway, case_no)
    return str(case_no)


def serve_and_close(gateway: Gateway, case_no: str) -> None:
    """After 准予: 制证, 送达 at the window, 办结 (行政许可法 Art. 44)."""
    for path, body in (("certificate", None), ("delivery", {"method": "window", "receiver": "张三"}),
                       ("complete", None)):
        r = gateway.call("POST", f"/api/v1/approval/cases/{case_no}/{path}", "approver", json=body)
        assert r.status_code == 200, r.text


def test_one_case_through_every_service(gateway: Gateway, spans: SpanCollector) -> None:
    code = f"E2E{uuid.uuid4().hex[:10]}"
    publish_item(gateway, code)

    # Incomplete: the answer lists everything missing at once (一次性告知).
    notice = submit_when_replicated(gateway, code, [{"code": "M02", "originals": 1}])
    assert notice["outcome"] == "supplement_requested"
    assert [(m["code"], m["reason"]) for m in notice["missing"]] == [
        ("M01", "未提交"), ("M02", "复印件需1份，已交0份"), ("M03", "未提交")]

    r = gateway.call("POST", "/api/v1/applications", "county-clerk", json=application(code, COMPLETE))
    assert r.status_code == 201, r.text
    trace_id = r.headers["x-trace-id"]
    accepted = r.json()
    assert accepted["outcome"] == "accepted"
    assert accepted["document_no"].startswith("SL")  # 受理凭证
    assert accepted["promised_due_date"]
    case_no = accepted["case_no"]

    # Monitoring follows the clock from the accepted event.
    def clock(state: str) -> dict[str, Any] | None:
        r = gateway.call("GET", f"/api/v1/monitoring/cases/{case_no}", "supervisor")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        body = dict(r.json())
        return body if body["state"] == state else None

    running = eventually(lambda: clock("running"))
    assert running["promised_due_at"] < running["legal_due_at"]
    assert running["level"] in ("normal", "warning")

    review = open_task(gateway, case_no, "review")
    r = gateway.call("POST", f"/api/v1/approval/tasks/{review['task_id']}/complete", "approver",
                     json={"opinion": "材料齐全，符合条件"})
    assert r.status_code == 200, r.text
    again = gateway.call("POST", f"/api/v1/approval/tasks/{review['task_id']}/complete", "approver",
                         json={"opinion": "重复提交"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")

    decide = open_task(gateway, case_no, "decide")
    r = gateway.call("POST", f"/api/v1/approval/tasks/{decide['task_id']}/complete", "department-head",
                     json={"opinion": "同意", "decision": "approve"})
    assert r.status_code == 200, r.text
    serve_and_close(gateway, case_no)

    closed = eventually(lambda: clock("closed"))
    assert closed["verdict"] == "on_time"

    # Disclosure publishes the result, masked, to the public without a token.
    def result() -> dict[str, Any] | None:
        r = gateway.call("GET", f"/api/v1/results/{case_no}")
        return dict(r.json()) if r.status_code == 200 else None

    published = eventually(result)
    assert published["applicant_name_masked"] == "张*三"
    assert "11010519491231002X" not in str(published)
    assert published["result"] == "approve"

    # This application's trace runs from the gateway through acceptance, the Kafka hop and every consumer.
    wanted = {"zwfw-gateway", "zwfw-acceptance", "zwfw-approval", "zwfw-monitoring", "zwfw-disclosure"}

    def one_trace() -> list[dict[str, Any]]:
        trace = spans.trace(trace_id)
        services = {s["localEndpoint"]["serviceName"] for s in trace}
        assert wanted <= services, f"trace {trace_id}: no spans yet from {sorted(wanted - services)}"
        return trace

    trace = eventually(one_trace, timeout=60)  # consumers lag behind while the whole suite runs on two cores
    names = {s["name"] for s in trace}
    assert f"{gateway_prefix(trace)}zwfw.case publish" in names  # acceptance's relay, under the request
    consumers = {s["localEndpoint"]["serviceName"] for s in trace if s["name"].endswith("zwfw.case process")}
    assert {"zwfw-approval", "zwfw-monitoring", "zwfw-disclosure"} <= consumers


def gateway_prefix(trace: list[dict[str, Any]]) -> str:
    """The topic prefix of this test session, read off the publish span's name."""
    publish = next(s["name"] for s in trace if s["name"].endswith("zwfw.case publish"))
    return publish.removesuffix("zwfw.case publish")


def test_direct_call_to_a_service_without_the_gateway_is_refused(platform: Any, tokens: dict[str, str]) -> None:
    """Each service, reached on its own port: no principal, a user's access token in place of the gateway's
    principal, or a principal signed with another secret — all 401, as problem+json."""
    import httpx

    from services.common.principal import PRINCIPAL_HEADER, Principal, PrincipalKind, Role, sign_principal

    forged = sign_principal(Principal(kind=PrincipalKind.staff, subject="intruder", role=Role.operations,
                                      region_code=""), "not-the-platform-secret-0123456789abcdef")
    user_token = tokens["county-clerk"]
    for service, path in (("acceptance", "/api/v1/applications/320102000000-20261125-00001"),
                          ("approval", "/api/v1/approval/tasks"), ("disclosure", "/api/v1/information-requests"),
                          ("monitoring", "/api/v1/monitoring/alerts")):
        for headers in ({}, {"Authorization": f"Bearer {user_token}"}, {PRINCIPAL_HEADER: user_token},
                        {PRINCIPAL_HEADER: forged}):
            r = httpx.get(platform.url(service) + path, headers=headers)
            assert r.status_code == 401, (service, headers.keys(), r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/problem+json")


def test_gateway_answers_problems(gateway: Gateway) -> None:
    r = gateway.call("POST", "/api/v1/applications", json={})
    assert r.status_code == 401 and r.json()["status"] == 401
    r = gateway.call("POST", "/api/v1/applications", "county-clerk", json={"item_code": ""})
    assert r.status_code == 422
    body = r.json()
    assert body["type"].endswith("validation-error") and {e["field"] for e in body["errors"]} >= {"item_code"}
    r = gateway.call("GET", "/api/v1/approval/tasks", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert "x-request-id" in r.headers
    r = gateway.call("GET", "/api/v1/nowhere", "operations")
    assert r.status_code == 404


def test_every_service_reports_readiness_with_its_outbox(platform: Any) -> None:
    import httpx

    for service in ("acceptance", "approval", "disclosure", "monitoring"):
        r = httpx.get(platform.url(service) + "/readyz")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["checks"] == {"database": "ok", "kafka": "ok"}
        assert body["outbox"]["oldest_age_seconds"] < 120
