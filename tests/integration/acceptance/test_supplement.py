"""补正 over real HTTP: only what the one-time notice listed may be brought; once all of it is there the
case is accepted, counted as received on the day of the supplement (行政许可法 Art. 32)."""

# ruff: noqa: F811 (the imported fixtures are parameters of the tests)

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from services.common.contracts.case import CaseAccepted, SupplementSupplied
from services.common.workdays import SHANGHAI
from tests.integration.acceptance.test_acceptance_api import (  # noqa: F401 (the fixture)
    CLERK,
    COMPLETE,
    Acceptance,
    _assert_problem,
    acceptance,
)
from tests.integration.acceptance.test_outcomes import (  # noqa: F401 (the fixtures)
    ABSENT,
    DEPUTY,
    STRANGER,
    World,
    deputies,
    world,
)

pytestmark = pytest.mark.kafka


def _notice(world: World) -> str:
    """A notice listing M02 (short) and M04 (missing)."""
    response = world.svc.submit(world.svc.application([COMPLETE[0], {"code": "M02", "originals": 1}]))
    assert response.json()["outcome"] == "supplement_requested", response.text
    return str(response.json()["case_no"])


def _supply(world: World, case_no: str, body: dict, headers: dict[str, str] = CLERK) -> object:
    return world.svc.client.post(f"/api/v1/applications/{case_no}/supplement", json=body, headers=headers)


def test_supplying_everything_listed_accepts_the_case_from_the_supplement(world: World) -> None:
    case_no = _notice(world)
    partial = _supply(world, case_no, {"materials": [{"code": "M02", "copies": 1}]})
    assert partial.status_code == 200, partial.text
    assert partial.json()["outcome"] == "supplement_requested"
    assert [m["code"] for m in partial.json()["missing"]] == ["M04"]  # the rest of the same notice, no new one

    # M02 is no longer missing, but the notice as issued listed it: one more copy is still within it.
    complete = _supply(world, case_no, {"materials": [{"code": "M02", "copies": 1}, {"code": "M04", "copies": 1}]})
    assert complete.status_code == 200, complete.text
    body = complete.json()
    assert (body["outcome"], body["status"], body["document_no"]) == ("accepted", "accepted", f"SL{case_no}")
    assert body["missing"] == [] and body["outcome_document"]["kind"] == "accepted"
    accepted_at = datetime.fromisoformat(body["accepted_at"])
    assert accepted_at > datetime.fromisoformat(body["received_at"])
    assert world.progress(case_no) == "accepted"

    events = world.events(case_no, 5)
    names = [type(e).__name__ for e in events]
    assert names == ["CaseReceived", "SupplementRequested", "SupplementSupplied", "SupplementSupplied",
                     "CaseAccepted"], names
    supplied, accepted = events[3], events[4]
    assert isinstance(supplied, SupplementSupplied) and supplied.stage == "acceptance"
    assert isinstance(accepted, CaseAccepted)
    assert accepted.received_at == accepted_at  # Art. 32: received when the materials became complete
    assert [m.code for m in accepted.materials] == ["M01", "M02", "M04"]

    # Both documents stay printable: the notice as issued (both materials it listed), and the receipt.
    notice = world.svc.client.get(f"/api/v1/applications/{case_no}/documents/supplement-notice", headers=CLERK)
    assert notice.status_code == 200, notice.text
    assert f"BZ{case_no}" in notice.text and "经营者身份证明" in notice.text and "经营场所证明" in notice.text
    assert "补正材料一次性告知书" in notice.text
    receipt = world.svc.client.get(f"/api/v1/applications/{case_no}/documents/receipt", headers=CLERK)
    assert receipt.status_code == 200 and f"SL{case_no}" in receipt.text


def test_a_material_the_notice_did_not_list_is_refused(world: World) -> None:
    case_no = _notice(world)
    before = world.svc.counts()
    response = _supply(world, case_no, {"materials": [{"code": "M04", "copies": 1}, {"code": "M03", "originals": 1}]})
    problem = _assert_problem(response, 422)
    assert problem["type"].endswith("/supplement-not-listed") and problem["not_listed"] == ["M03"]
    assert world.svc.counts() == before and world.row(case_no)["status"] == "supplement_requested"


def test_supplementing_a_case_not_waiting_for_it_is_a_conflict(world: World) -> None:
    accepted = world.svc.submit(world.svc.application()).json()["case_no"]
    problem = _assert_problem(_supply(world, accepted, {"materials": [{"code": "M04", "copies": 1}]}), 409)
    assert problem["state"] == "accepted" and problem["allowed_actions"] == ["fees", "withdraw"]
    unknown = _assert_problem(_supply(world, "320102-20000101-99999", {"materials": [{"code": "M04"}]}), 404)
    assert unknown["type"].endswith("/case-not-found")


def test_only_the_first_clerk_or_their_deputy_supplements(world: World) -> None:
    case_no = _notice(world)
    body = {"materials": [{"code": "M02", "copies": 1}, {"code": "M04", "copies": 1}]}
    assert _assert_problem(_supply(world, case_no, body, STRANGER), 403)["type"].endswith("/not-case-owner")
    response = _supply(world, case_no, body | {"deputy_for": ABSENT}, DEPUTY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["clerk"]["user_id"] == "u-clerk" and body["acting_for"] is None  # 首问负责: still the owner
    document = body["outcome_document"]  # the receipt names who accepted, and for whom
    assert document["clerk"]["user_id"] == "u-deputy" and document["acting_for"] == ABSENT
    accepted = world.events(case_no, 4)[-1]  # received, notice, supplied, accepted
    assert isinstance(accepted, CaseAccepted) and accepted.clerk.on_behalf_of == "窗口甲（u-clerk）"


def test_a_retried_supplement_replays_the_first_answer(world: World) -> None:
    case_no = _notice(world)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"materials": [{"code": "M02", "copies": 1}, {"code": "M04", "copies": 1}]}
    first = _supply(world, case_no, body, CLERK | key)
    again = _supply(world, case_no, body, CLERK | key)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert world.svc.outbox_types(case_no).count(CaseAccepted.event_type) == 1


def test_deferred_materials_are_brought_later_and_end_the_promise(world: World) -> None:
    due = (datetime.now(SHANGHAI).date() + timedelta(days=5)).isoformat()
    deferral = {"materials": ["M04"], "due_date": due, "promise_ref": "CN-9"}
    case_no = world.svc.submit(world.svc.application(COMPLETE[:2], deferral=deferral)).json()["case_no"]
    before = world.svc.counts()
    other = _supply(world, case_no, {"materials": [{"code": "M02", "copies": 1}]})
    assert _assert_problem(other, 422)["not_listed"] == ["M02"]  # only what the 容缺 listed
    assert world.svc.counts() == before

    response = _supply(world, case_no, {"materials": [{"code": "M04", "copies": 1}]})
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "deferred" and world.row(case_no)["supplied_at"]
    events = world.events(case_no, 2)
    supplied = events[-1]
    assert isinstance(supplied, SupplementSupplied) and supplied.stage == "deferred"
    assert [m.code for m in supplied.materials] == ["M04"]
    again = _assert_problem(_supply(world, case_no, {"materials": [{"code": "M04", "copies": 1}]}), 409)
    assert again["state"] == "accepted"
