"""Approval's processes end to end, through the gateway only: the three demo shapes to approval and to refusal,
a joint department's 超时默认, 特别程序 seen by monitoring as a paused clock, concurrent claims, a restart of
approval in the middle of a process, and what callers of another region or department may not touch."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from gateway.identity.seed import JOINT_DEPARTMENTS
from services.common.principal import Role
from tests.e2e.conftest import Gateway, eventually
from tests.e2e.test_first_flow import COMPLETE, application, new_item, open_task, submit_when_replicated
from tools.platform import Platform, login

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

COUNTY = "320102000000"
OTHER_COUNTY = "320104000000"  # 秦淮区: another region, must see nothing of 玄武区's cases
APPROVAL = "/api/v1/approval"
DEPARTMENTS = list(JOINT_DEPARTMENTS)  # each has a demo approver account (gateway.identity.seed)
DEPARTMENT_ACCOUNTS = dict(zip(DEPARTMENTS, ("planning-approver", "agriculture-approver", "housing-approver"),
                               strict=True))
ONE_DAY = {"value": 1, "unit": "working_days"}

REVIEW = {"code": "review", "name": "受理审查", "role": "approver", "limit": ONE_DAY, "departments": []}
AUDIT = {"code": "audit", "name": "审核", "role": "approver", "limit": ONE_DAY, "departments": []}
DECIDE = {"code": "decide", "name": "审批决定", "role": "department_head", "limit": ONE_DAY, "departments": []}


def joint_step(limit: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": "joint", "name": "联合审查", "role": "approver", "limit": limit or ONE_DAY,
            "departments": DEPARTMENTS}


SHAPES: dict[str, list[dict[str, Any]]] = {
    "review_decide": [REVIEW, DECIDE],  # 一审一核
    "review_audit_decide": [REVIEW, AUDIT, DECIDE],  # 承办-审核-决定
    "joint_three_departments": [REVIEW, joint_step(), DECIDE],  # 并联审批
}


# ---- who acts ----------------------------------------------------------------------------------------

def token(platform: Platform, username: str, name: str, role: Role = Role.approver, department: str = "区行政审批局",
          region_code: str = COUNTY) -> str:
    """A new staff account in the platform's gateway database, logged in through the gateway."""
    password = f"{username}-{uuid.uuid4().hex}"
    platform.add_account(username, password, name=name, role=role, department=department, region_code=region_code)
    return login(platform.url(), username, password)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def department_token(gateway: Gateway, department: str) -> str:
    return gateway.tokens[DEPARTMENT_ACCOUNTS[department]]


# ---- items and cases -----------------------------------------------------------------------------------

def publish_process_item(gateway: Gateway, steps: list[dict[str, Any]]) -> str:
    code = f"APR{uuid.uuid4().hex[:10]}"
    item = new_item(code) | {"process": steps, "joint": any(s["departments"] for s in steps)}
    created = gateway.call("POST", "/api/v1/catalogue/items", "catalogue-admin", json=item)
    assert created.status_code == 201, created.text
    published = gateway.call("POST", f"/api/v1/catalogue/items/{code}/publish", "catalogue-admin", json={})
    assert published.status_code == 200, published.text
    return code


def open_case(gateway: Gateway, steps: list[dict[str, Any]]) -> str:
    code = publish_process_item(gateway, steps)
    accepted = submit_when_replicated(gateway, code, COMPLETE)
    assert accepted["outcome"] == "accepted", accepted
    return str(accepted["case_no"])


def get_case(gateway: Gateway, case_no: str, account: str = "approver") -> dict[str, Any]:
    r = gateway.call("GET", f"{APPROVAL}/cases/{case_no}", account)
    assert r.status_code == 200, r.text
    return dict(r.json())


def complete(gateway: Gateway, task_id: str, body: dict[str, Any], account: str | None = "approver",
             headers: dict[str, str] | None = None) -> httpx.Response:
    return gateway.call("POST", f"{APPROVAL}/tasks/{task_id}/complete", account, json=body,
                        headers=dict(headers or {}))


def case_action(gateway: Gateway, case_no: str, action: str, body: dict[str, Any] | None = None,
                account: str = "approver") -> httpx.Response:
    return gateway.call("POST", f"{APPROVAL}/cases/{case_no}/{action}", account, json=body)


def department_task(gateway: Gateway, case_no: str, department: str) -> dict[str, Any]:
    """The open opinion task of one joint department, as that department's approver sees it."""

    def find() -> dict[str, Any] | None:
        r = gateway.call("GET", f"{APPROVAL}/tasks", params={"case_no": case_no, "status": "open"},
                         headers=bearer(department_token(gateway, department)))
        assert r.status_code == 200, r.text
        mine = [t for t in r.json()["items"] if t["kind"] == "department"]
        assert all(t["department"] == department for t in mine), mine  # another department's task is not shown
        return mine[0] if mine else None

    return dict(eventually(find))


def do_step(gateway: Gateway, case_no: str, step_code: str, account: str = "approver",
            **body: Any) -> dict[str, Any]:
    task = open_task(gateway, case_no, step_code)
    r = complete(gateway, task["task_id"], {"opinion": f"{step_code}：材料齐全，符合条件"} | body, account)
    assert r.status_code == 200, r.text
    return dict(r.json())


def answer_joint(gateway: Gateway, case_no: str, departments: list[str]) -> None:
    for department in departments:
        task = department_task(gateway, case_no, department)
        assert task["role"] == "approver" and task["step_code"] == "joint"
        r = complete(gateway, task["task_id"], {"opinion": "同意", "consent": True}, None,
                     bearer(department_token(gateway, department)))
        assert r.status_code == 200, r.text


def drive_to_decision_step(gateway: Gateway, case_no: str, steps: list[dict[str, Any]]) -> None:
    """Every step before the last done (and every joint department consenting)."""
    for step in steps[:-1]:
        if step["departments"]:
            answer_joint(gateway, case_no, step["departments"])
        else:
            done = do_step(gateway, case_no, step["code"])
            assert done["case_status"] == "in_review"


# ---- 1. the three shapes, to approval and to refusal ----------------------------------------------------

@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_process_shape_to_approval(gateway: Gateway, shape: str) -> None:
    steps = SHAPES[shape]
    case_no = open_case(gateway, steps)
    drive_to_decision_step(gateway, case_no, steps)
    decided = do_step(gateway, case_no, "decide", "department-head", decision="approve")
    assert decided["case_status"] == "decided" and decided["next_task_ids"] == []

    case = get_case(gateway, case_no, "supervisor")  # the case's approver sees no joint department's task
    assert case["process_source"] == "catalogue"
    assert case["decision"] == "approve" and case["status"] == "decided"
    assert "issue_certificate" in case["allowed_actions"]
    expected = [(s["code"], "step") for s in steps if not s["departments"]]
    expected += [("joint", "department")] * sum(len(s["departments"]) for s in steps)
    assert sorted((t["step_code"], t["kind"]) for t in case["tasks"]) == sorted(expected)
    assert all(t["status"] == "done" for t in case["tasks"])
    assert {t["outcome"] for t in case["tasks"] if t["step_code"] != "decide"} <= {"pass", "consent"}

    # Approved: the licence must come before it is served.
    early = case_action(gateway, case_no, "delivery", {"method": "window", "receiver": "张三"})
    assert early.status_code == 409 and early.json()["allowed_actions"] == ["issue_certificate"], early.text
    certificate = case_action(gateway, case_no, "certificate")
    assert certificate.status_code == 200, certificate.text
    assert certificate.json()["content"]["certificate_no"] == f"XK{case_no}"
    assert case_action(gateway, case_no, "delivery", {"method": "window", "receiver": "张三"}).status_code == 200
    closed = case_action(gateway, case_no, "complete")
    assert closed.status_code == 200, closed.text

    case = get_case(gateway, case_no)
    assert case["status"] == "completed" and case["allowed_actions"] == []
    assert case["certificate"]["content"]["case_no"] == case_no
    assert case["delivery"]["receiver"] == "张三"


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_process_shape_to_refusal(gateway: Gateway, shape: str) -> None:
    steps = SHAPES[shape]
    case_no = open_case(gateway, steps)
    drive_to_decision_step(gateway, case_no, steps)
    decide = open_task(gateway, case_no, "decide")

    without_reasons = complete(gateway, decide["task_id"], {"opinion": "不同意", "decision": "deny"},
                               "department-head")
    assert without_reasons.status_code == 422, without_reasons.text
    assert get_case(gateway, case_no)["status"] == "in_review"  # nothing decided by the refused request

    reasons = "经营场所不符合消防安全要求"
    denied = complete(gateway, decide["task_id"], {"opinion": "不同意", "decision": "deny", "reasons": reasons},
                      "department-head")
    assert denied.status_code == 200, denied.text
    assert denied.json()["case_status"] == "decided"
    case = get_case(gateway, case_no)
    assert case["status"] == "decided" and case["decision"] == "deny" and case["reasons"] == reasons
    decide_task = next(t for t in case["tasks"] if t["step_code"] == "decide")
    assert decide_task["outcome"] == "deny" and decide_task["assignee"] == "department-head"

    # No licence for a refusal: the decision itself is served.
    refused = case_action(gateway, case_no, "certificate")
    assert refused.status_code == 409, refused.text
    assert refused.json()["allowed_actions"] == ["deliver"]
    assert case_action(gateway, case_no, "delivery", {"method": "window", "receiver": "张三"}).status_code == 200
    assert case_action(gateway, case_no, "complete").status_code == 200
    case = get_case(gateway, case_no)
    assert case["status"] == "completed" and case["decision"] == "deny"
    assert case["certificate"] is None and case["delivery"]["method"] == "window"


# ---- 2. a silent joint department is taken to consent (超时默认) -----------------------------------------

def test_silent_joint_department_defaults_to_consent(gateway: Gateway) -> None:
    steps = [REVIEW, joint_step({"value": 1, "unit": "minutes"}), DECIDE]
    case_no = open_case(gateway, steps)
    do_step(gateway, case_no, "review")
    started = time.monotonic()
    silent = department_task(gateway, case_no, DEPARTMENTS[2])
    assert silent["time_limit"]["unit"] == "minutes" and silent["time_limit"]["value"] == 1
    answer_joint(gateway, case_no, DEPARTMENTS[:2])

    def defaulted() -> dict[str, Any] | None:
        case = get_case(gateway, case_no, "supervisor")  # a supervisor sees every department's task
        task = next(t for t in case["tasks"] if t["task_id"] == silent["task_id"])
        return case if task["status"] == "done" else None

    case = eventually(defaulted, timeout=120, interval=1.0)
    waited = time.monotonic() - started
    assert waited >= 55, f"defaulted after {waited:.0f}s, before the department's 1-minute limit passed"
    task = next(t for t in case["tasks"] if t["task_id"] == silent["task_id"])
    assert task["defaulted"] is True and task["outcome"] == "consent", task
    assert task["assignee"] == "system:approval"
    answered = [t for t in case["tasks"] if t["kind"] == "department" and t["task_id"] != silent["task_id"]]
    assert [t["defaulted"] for t in answered] == [False, False]
    assert [t["outcome"] for t in answered] == ["consent", "consent"]
    decide = [t for t in case["tasks"] if t["step_code"] == "decide"]
    assert len(decide) == 1 and decide[0]["status"] == "open", decide
    assert case["status"] == "in_review"

    decided = complete(gateway, decide[0]["task_id"], {"opinion": "同意", "decision": "approve"}, "department-head")
    assert decided.status_code == 200, decided.text
    assert get_case(gateway, case_no)["decision"] == "approve"


# ---- 3. 特别程序: the clock pauses and runs again ---------------------------------------------------------

def monitoring_case(gateway: Gateway, case_no: str, state: str) -> dict[str, Any]:
    def view() -> dict[str, Any] | None:
        r = gateway.call("GET", f"/api/v1/monitoring/cases/{case_no}", "supervisor")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        body = dict(r.json())
        return body if body["state"] == state else None

    return dict(eventually(view))


def handling_clock(view: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in view["clocks"] if c["kind"] == "handling")


def test_suspension_pauses_the_clock_and_resumption_runs_it_again(gateway: Gateway) -> None:
    case_no = open_case(gateway, SHAPES["review_decide"])
    review = open_task(gateway, case_no, "review")
    monitoring_case(gateway, case_no, "running")
    assert "suspend" in get_case(gateway, case_no)["allowed_actions"]

    r = case_action(gateway, case_no, "suspend",
                    {"reason": "expert_review", "explanation": "组织专家评审", "expected_days": 10})
    assert r.status_code == 200, r.text
    case = get_case(gateway, case_no)
    assert case["status"] == "suspended"
    assert case["allowed_actions"] == ["resume", "extend", "withdraw"]
    assert case["suspension"]["reason"] == "expert_review" and case["suspension"]["expected_days"] == 10

    paused = handling_clock(monitoring_case(gateway, case_no, "paused"))
    assert paused["state"] == "paused"
    assert len(paused["pauses"]) == 1 and paused["pauses"][0]["end"] is None, paused["pauses"]
    assert paused["pauses"][0]["expected_days"] == 10

    blocked = complete(gateway, review["task_id"], {"opinion": "材料齐全"})
    assert blocked.status_code == 409, blocked.text
    problem = blocked.json()
    assert problem["state"] == "suspended" and problem["allowed_actions"] == ["resume", "extend", "withdraw"]
    again = case_action(gateway, case_no, "suspend",
                        {"reason": "expert_review", "explanation": "再次评审", "expected_days": 5})
    assert again.status_code == 409, again.text

    r = case_action(gateway, case_no, "resume", {"result": "专家评审通过"})
    assert r.status_code == 200, r.text
    case = get_case(gateway, case_no)
    assert case["status"] == "in_review" and case["suspension"] is None
    assert "complete_task" in case["allowed_actions"] and "resume" not in case["allowed_actions"]
    running = handling_clock(monitoring_case(gateway, case_no, "running"))
    assert len(running["pauses"]) == 1 and running["pauses"][0]["end"] is not None, running["pauses"]

    # The review goes on where it stood.
    r = complete(gateway, review["task_id"], {"opinion": "材料齐全"})
    assert r.status_code == 200, r.text
    do_step(gateway, case_no, "decide", "department-head", decision="approve")
    assert get_case(gateway, case_no)["status"] == "decided"


# ---- 4. two approvers claim one task at once ------------------------------------------------------------

def test_concurrent_claims_one_wins_and_the_other_learns_who(platform: Platform, gateway: Gateway) -> None:
    case_no = open_case(gateway, SHAPES["review_decide"])
    task_id = open_task(gateway, case_no, "review")["task_id"]
    claimers = {"approver": gateway.tokens["approver"], "u-appr02": token(platform, "u-appr02", "林晓东")}
    barrier = threading.Barrier(len(claimers))
    results: dict[str, httpx.Response] = {}

    def claim(subject: str) -> None:
        with httpx.Client(base_url=platform.url(), timeout=30) as client:
            barrier.wait()
            results[subject] = client.post(f"{APPROVAL}/tasks/{task_id}/claim", json={},
                                           headers=bearer(claimers[subject]))

    threads = [threading.Thread(target=claim, args=(s,)) for s in claimers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.status_code for r in results.values()) == [200, 409], {s: r.text for s, r in results.items()}
    holder = next(s for s, r in results.items() if r.status_code == 200)
    loser = next(s for s in claimers if s != holder)
    assert results[holder].json()["claimed_by"] == holder
    assert results[loser].json()["claimed_by"] == holder, results[loser].text

    stolen = complete(gateway, task_id, {"opinion": "抢先办理"}, None, bearer(claimers[loser]))
    assert stolen.status_code == 409 and stolen.json()["claimed_by"] == holder, stolen.text
    stolen_release = gateway.call("POST", f"{APPROVAL}/tasks/{task_id}/release", json={},
                                  headers=bearer(claimers[loser]))
    assert stolen_release.status_code == 409, stolen_release.text

    released = gateway.call("POST", f"{APPROVAL}/tasks/{task_id}/release", json={}, headers=bearer(claimers[holder]))
    assert released.status_code == 200 and released.json()["claimed_by"] is None, released.text
    taken = gateway.call("POST", f"{APPROVAL}/tasks/{task_id}/claim", json={}, headers=bearer(claimers[loser]))
    assert taken.status_code == 200 and taken.json()["claimed_by"] == loser, taken.text
    done = complete(gateway, task_id, {"opinion": "材料齐全"}, None, bearer(claimers[loser]))
    assert done.status_code == 200, done.text
    task = next(t for t in get_case(gateway, case_no)["tasks"] if t["task_id"] == task_id)
    assert task["assignee"] == loser and task["status"] == "done"


# ---- 5. approval restarts in the middle of a process ------------------------------------------------------

def test_approval_restart_mid_process_loses_nothing(platform: Platform, gateway: Gateway) -> None:
    steps = SHAPES["review_audit_decide"]
    code = publish_process_item(gateway, steps)
    first = submit_when_replicated(gateway, code, COMPLETE)["case_no"]
    do_step(gateway, first, "review")
    audit = open_task(gateway, first, "audit")

    platform.kill("approval", signal.SIGKILL)
    try:
        down = gateway.call("GET", f"{APPROVAL}/cases/{first}", "approver")
        assert down.status_code >= 500, down.text
        # Acceptance goes on: the case waits on the topic for approval.
        r = gateway.call("POST", "/api/v1/applications", "county-clerk", json=application(code, COMPLETE))
        assert r.status_code == 201 and r.json()["outcome"] == "accepted", r.text
        second = r.json()["case_no"]
    finally:
        platform.start_process("approval")

    case = get_case(gateway, first)
    assert case["status"] == "in_review"
    assert [(t["step_code"], t["status"]) for t in case["tasks"]] == [("review", "done"), ("audit", "open")]
    assert case["tasks"][1]["task_id"] == audit["task_id"]
    do_step(gateway, first, "audit")
    decide = open_task(gateway, first, "decide")
    r = complete(gateway, decide["task_id"], {"opinion": "同意", "decision": "approve"}, "department-head")
    assert r.status_code == 200, r.text
    for action, body in (("certificate", None), ("delivery", {"method": "window", "receiver": "张三"}),
                         ("complete", None)):
        assert case_action(gateway, first, action, body).status_code == 200
    assert get_case(gateway, first)["status"] == "completed"

    review = open_task(gateway, second, "review")
    assert review["status"] == "open"
    opened = get_case(gateway, second)
    assert opened["status"] == "in_review" and opened["process_source"] == "catalogue"
    assert len(opened["tasks"]) == 1


# ---- 6. another region, another department, no opinion ----------------------------------------------------

def test_foreign_region_and_department_cannot_act(platform: Platform, gateway: Gateway) -> None:
    case_no = open_case(gateway, SHAPES["joint_three_departments"])
    review = open_task(gateway, case_no, "review")
    elsewhere = bearer(token(platform, "u-qh01", "秦淮审批员", region_code=OTHER_COUNTY))
    elsewhere_head = bearer(token(platform, "u-qh02", "秦淮负责人", Role.department_head, region_code=OTHER_COUNTY))

    r = gateway.call("GET", f"{APPROVAL}/cases/{case_no}", headers=dict(elsewhere))
    assert r.status_code == 404, r.text
    # Answered exactly like a case that does not exist (a well-formed number: the gateway already answers for both).
    nowhere = gateway.call("GET", f"{APPROVAL}/cases/{case_no.rsplit('-', 1)[0]}-99999", headers=dict(elsewhere))
    assert nowhere.status_code == 404
    assert set(r.json()) == set(nowhere.json()) and r.json()["type"] == nowhere.json()["type"]
    r = gateway.call("GET", f"{APPROVAL}/tasks", params={"case_no": case_no}, headers=dict(elsewhere))
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    r = complete(gateway, review["task_id"], {"opinion": "越权办理"}, None, elsewhere)
    assert r.status_code == 404, r.text
    r = gateway.call("POST", f"{APPROVAL}/tasks/{review['task_id']}/claim", json={}, headers=dict(elsewhere))
    assert r.status_code == 404, r.text
    r = gateway.call("POST", f"{APPROVAL}/cases/{case_no}/suspend", headers=dict(elsewhere_head),
                     json={"reason": "expert_review", "explanation": "越权", "expected_days": 3})
    assert r.status_code == 404, r.text

    missing = complete(gateway, review["task_id"], {})
    assert missing.status_code == 422, missing.text
    blank = complete(gateway, review["task_id"], {"opinion": "   "})
    assert blank.status_code == 422, blank.text
    assert complete(gateway, review["task_id"], {"opinion": "材料齐全"}).status_code == 200

    land = department_task(gateway, case_no, DEPARTMENTS[0])
    # The case's own approver (区行政审批局) and another joint department both meet a 404.
    planning, agriculture = (bearer(department_token(gateway, d)) for d in DEPARTMENTS[:2])
    for headers in (bearer(gateway.tokens["approver"]), agriculture, elsewhere):
        r = complete(gateway, land["task_id"], {"opinion": "同意", "consent": True}, None, headers)
        assert r.status_code == 404, r.text
    r = complete(gateway, land["task_id"], {"consent": True}, None, planning)
    assert r.status_code == 422, r.text
    r = complete(gateway, land["task_id"], {"opinion": "同意"}, None, planning)
    assert r.status_code == 422, r.text  # a joint opinion says whether the department consents
    r = complete(gateway, land["task_id"], {"opinion": "同意", "consent": True}, None, planning)
    assert r.status_code == 200, r.text
    task = next(t for t in get_case(gateway, case_no, "supervisor")["tasks"] if t["task_id"] == land["task_id"])
    assert task["status"] == "done" and task["assignee"] == "planning-approver" and task["outcome"] == "consent"
