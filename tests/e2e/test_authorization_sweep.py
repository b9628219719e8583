"""Every protected operation of the aggregated OpenAPI, through the gateway: no token → 401, a role the matrix
does not list → 403, and for the records of a region (a case of 320102 and its task, material file, request,
document and item) a caller of another county → 404, while the county itself reads them.

Until the gateway calls `RequestAuthorizer`, this proves the services' own enforcement; afterwards both.
"""

from __future__ import annotations

import http.client
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.authorization import AUTHENTICATED, GATEWAY_OWN, TABLE
from services.common.contracts.permissions import PERMISSIONS, Action
from services.common.principal import Role
from tests.e2e.conftest import Gateway, eventually
from tests.e2e.test_approval_processes import DECIDE, REVIEW, publish_process_item
from tests.e2e.test_first_flow import COMPLETE, PERSON, open_task, submit_when_replicated
from tools.platform import Platform, client_token, login

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

COUNTY = "320102000000"
OTHER_COUNTY = "320105000000"  # 建邺区: another county of the same city
DOCUMENT = {"category_code": "sweep", "title": "巡检文件", "issuing_body": "玄武区人民政府办公室",
            "issue_date": "2026-03-02", "valid_from": "2026-03-02", "body_text": "第一条 巡检。"}
PDF = b"%PDF-1.7\n% sweep\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"


Caller = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def caller(platform: Platform, gateway: Gateway) -> Caller:
    """A logged-in caller of every role in a county: real accounts (a machine client for `platform`), made in the
    platform's gateway database and logged in through the gateway once each."""
    tokens: dict[tuple[Role, str], str] = {}

    def headers(role: Role, region_code: str = COUNTY) -> dict[str, str]:
        if (role, region_code) not in tokens:
            name, secret = f"sweep-{role.value}-{region_code}", f"sweep-secret-{uuid.uuid4().hex}"
            if role is Role.platform:
                platform.add_client(name, secret, name="巡检", role=role, region_code=region_code)
                tokens[role, region_code] = client_token(platform.url(), name, secret)
            else:
                platform.add_account(name, secret, name="巡检", role=role, department="区行政审批局",
                                     region_code=region_code)
                tokens[role, region_code] = login(platform.url(), name, secret)
        return {"Authorization": f"Bearer {tokens[role, region_code]}"}

    return headers


@dataclass(frozen=True)
class Records:
    """One record of each region-scoped kind, all in COUNTY."""

    case_no: str
    task_id: str
    sha256: str
    request_no: str
    doc_id: str
    item_code: str
    complaint_no: str
    rating_no: str

    def path_values(self) -> dict[str, str]:
        return {"case_no": self.case_no, "task_id": self.task_id, "sha256": self.sha256,
                "request_no": self.request_no, "doc_id": self.doc_id, "item_code": self.item_code,
                "complaint_no": self.complaint_no, "rating_no": self.rating_no,
                "consultation_id": "c1", "kind": "receipt", "version": "1", "year": "2027"}


SCOPED = {"case_no", "task_id", "sha256", "request_no", "doc_id", "item_code", "complaint_no", "rating_no"}


@pytest.fixture(scope="module")
def records(gateway: Gateway) -> Records:
    item_code = publish_process_item(gateway, [REVIEW, DECIDE])
    case = submit_when_replicated(gateway, item_code, COMPLETE)
    assert case["outcome"] == "accepted", case
    task = open_task(gateway, case["case_no"], "review")
    uploaded = gateway.call("POST", "/api/v1/applications/files", "county-clerk",
                            files={"file": ("营业执照.pdf", PDF + uuid.uuid4().hex.encode(), "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    request = gateway.call("POST", "/api/v1/information-requests", json={
        "region_code": COUNTY, "agency": "玄武区人民政府办公室", "information_wanted": "权限巡检所需的信息",
        "applicant": {"kind": "natural_person", "name": "张三", "id_number": "11010519491231002X"}})
    assert request.status_code == 201, request.text
    category = gateway.call("POST", "/api/v1/information/categories", "disclosure-officer",
                            json={"region_code": COUNTY, "code": "sweep", "name": "巡检类别"})
    assert category.status_code in (201, 409), category.text  # 409: an earlier run of the session made it
    document = gateway.call("POST", "/api/v1/information/documents", "disclosure-officer",
                            json={"region_code": COUNTY} | DOCUMENT)
    assert document.status_code == 201, document.text
    complaint = gateway.call("POST", "/api/v1/monitoring/complaints",
                             json={"region_code": COUNTY, "named": False, "content": "权限巡检的投诉"})
    assert complaint.status_code == 201, complaint.text
    # Monitoring learns who may rate the case from the case topic.
    eventually(lambda: gateway.call("GET", f"/api/v1/monitoring/cases/{case['case_no']}", "supervisor")
               .status_code == 200)
    rating = gateway.call("POST", "/api/v1/monitoring/ratings", json={
        "case_no": case["case_no"], "id_suffix": PERSON["id_number"][-6:], "channel": "window", "level": 5,
        "text": "权限巡检的差评"})
    assert rating.status_code == 201, rating.text
    return Records(case_no=case["case_no"], task_id=task["task_id"], sha256=uploaded.json()["sha256"],
                   request_no=request.json()["request_no"], doc_id=document.json()["doc_id"], item_code=item_code,
                   complaint_no=complaint.json()["complaint_no"], rating_no=rating.json()["rating_no"])


# Bodies the services accept, so that what answers is authorization and not validation (a service validates
# the body before its handler looks the record up).
_MATERIALS = [{"code": "M01", "name": "申请书", "reason": "巡检"}]
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/applications/{case_no}/examination"): {},
    ("POST", "/api/v1/applications/{case_no}/withdraw"): {"request_ref": "CH-1", "reason": "巡检"},
    ("POST", "/api/v1/applications/{case_no}/supplement"): {"materials": [{"code": "M01", "originals": 1}]},
    ("POST", "/api/v1/applications/{case_no}/fees"): {"amount_fen": 100, "receipt_no": "R-1"},
    ("POST", "/api/v1/approval/tasks/{task_id}/claim"): {},
    ("POST", "/api/v1/approval/tasks/{task_id}/release"): {},
    ("POST", "/api/v1/approval/tasks/{task_id}/complete"): {"opinion": "巡检"},
    ("POST", "/api/v1/approval/tasks/{task_id}/absence"): {"reason": "巡检"},
    ("POST", "/api/v1/approval/cases/{case_no}/supplement-request"): {"missing": _MATERIALS},
    ("POST", "/api/v1/approval/cases/{case_no}/supplement-received"): {"materials": _MATERIALS},
    ("POST", "/api/v1/approval/cases/{case_no}/suspend"): {"reason": "hearing", "explanation": "巡检",
                                                           "expected_days": 5},
    ("POST", "/api/v1/approval/cases/{case_no}/resume"): {"result": "巡检"},
    ("POST", "/api/v1/approval/cases/{case_no}/extend"): {"reason": "巡检"},
    ("POST", "/api/v1/approval/cases/{case_no}/delivery"): {"method": "window", "receiver": "张三"},
    ("POST", "/api/v1/catalogue/items/{item_code}/publish"): None,
    ("POST", "/api/v1/catalogue/items/{item_code}/retire"): {"reason": "巡检"},
    ("POST", "/api/v1/information/documents/{doc_id}/amend"): {"reason": "巡检", "content": DOCUMENT},
    ("POST", "/api/v1/information/documents/{doc_id}/withdraw"): {"reason": "巡检"},
    ("POST", "/api/v1/information-requests/{request_no}/supplement-notice"): {
        "what": "巡检", "supply_within": {"value": 5}},
    ("POST", "/api/v1/information-requests/{request_no}/supplement"): {},
    ("POST", "/api/v1/information-requests/{request_no}/supplement-lapsed"): None,
    ("POST", "/api/v1/information-requests/{request_no}/consultations"): {"party": "某公司"},
    ("POST", "/api/v1/information-requests/{request_no}/consultations/{consultation_id}/end"): {"outcome": "consent"},
    ("POST", "/api/v1/information-requests/{request_no}/extension"): {"working_days": 5, "reason": "巡检",
                                                                       "approved_by": "负责人"},
    ("POST", "/api/v1/information-requests/{request_no}/reply"): {"reply_type": "disclosed"},
    ("POST", "/api/v1/monitoring/complaints/{complaint_no}/transfer"): {"to_unit": "巡检单位"},
    ("POST", "/api/v1/monitoring/complaints/{complaint_no}/answer"): {"answer": "巡检"},
    ("POST", "/api/v1/monitoring/complaints/{complaint_no}/not-accept"): {"reason": "巡检"},
    ("POST", "/api/v1/monitoring/ratings/{rating_no}/rectification"): {"result": "巡检"},
}
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/v1/monitoring/cases/{case_no}/what-if"): {"suspend_until": "2027-01-05T00:00:00+08:00"},
}
_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    action: Action

    def path(self, records: Records) -> str:
        values = records.path_values()
        return _PARAM.sub(lambda m: values[m.group(1)], self.template)

    @property
    def scoped(self) -> bool:
        return bool(SCOPED & set(_PARAM.findall(self.template)))

    def request(self, gateway: Gateway, records: Records, headers: dict[str, str]) -> httpx.Response:
        key = (self.method, self.template)
        body = BODIES.get(key)
        return gateway.client.request(self.method, self.path(records), headers=headers, params=QUERIES.get(key),
                                      json=body if body is not None or self.method == "GET" else {})


def protected_operations(gateway: Gateway) -> list[Operation]:
    document = gateway.client.get("/openapi.json")
    assert document.status_code == 200, document.text
    found = []
    for template, item in document.json()["paths"].items():
        for method in item:
            own = GATEWAY_OWN.get((method.upper(), template))
            if own is not None:
                if own == AUTHENTICATED:
                    assert gateway.client.request(method.upper(), template).status_code == 401, template
                action = own
            else:
                op = TABLE.match(method.upper(), template)
                assert op is not None, f"{method.upper()} {template} is not in gateway/authorization.py"
                action = op.action
            if isinstance(action, Action):
                found.append(Operation(method.upper(), template, action))
    assert len(found) > 50
    return found


def _problem(response: httpx.Response) -> str:
    assert response.headers.get("content-type", "").startswith("application/problem+json"), response.text
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def _status_of_read(gateway: Gateway, op: Operation, records: Records, headers: dict[str, str]) -> int:
    """A GET's status without reading its body: the live alert stream answers and then never ends."""
    with gateway.client.stream("GET", op.path(records), headers=headers,
                               params=QUERIES.get((op.method, op.template))) as response:
        return response.status_code


def test_no_token_401_and_a_role_not_allowed_403(gateway: Gateway, records: Records, caller: Caller) -> None:
    wrong: list[str] = []
    for op in protected_operations(gateway):
        anonymous = op.request(gateway, records, {})
        if anonymous.status_code != 401:
            wrong.append(f"{op.method} {op.template} without a token: {anonymous.status_code} {anonymous.text[:200]}")
        for role in Role:
            if role is Role.public:
                continue
            if role in PERMISSIONS[op.action]:
                # Reads only: a write by an allowed role would change the records the sweep uses.
                if op.method == "GET" and (status := _status_of_read(gateway, op, records, caller(role))) in (401, 403):
                    wrong.append(f"{op.method} {op.template} refused to {role.value}, which may: {status}")
                continue
            refused = op.request(gateway, records, caller(role))
            if refused.status_code != 403 or _problem(refused) != "forbidden":
                wrong.append(f"{op.method} {op.template} as {role.value}: {refused.status_code} {refused.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_another_countys_records_answer_404_and_the_county_reads_its_own(gateway: Gateway, records: Records,
                                                                         caller: Caller) -> None:
    scoped = [op for op in protected_operations(gateway) if op.scoped]
    assert {op.action for op in scoped} >= {Action.application_read, Action.approval_decide, Action.material_read,
                                           Action.monitoring_read, Action.information_request_reply,
                                           Action.information_withdraw, Action.catalogue_retire,
                                           Action.complaint_handle, Action.rating_rectify}
    wrong: list[str] = []
    for op in scoped:
        role = next(r for r in Role if r in PERMISSIONS[op.action])
        if op.method == "GET":
            # The record is there for its own county (monitoring and approval learn of the case by events).
            def readable(op: Operation = op, role: Role = role) -> bool:
                return op.request(gateway, records, caller(role)).status_code == 200

            try:
                eventually(readable)
            except AssertionError:
                wrong.append(f"{op.method} {op.template} as {role.value} of {COUNTY}: not readable")
        elsewhere = op.request(gateway, records, caller(role, OTHER_COUNTY))
        if elsewhere.status_code != 404:
            wrong.append(f"{op.method} {op.template} as {role.value} of {OTHER_COUNTY}: "
                         f"{elsewhere.status_code} {elsewhere.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_dot_segments_do_not_lead_from_a_public_route_to_a_protected_one(gateway: Gateway, records: Records) -> None:
    """The forwarding client resolves `..` (also escaped) after the gateway chose the route by prefix: the
    progress query is public, the case behind it is not. Sent raw, as httpx would resolve it itself."""
    url = httpx.URL(str(gateway.client.base_url))
    connection = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        for dots in ("..", "%2e%2e", "%2E."):
            connection.request("GET", f"/api/v1/applications/progress/{dots}/{records.case_no}")
            response = connection.getresponse()
            body = response.read()
            assert response.status in (401, 404), (dots, response.status, body[:300])
            assert PERSON["name"].encode() not in body  # the applicant of the case
    finally:
        connection.close()
