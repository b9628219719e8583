"""收件 then 审查受理 over real HTTP, a real SQLite file and the session broker, with the 5-working-day rule
of 行政许可法 Art. 32(4): a case nobody decided in time counts as accepted from the day of receipt."""

# ruff: noqa: F811 (the imported fixtures are parameters of the tests)

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.acceptance.adapters.tables import messaging
from services.acceptance.intake import sweep_overdue
from services.common.contracts.case import CaseAccepted, CaseReceived, SupplementRequested
from services.common.db import make_engine, make_session_factory
from services.common.messaging import Outbox
from services.common.workdays import SHANGHAI, WorkingDayCalendar, end_of_day
from tests.integration.acceptance.test_acceptance_api import (  # noqa: F401 (the fixture)
    CLERK,
    COMPLETE,
    Acceptance,
    _assert_problem,
    _wait_for,
    _working_days_after,
    acceptance,
)
from tests.integration.acceptance.test_channels import PLATFORM
from tests.integration.acceptance.test_outcomes import (  # noqa: F401 (the fixtures)
    ABSENT,
    DEPUTY,
    STRANGER,
    World,
    deputies,
    world,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
def slow_sweep(service_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep runs at start-up and then not for an hour: a late examination finds the case undecided."""
    monkeypatch.setenv("ACCEPTANCE_INTAKE_SWEEP_SECONDS", "3600")


@pytest.fixture
def fast_sweep(service_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCEPTANCE_INTAKE_SWEEP_SECONDS", "0.2")


@pytest.fixture
def slow_world(slow_sweep: None, world: World) -> Iterator[World]:
    yield world


@pytest.fixture
def fast_world(fast_sweep: None, world: World) -> Iterator[World]:
    yield world


def _receive(svc: Acceptance, materials: list[dict[str, Any]] | None = None,
             headers: dict[str, str] = CLERK, **changes: Any) -> Any:
    return svc.client.post("/api/v1/applications/intake", json=svc.application(materials, **changes),
                           headers=headers | {"Idempotency-Key": str(uuid.uuid4())})


def _examine(svc: Acceptance, case_no: str, body: dict[str, Any] | None = None, headers: dict[str, str] = CLERK,
             key: str | None = None) -> Any:
    return svc.client.post(f"/api/v1/applications/{case_no}/examination", json=body or {},
                           headers=headers | {"Idempotency-Key": key or str(uuid.uuid4())})


def _pushed_days_ago(svc: Acceptance, days: int) -> dict[str, Any]:
    """An online application the provincial platform received `days` ago and pushes only now."""
    received_at = datetime.now(UTC) - timedelta(days=days)
    response = _receive(svc, headers=PLATFORM, channel="provincial", received_at=received_at.isoformat())
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_received_case_waits_with_its_due_instant_and_intake_receipt(slow_world: World) -> None:
    svc = slow_world.svc
    response = _receive(svc)
    assert response.status_code == 201, response.text
    body = response.json()
    case_no = body["case_no"]
    assert (body["outcome"], body["status"], body["document_no"]) == ("received", "received", f"SJ{case_no}")
    assert body["accepted_at"] is None and body["promised_due_date"] is None and not body["deemed_accepted"]
    received = datetime.fromisoformat(body["received_at"])
    fifth = _working_days_after(received.astimezone(SHANGHAI).date(), 5)
    assert datetime.fromisoformat(body["decision_due_at"]) == end_of_day(fifth)  # 24:00 of the 5th working day
    assert str(fifth) in body["message"]
    assert slow_world.progress(case_no) == "received"
    assert [type(e) for e in slow_world.events(case_no, 1)] == [CaseReceived]

    page = svc.client.get(f"/api/v1/applications/{case_no}/documents/intake-receipt", headers=CLERK)
    assert page.status_code == 200, page.text
    assert "申请材料收件凭证" in page.text and f"SJ{case_no}" in page.text
    assert f"{fifth.year}年{fifth.month}月{fifth.day}日" in page.text and "即为受理" in page.text
    # Not yet accepted: no receipt (受理凭证) to print.
    assert _assert_problem(svc.client.get(f"/api/v1/applications/{case_no}/documents/receipt", headers=CLERK),
                           404)["applicable_kinds"] == ["intake-receipt"]


def test_examined_in_time_the_case_is_accepted_from_the_examination(slow_world: World) -> None:
    svc = slow_world.svc
    case_no = _receive(svc).json()["case_no"]
    response = _examine(svc, case_no)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["status"], body["document_no"]) == ("accepted", "accepted", f"SL{case_no}")
    assert not body["deemed_accepted"]
    accepted_at = datetime.fromisoformat(body["accepted_at"])
    assert accepted_at > datetime.fromisoformat(body["received_at"])
    events = slow_world.events(case_no, 2)
    assert [type(e) for e in events] == [CaseReceived, CaseAccepted]
    accepted = events[1]
    assert isinstance(accepted, CaseAccepted) and not accepted.deemed
    assert accepted.occurred_at == accepted_at and accepted.received_at == events[0].occurred_at
    assert slow_world.progress(case_no) == "accepted"
    # Both documents stay printable: what was received, and the acceptance.
    for kind in ("intake-receipt", "receipt"):
        assert svc.client.get(f"/api/v1/applications/{case_no}/documents/{kind}", headers=CLERK).status_code == 200
    again = _assert_problem(_examine(svc, case_no), 409)
    assert again["state"] == "accepted" and again["allowed_actions"] == ["fees", "withdraw"]


def test_examined_in_time_with_materials_missing_gives_the_one_time_notice(slow_world: World) -> None:
    svc = slow_world.svc
    case_no = _receive(svc, COMPLETE[:2]).json()["case_no"]
    response = _examine(svc, case_no)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["document_no"]) == ("supplement_requested", f"BZ{case_no}")
    assert [m["code"] for m in body["missing"]] == ["M04"]
    events = slow_world.events(case_no, 2)
    assert isinstance(events[1], SupplementRequested) and events[1].notice_no == f"BZ{case_no}"
    supplied = svc.client.post(f"/api/v1/applications/{case_no}/supplement", headers=CLERK,
                               json={"materials": [{"code": "M04", "copies": 1}]})
    assert supplied.status_code == 200 and supplied.json()["outcome"] == "accepted", supplied.text


def test_a_refusal_on_examination_is_recorded(slow_world: World) -> None:
    svc = slow_world.svc
    case_no = _receive(svc).json()["case_no"]
    refusal = {"reason": "不属于本机关职权范围", "legal_basis": "《行政许可法》第三十二条第一款第二项",
               "competent_agency": "市市场监督管理局"}
    body = _examine(svc, case_no, {"refusal": refusal}).json()
    assert (body["outcome"], body["status"], body["refusal"]) == ("rejected", "rejected", refusal)
    assert slow_world.progress(case_no) == "rejected"


def test_only_the_receiving_clerk_or_their_deputy_examines(slow_world: World) -> None:
    svc = slow_world.svc
    case_no = _receive(svc).json()["case_no"]
    before = svc.counts()
    assert _assert_problem(_examine(svc, case_no, headers=STRANGER), 403)["type"].endswith("/not-case-owner")
    assert svc.counts() == before
    response = _examine(svc, case_no, {"deputy_for": ABSENT}, headers=DEPUTY)
    assert response.status_code == 200, response.text
    assert response.json()["clerk"]["user_id"] == "u-clerk"  # 首问负责: still the owner
    assert response.json()["outcome_document"]["clerk"]["user_id"] == "u-deputy"
    assert _assert_problem(_examine(svc, "320102-20000101-99999"), 404)["type"].endswith("/case-not-found")


def test_an_examination_after_five_working_days_finds_the_case_accepted_by_law(slow_world: World) -> None:
    svc = slow_world.svc
    pushed = _pushed_days_ago(svc, 10)
    case_no, received_at = pushed["case_no"], datetime.fromisoformat(pushed["received_at"])
    assert datetime.fromisoformat(pushed["decision_due_at"]) < datetime.now(UTC)
    key = str(uuid.uuid4())
    # An online case has no first clerk yet: any clerk of the region examines it, and too late here.
    notice = {"deferral": None}
    problem = _assert_problem(_examine(svc, case_no, notice, STRANGER, key=key), 409)
    assert problem["type"].endswith("/acceptance-deemed") and problem["document_no"] == f"SL{case_no}"
    assert datetime.fromisoformat(problem["accepted_at"]) == received_at
    replay = _examine(svc, case_no, notice, STRANGER, key=key)
    assert replay.status_code == 409 and replay.json() == problem  # the same answer, nothing more
    case = svc.client.get(f"/api/v1/applications/{case_no}", headers=CLERK).json()
    assert case["deemed_accepted"] and case["status"] == "accepted"
    assert datetime.fromisoformat(case["accepted_at"]) == received_at
    assert svc.outbox_types(case_no).count(CaseAccepted.event_type) == 1


def test_the_sweep_accepts_by_law_a_case_nobody_examined(fast_world: World) -> None:
    svc = fast_world.svc
    pushed = _pushed_days_ago(svc, 12)
    case_no, received_at = pushed["case_no"], datetime.fromisoformat(pushed["received_at"])
    in_time = _receive(svc).json()["case_no"]  # received now: not touched by the sweep

    def deemed() -> dict[str, Any] | None:
        case = svc.client.get(f"/api/v1/applications/{case_no}", headers=CLERK).json()
        return case if case["deemed_accepted"] else None

    case = _wait_for("the sweep's deemed acceptance", deemed)
    assert (case["outcome"], case["status"], case["document_no"]) == ("accepted", "accepted", f"SL{case_no}")
    assert datetime.fromisoformat(case["accepted_at"]) == received_at
    assert "视为受理" in case["message"]
    events = fast_world.events(case_no, 2)
    assert [type(e) for e in events] == [CaseReceived, CaseAccepted]
    accepted = events[1]
    assert isinstance(accepted, CaseAccepted) and accepted.deemed
    assert accepted.occurred_at == accepted.received_at == received_at
    assert accepted.clerk.user_id == "system:acceptance"
    assert fast_world.progress(case_no) == "accepted"
    page = svc.client.get(f"/api/v1/applications/{case_no}/documents/receipt", headers=CLERK)
    assert page.status_code == 200 and "即为受理" in page.text and "决定予以受理" not in page.text
    assert fast_world.progress(in_time) == "received"


def test_a_withdrawn_received_case_is_not_accepted_by_the_sweep(slow_world: World) -> None:
    svc = slow_world.svc
    case_no = _pushed_days_ago(svc, 10)["case_no"]  # overdue, and withdrawn before the sweep's next round
    withdrawn = svc.client.post(f"/api/v1/applications/{case_no}/withdraw", headers=CLERK,
                                json={"request_ref": "CH-1", "reason": "不再申请"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert slow_world.row(case_no)["status"] == "withdrawn"
    # The sweep itself, on the service's database file, as its next round would run it.
    engine = make_engine(f"sqlite:///{svc.db}")
    try:
        deemed = sweep_overdue(make_session_factory(engine), Outbox(messaging, "/zwfw/acceptance", svc.prefix),
                               WorkingDayCalendar())
    finally:
        engine.dispose()
    assert case_no not in deemed
    assert _assert_problem(_examine(svc, case_no), 409)["state"] == "withdrawn"
    assert CaseAccepted.event_type not in svc.outbox_types(case_no)
