# ruff: noqa: F401, F811 (the imported `acceptance` fixture is a parameter of the tests)
"""办件进度查询 and 撤回申请 over real HTTP, a real SQLite file and the session broker.

The progress follows a case through events published on the case topic as approval publishes them; the
query answers an unknown case and a wrong id suffix alike and is rate-limited per address and per case
number. A window clerk withdraws a case before its decision: CaseWithdrawn goes out through the outbox.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.contracts import Topic
from services.common.contracts.case import (
    CaseCompleted,
    CaseDecided,
    CaseWithdrawn,
    Decision,
    MissingMaterial,
    StepCompleted,
    StepStarted,
    SupplementRequested,
    SupplementSupplied,
)
from services.common.contracts.payloads import Actor, EventPayload
from services.common.principal import PrincipalKind, Role
from tests.conftest import principal_headers
from tests.integration.acceptance.test_acceptance_api import (
    CLERK,
    COMPLETE,
    COUNTY,
    PERSON,
    Acceptance,
    _assert_problem,
    _case_events,
    _publish,
    _wait_for,
    acceptance,
)

pytestmark = pytest.mark.kafka

PUBLIC = principal_headers(Role.public, "", subject="anonymous", kind=PrincipalKind.public, name="")
APPROVER = Actor(user_id="u-approver", name="审查员", role="approver", department="区行政审批局")
PROGRESS_FIELDS = {"case_no", "status", "status_name", "step_name", "promised_due_date", "last_changed_at"}


@pytest.fixture
def relaxed(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Acceptance:
    """Acceptance whose per-address limit lets a test poll the progress while events arrive."""
    monkeypatch.setenv("ACCEPTANCE_PROGRESS_LIMIT_PER_ADDRESS", "1000/minute")
    service: Acceptance = request.getfixturevalue("acceptance")
    return service


def _query(service: Acceptance, case_no: str, suffix: str, address: str = "198.51.100.7",
           headers: dict[str, str] | None = None) -> Any:
    return service.client.get("/api/v1/applications/progress", params={"case_no": case_no, "id_suffix": suffix},
                              headers=(PUBLIC if headers is None else headers) | {"X-Forwarded-For": address})


def _accepted_case(service: Acceptance, applicant: dict[str, str] = PERSON) -> dict[str, Any]:
    response = service.submit(service.application(applicant=applicant))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _withdraw(service: Acceptance, case_no: str, headers: dict[str, str] = CLERK, key: str | None = None,
              **body: str) -> Any:
    payload = {"request_ref": "CH-2026-0042", "reason": "申请人决定暂不开业"} | body
    extra = {"Idempotency-Key": key} if key else {}
    return service.client.post(f"/api/v1/applications/{case_no}/withdraw", json=payload, headers=headers | extra)


def _approval_says(service: Acceptance, *payloads: EventPayload) -> None:
    asyncio.run(_publish(service.bootstrap, service.prefix, list(payloads)))


def _progress_becomes(service: Acceptance, case_no: str, status: str, step: str | None = None) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = _query(service, case_no, PERSON["id_number"][-6:])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if (body["status"], body["step_name"]) == (status, step) else None

    found: dict[str, Any] = _wait_for(f"{case_no} {status} {step}", probe)
    return found


def _own_events_back(service: Acceptance, case_no: str) -> None:
    """Waits until acceptance's case group has read its own CaseAccepted back from the topic."""
    def applied() -> bool:
        with sqlite3.connect(service.db) as conn:
            published = conn.execute("SELECT count(*) FROM outbox WHERE key = ? AND published_at IS NOT NULL",
                                     (case_no,)).fetchone()[0]
            read = conn.execute("SELECT count(*) FROM inbox WHERE consumer LIKE '%acceptance.case'").fetchone()[0]
        return published >= 1 and read >= 1

    _wait_for("acceptance's own event read back", applied)


def _step(case_no: str, code: str, name: str, role: str = "approver") -> StepStarted:
    return StepStarted(occurred_at=datetime.now(UTC), case_no=case_no, step_code=code, step_name=name,
                       task_id=f"T-{uuid.uuid4().hex[:8]}", role=role)


def test_progress_follows_the_case_through_approvals_events(relaxed: Acceptance) -> None:
    case = _accepted_case(relaxed)
    case_no = case["case_no"]
    first = _query(relaxed, case_no, "31002x")  # X in lower case is the same suffix
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == PROGRESS_FIELDS  # nothing personal: no name, id, phone, materials, clerk
    assert (body["status"], body["status_name"], body["step_name"]) == ("accepted", "已受理", None)
    assert body["promised_due_date"] == case["promised_due_date"]
    for personal in (PERSON["name"], PERSON["id_number"].upper(), PERSON["phone"], "窗口甲"):
        assert personal not in first.text
    _own_events_back(relaxed, case_no)
    assert _query(relaxed, case_no, "31002X").json() == body  # our own CaseAccepted changed nothing

    _approval_says(relaxed, _step(case_no, "review", "审查"))
    reviewing = _progress_becomes(relaxed, case_no, "in_review", "审查")
    assert reviewing["status_name"] == "审查中"
    assert reviewing["promised_due_date"] == case["promised_due_date"]

    _approval_says(relaxed, SupplementRequested(
        occurred_at=datetime.now(UTC), case_no=case_no, stage="review", notice_no=f"BZ2-{case_no}", actor=APPROVER,
        missing=[MissingMaterial(code="M04", name="经营场所证明", reason="复印件不清晰")],
    ))
    assert _progress_becomes(relaxed, case_no, "supplement_requested", "审查")["status_name"] == "补正中"
    _approval_says(
        relaxed,
        SupplementSupplied(occurred_at=datetime.now(UTC), case_no=case_no, stage="review"),
        StepCompleted(occurred_at=datetime.now(UTC), case_no=case_no, step_code="review", step_name="审查",
                      task_id="T-1", actor=APPROVER, opinion="同意"),
        _step(case_no, "decide", "决定", role="department_head"),
    )
    _progress_becomes(relaxed, case_no, "in_review", "决定")

    decided_at = datetime.now(UTC)
    _approval_says(relaxed, CaseDecided(occurred_at=decided_at, case_no=case_no, decision=Decision.approve,
                                        actor=APPROVER))
    decided = _progress_becomes(relaxed, case_no, "decided")
    assert decided["status_name"] == "已决定"
    assert datetime.fromisoformat(decided["last_changed_at"]) == decided_at
    refused = _withdraw(relaxed, case_no)
    problem = _assert_problem(refused, 409)
    assert (problem["state"], problem["allowed_actions"]) == ("decided", [])
    assert problem["type"].endswith("/case-not-withdrawable")

    completed_at = datetime.now(UTC)
    _approval_says(relaxed, CaseCompleted(occurred_at=completed_at, case_no=case_no, item_code=relaxed.item_code,
                                          item_name="食品经营许可", region_code=COUNTY, result="approve"))
    completed = _progress_becomes(relaxed, case_no, "completed")
    assert completed["status_name"] == "已办结"
    assert datetime.fromisoformat(completed["last_changed_at"]) == completed_at
    assert _assert_problem(_withdraw(relaxed, case_no), 409)["state"] == "completed"


def test_an_unknown_case_and_a_wrong_suffix_answer_alike(relaxed: Acceptance) -> None:
    case_no = _accepted_case(relaxed)["case_no"]
    company_case = relaxed.submit().json()["case_no"]  # 统一社会信用代码 91110000600037341L
    assert _query(relaxed, company_case, "37341l").json()["status"] == "accepted"
    assert _query(relaxed, company_case, "31002X").status_code == 404  # another case's suffix

    wrong_suffix = _query(relaxed, case_no, "310021")
    unknown_case = _query(relaxed, "320102001-20000101-99999", "31002X")
    for response in (wrong_suffix, unknown_case):
        assert _assert_problem(response, 404)["type"].endswith("/progress-not-found")
    assert wrong_suffix.json() == unknown_case.json()
    assert wrong_suffix.headers.keys() == unknown_case.headers.keys()

    assert _assert_problem(_query(relaxed, case_no, "1002X"), 422)["type"].endswith("/validation-error")
    no_gateway = relaxed.client.get("/api/v1/applications/progress",
                                    params={"case_no": case_no, "id_suffix": "31002X"})
    assert _assert_problem(no_gateway, 401)["type"].endswith("/unauthenticated")


def test_progress_queries_are_rate_limited(acceptance: Acceptance) -> None:
    case_no = _accepted_case(acceptance)["case_no"]
    other_case = _accepted_case(acceptance)["case_no"]
    for _ in range(10):  # 10 per minute per address
        assert _query(acceptance, case_no, "31002X", address="203.0.113.1").status_code == 200
    limited = _query(acceptance, case_no, "31002X", address="203.0.113.1")
    problem = _assert_problem(limited, 429)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert problem["retry_after_seconds"] == int(limited.headers["retry-after"])
    # The gateway's entry is the last one: an address the client writes in front does not reset its count.
    assert _query(acceptance, case_no, "31002X", address="192.0.2.9, 203.0.113.1").status_code == 429
    assert _query(acceptance, case_no, "31002X", address="203.0.113.2").status_code == 200

    # 5 wrong guesses per case number per hour, from wherever they come; then even the right suffix waits.
    for i in range(5):
        assert _query(acceptance, case_no, f"00000{i}", address=f"198.18.0.{i}").status_code == 404
    spent = _query(acceptance, case_no, "31002X", address="198.18.1.1")
    assert _assert_problem(spent, 429)["type"].endswith("/too-many-requests")
    assert int(spent.headers["retry-after"]) > 60  # the hour's window, not the minute's
    assert _query(acceptance, other_case, "31002X", address="198.18.1.2").status_code == 200


def test_a_clerk_withdraws_a_case_before_its_decision(relaxed: Acceptance) -> None:
    case_no = _accepted_case(relaxed)["case_no"]
    before = relaxed.counts()
    assert _assert_problem(_withdraw(relaxed, case_no, principal_headers(Role.approver, COUNTY)), 403)
    elsewhere = _withdraw(relaxed, case_no, principal_headers(Role.window_clerk, "320104000000"))
    assert _assert_problem(elsewhere, 404)["type"].endswith("/case-not-found")
    assert _assert_problem(_withdraw(relaxed, "320102001-20000101-99999"), 404)["type"].endswith("/case-not-found")
    assert _assert_problem(_withdraw(relaxed, case_no, reason=""), 422)["type"].endswith("/validation-error")
    assert relaxed.counts() == before

    key = str(uuid.uuid4())
    done = _withdraw(relaxed, case_no, key=key)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["case_no"], body["status"], body["status_name"]) == (case_no, "withdrawn", "已撤回")
    assert (body["request_ref"], body["reason"]) == ("CH-2026-0042", "申请人决定暂不开业")
    replay = _withdraw(relaxed, case_no, key=key)
    assert (replay.status_code, replay.json(), replay.headers["idempotent-replayed"]) == (200, body, "true")
    again = _withdraw(relaxed, case_no)
    problem = _assert_problem(again, 409)
    assert (problem["state"], problem["allowed_actions"]) == ("withdrawn", [])

    progress = _query(relaxed, case_no, "31002X").json()
    assert (progress["status"], progress["status_name"], progress["step_name"]) == ("withdrawn", "已撤回", None)
    assert relaxed.outbox_types(case_no) == ["zwfw.case.accepted.v1", CaseWithdrawn.event_type]
    events = asyncio.run(_case_events(relaxed.bootstrap, Topic.case.name_with(relaxed.prefix), case_no, 2))
    assert [type(p).__name__ for _, _, p in events] == ["CaseAccepted", "CaseWithdrawn"]
    withdrawn = events[1][2]
    assert isinstance(withdrawn, CaseWithdrawn) and withdrawn.actor is not None
    assert "申请人决定暂不开业" in withdrawn.reason and "CH-2026-0042" in withdrawn.reason
    assert (withdrawn.actor.user_id, withdrawn.actor.role) == ("u-clerk", "window_clerk")

    # A case still waiting for its supplement (not yet accepted) may be withdrawn as well.
    waiting = relaxed.submit(relaxed.application(COMPLETE[:1], applicant=PERSON)).json()["case_no"]
    assert _withdraw(relaxed, waiting).status_code == 200
    assert _query(relaxed, waiting, "31002X").json()["status"] == "withdrawn"


def test_a_decision_made_before_the_withdrawal_arrived_wins(relaxed: Acceptance) -> None:
    """Approval decided before it read the withdrawal: it refuses the withdrawal, its CaseDecided follows."""
    case_no = _accepted_case(relaxed)["case_no"]
    _own_events_back(relaxed, case_no)
    assert _withdraw(relaxed, case_no).status_code == 200
    # A step approval started before it saw the withdrawal does not bring the case back to review.
    _approval_says(relaxed, _step(case_no, "review", "审查"))

    def step_read() -> bool:
        with sqlite3.connect(relaxed.db) as conn:
            return bool(conn.execute("SELECT count(*) FROM inbox WHERE consumer LIKE '%acceptance.case' AND "
                                     "event_type = ?", (StepStarted.event_type,)).fetchone()[0])

    _wait_for("the step read", step_read)
    assert _query(relaxed, case_no, "31002X").json()["status"] == "withdrawn"
    _approval_says(relaxed, CaseDecided(occurred_at=datetime.now(UTC), case_no=case_no, decision=Decision.deny,
                                        reasons="不符合条件", actor=APPROVER))
    assert _progress_becomes(relaxed, case_no, "decided")["status_name"] == "已决定"
