"""The outcomes of Art. 32 over real HTTP, a real SQLite file and the session broker: 不予受理, 当场更正,
即办件, 容缺受理, AB岗 and material files referenced by hash. Each outcome is an event on the case topic and
a record with its printable document's data (`outcome_document`)."""

# ruff: noqa: F811 (the imported fixtures are parameters of the tests)

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import Topic
from services.common.contracts.case import CaseAccepted, CaseCompleted, CaseReceived, CaseRejected
from services.common.contracts.catalogue import FeeStandard, ItemElements, ItemVersionPublished
from services.common.contracts.payloads import EventPayload
from services.common.principal import Role
from services.common.workdays import SHANGHAI
from tests.conftest import principal_headers
from tests.integration.acceptance.test_acceptance_api import (  # noqa: F401 (the fixture)
    CLERK,
    COMPANY,
    COMPLETE,
    COUNTY,
    Acceptance,
    _assert_problem,
    _case_events,
    _item,
    _publish,
    _wait_for,
    acceptance,
)

pytestmark = pytest.mark.kafka

DEPUTY = principal_headers(Role.window_clerk, COUNTY, subject="u-deputy", name="窗口乙")
STRANGER = principal_headers(Role.window_clerk, COUNTY, subject="u-other", name="窗口丙")
ABSENT = {"user_id": "u-clerk", "name": "窗口甲"}
FEE_FEN = 1000


@dataclass
class World:
    svc: Acceptance
    instant_item: str  # case_type 1 (即办件)
    fee_item: str  # fee_charged, 10 元 a certificate

    def events(self, case_no: str, expected: int) -> list[EventPayload]:
        found = asyncio.run(_case_events(self.svc.bootstrap, Topic.case.name_with(self.svc.prefix), case_no,
                                         expected, linger=0.3))
        return [p for _, _, p in found]

    def row(self, case_no: str) -> sqlite3.Row:
        with sqlite3.connect(self.svc.db) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute("SELECT * FROM case_record WHERE case_no = ?", (case_no,)).fetchone()

    def progress(self, case_no: str) -> str:
        with sqlite3.connect(self.svc.db) as conn:
            return conn.execute("SELECT status FROM case_progress WHERE case_no = ?", (case_no,)).fetchone()[0]


@pytest.fixture
def deputies(service_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AB岗 pair: u-deputy stands in for u-clerk (窗口甲). Set before the service reads its settings."""
    monkeypatch.setenv("ACCEPTANCE_DEPUTIES", '{"u-clerk": "u-deputy"}')


@pytest.fixture
def world(deputies: None, acceptance: Acceptance) -> Iterator[World]:
    suffix = uuid.uuid4().hex[:8]
    instant = _item(f"11320102MB0000001X-{suffix}").model_copy(update={"case_type": "1"})
    fee = _item(f"11320102MB0000002X-{suffix}").model_copy(update={
        "fee_charged": True,
        "elements": ItemElements(fee=FeeStandard(basis="苏价费〔2019〕1号", standard="每证10元", amount_fen=FEE_FEN)),
    })
    asyncio.run(_publish(acceptance.bootstrap, acceptance.prefix, [instant, fee]))

    def has(item: ItemVersionPublished) -> bool:
        probe = acceptance.submit(acceptance.application([{"code": "M99", "originals": 1}], item_code=item.item_code))
        return probe.status_code == 422

    _wait_for("the instant and fee items in the replica", lambda: has(instant) and has(fee))
    yield World(acceptance, instant.item_code, fee.item_code)


def test_refusal_is_stored_with_its_reason_basis_and_agency(world: World) -> None:
    refusal = {"reason": "该事项不属于本机关职权范围",
               "legal_basis": "《中华人民共和国行政许可法》第三十二条第一款第二项",
               "competent_agency": "南京市市场监督管理局"}
    response = world.svc.submit(world.svc.application(refusal=refusal))
    assert response.status_code == 201, response.text
    body = response.json()
    case_no = body["case_no"]
    assert (body["outcome"], body["status"], body["document_no"]) == ("rejected", "rejected", f"BY{case_no}")
    assert body["accepted_at"] is None and body["refusal"] == refusal
    document = body["outcome_document"]
    assert (document["kind"], document["title"], document["document_no"]) == ("rejected", "不予受理决定书",
                                                                              f"BY{case_no}")
    assert document["refusal"] == refusal and "南京市市场监督管理局" in document["texts"]["body"]
    assert "行政复议" in document["texts"]["remedy"]
    assert world.row(case_no)["outcome_document"] and world.progress(case_no) == "rejected"
    events = world.events(case_no, 2)
    assert [type(e) for e in events] == [CaseReceived, CaseRejected]
    rejected = events[1]
    assert isinstance(rejected, CaseRejected)
    assert (rejected.reason, rejected.legal_basis, rejected.competent_agency) == tuple(refusal.values())
    assert rejected.actor.user_id == "u-clerk"


def test_correction_on_the_spot_is_recorded_then_accepted(world: World) -> None:
    corrections = [{"field": "申请书·经营场所", "before": "玄武区中山路1号", "after": "秦淮区中山路1号"}]
    response = world.svc.submit(world.svc.application(corrections=corrections))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["outcome"], body["status"]) == ("corrected", "accepted")
    assert body["corrections"] == corrections and body["document_no"] == f"SL{body['case_no']}"
    document = body["outcome_document"]
    assert document["corrections"] == corrections and "秦淮区中山路1号" in document["texts"]["body"]
    assert document["promised_due_date"] == body["promised_due_date"]
    assert world.svc.outbox_types(body["case_no"]) == [CaseAccepted.event_type]


def test_instant_item_is_accepted_and_completed_at_the_window(world: World) -> None:
    response = world.svc.submit(world.svc.application(item_code=world.instant_item))
    assert response.status_code == 201, response.text
    body = response.json()
    case_no = body["case_no"]
    assert (body["outcome"], body["status"], body["document_no"]) == ("completed", "completed", f"JB{case_no}")
    assert body["completed_at"] == body["accepted_at"]
    events = world.events(case_no, 2)
    assert [type(e) for e in events] == [CaseAccepted, CaseCompleted]
    accepted, completed = events
    assert isinstance(accepted, CaseAccepted) and accepted.case_type == "1"
    assert isinstance(completed, CaseCompleted) and completed.result == "done" and not completed.publish_result
    assert world.progress(case_no) == "completed"


def test_deferral_accepts_with_the_listed_minor_material_and_a_dated_promise(world: World) -> None:
    due = (datetime.now(SHANGHAI).date() + timedelta(days=7)).isoformat()
    deferral = {"materials": ["M04"], "due_date": due, "promise_ref": "CN-2026-001"}
    response = world.svc.submit(world.svc.application(COMPLETE[:2], deferral=deferral))
    assert response.status_code == 201, response.text
    body = response.json()
    case_no = body["case_no"]
    assert (body["outcome"], body["status"], body["document_no"]) == ("deferred", "accepted", f"RQ{case_no}")
    assert body["deferred_materials"] == [{"code": "M04", "name": "经营场所证明", "reason": "未提交"}]
    assert body["deferred_due_date"] == due and body["missing"] == []
    assert body["outcome_document"]["deferred"]["promise_ref"] == "CN-2026-001"
    (accepted,) = world.events(case_no, 1)
    assert isinstance(accepted, CaseAccepted)
    assert (accepted.deferred_materials, accepted.deferred_due_date) == (["经营场所证明"], due)


@pytest.mark.parametrize(("materials", "codes", "problem"), [
    ([COMPLETE[1], COMPLETE[2]], ["M01"], "deferral-not-allowed"),  # never the application form itself
    (COMPLETE, ["M04"], "deferral-invalid"),  # nothing missing to defer
])
def test_deferral_outside_the_rule_is_refused_and_stores_nothing(
    world: World, materials: list[dict[str, Any]], codes: list[str], problem: str,
) -> None:
    before = world.svc.counts()
    due = (datetime.now(SHANGHAI).date() + timedelta(days=7)).isoformat()
    response = world.svc.submit(world.svc.application(materials, deferral={"materials": codes, "due_date": due,
                                                                           "promise_ref": "CN-1"}))
    assert _assert_problem(response, 422)["type"].endswith(f"/{problem}")
    assert world.svc.counts() == before


def test_refusal_with_a_correction_is_a_conflict(world: World) -> None:
    before = world.svc.counts()
    response = world.svc.submit(world.svc.application(
        refusal={"reason": "不需要许可"}, corrections=[{"field": "地址", "after": "新地址"}]))
    assert _assert_problem(response, 422)["type"].endswith("/outcome-conflict")
    assert world.svc.counts() == before


def test_a_deputy_acts_for_the_absent_clerk_and_both_are_recorded(world: World) -> None:
    response = world.svc.submit(world.svc.application(deputy_for=ABSENT), headers=DEPUTY)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["clerk"]["user_id"] == "u-deputy" and body["acting_for"] == ABSENT
    assert body["clerk"]["on_behalf_of"] == "窗口甲（u-clerk）"
    (accepted,) = world.events(body["case_no"], 1)
    assert isinstance(accepted, CaseAccepted)
    assert (accepted.clerk.name, accepted.clerk.on_behalf_of) == ("窗口乙", "窗口甲（u-clerk）")
    # Only the configured deputy may stand in.
    before = world.svc.counts()
    refused = world.svc.submit(world.svc.application(deputy_for=ABSENT), headers=STRANGER)
    assert _assert_problem(refused, 403)["type"].endswith("/not-a-deputy")
    assert world.svc.counts() == before


def test_material_files_are_checked_and_recorded_on_the_case(world: World) -> None:
    content = b"%PDF-1.7\n% " + uuid.uuid4().hex.encode() + b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
    uploaded = world.svc.client.post("/api/v1/applications/files", files={"file": ("申请书.pdf", content,
                                                                                   "application/pdf")},
                                     headers=CLERK)
    assert uploaded.status_code == 201, uploaded.text
    sha256 = hashlib.sha256(content).hexdigest()
    materials = [dict(COMPLETE[0], files=[sha256]), *COMPLETE[1:]]
    response = world.svc.submit(world.svc.application(materials))
    assert response.status_code == 201, response.text
    assert response.json()["materials"][0]["files"] == [sha256]
    (accepted,) = world.events(response.json()["case_no"], 1)
    assert isinstance(accepted, CaseAccepted) and accepted.materials[0].sha256 == sha256

    before = world.svc.counts()
    unknown = "0" * 64
    missing = world.svc.submit(world.svc.application([dict(COMPLETE[0], files=[unknown]), *COMPLETE[1:]]))
    assert _assert_problem(missing, 422)["unknown_files"] == [unknown]
    # A scan uploaded only in another county is not visible here: as if it did not exist.
    far = b"%PDF-1.7\n% " + uuid.uuid4().hex.encode() + b"\n%%EOF\n"
    elsewhere = principal_headers(Role.window_clerk, "320104000000", subject="u-far")
    assert world.svc.client.post("/api/v1/applications/files", files={"file": ("x.pdf", far, "application/pdf")},
                                 headers=elsewhere).status_code == 201
    far_hash = hashlib.sha256(far).hexdigest()
    foreign = world.svc.submit(world.svc.application([dict(COMPLETE[0], files=[far_hash]), *COMPLETE[1:]]))
    assert _assert_problem(foreign, 422)["unknown_files"] == [far_hash]
    assert world.svc.counts() == before


def test_get_returns_the_outcome_and_its_document(world: World) -> None:
    response = world.svc.submit(world.svc.application(applicant=COMPANY))
    case_no = response.json()["case_no"]
    fetched = world.svc.client.get(f"/api/v1/applications/{case_no}", headers=CLERK).json()
    assert fetched["outcome"] == "accepted" and fetched["outcome_document"]["kind"] == "accepted"
    assert fetched["outcome_document"]["item"]["name"] == "食品经营许可"
    assert datetime.fromisoformat(fetched["outcome_document"]["issued_at"]) <= datetime.now(UTC)
