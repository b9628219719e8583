"""收费 over real HTTP (行政许可法 Art. 58): only items with a published fee standard, never above it, once
per case, with the lawful receipt (票据) number; FeeCharged on the case topic."""

# ruff: noqa: F811 (the imported fixtures are parameters of the tests)

from __future__ import annotations

import uuid

import pytest

from services.common.contracts.case import FeeCharged
from tests.integration.acceptance.test_acceptance_api import (  # noqa: F401 (the fixture)
    CLERK,
    COMPLETE,
    Acceptance,
    _assert_problem,
    acceptance,
)
from tests.integration.acceptance.test_outcomes import (  # noqa: F401 (the fixtures)
    FEE_FEN,
    World,
    deputies,
    world,
)

pytestmark = pytest.mark.kafka


def _charge(world: World, case_no: str, amount: int, receipt: str | None = None) -> object:
    body = {"amount_fen": amount, "receipt_no": receipt or f"PJ{uuid.uuid4().hex[:10]}"}
    return world.svc.client.post(f"/api/v1/applications/{case_no}/fees", json=body, headers=CLERK)


def test_a_fee_is_charged_from_the_standard_with_its_receipt(world: World) -> None:
    case_no = world.svc.submit(world.svc.application(item_code=world.fee_item)).json()["case_no"]
    receipt = f"PJ{uuid.uuid4().hex[:10]}"
    response = _charge(world, case_no, FEE_FEN, receipt)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["amount_fen"], body["receipt_no"]) == (FEE_FEN, receipt) and "每证10元" in body["fee_item"]
    events = world.events(case_no, 2)
    fee = events[-1]
    assert isinstance(fee, FeeCharged) and (fee.amount_fen, fee.receipt_no) == (FEE_FEN, receipt)
    # Once per case: a second charge is a conflict naming the state.
    again = _assert_problem(_charge(world, case_no, FEE_FEN), 409)
    assert again["type"].endswith("/fee-already-charged") and again["state"] == "accepted"


def test_above_the_standard_or_a_free_item_is_refused(world: World) -> None:
    case_no = world.svc.submit(world.svc.application(item_code=world.fee_item)).json()["case_no"]
    before = world.svc.counts()
    assert _assert_problem(_charge(world, case_no, FEE_FEN + 1), 422)["type"].endswith("/fee-not-allowed")
    assert world.svc.counts() == before
    free = world.svc.submit(world.svc.application()).json()["case_no"]
    before = world.svc.counts()
    problem = _assert_problem(_charge(world, free, 100), 422)
    assert "不收费" in problem["detail"]
    assert world.svc.counts() == before


def test_a_case_not_accepted_cannot_be_charged(world: World) -> None:
    notice = world.svc.submit(world.svc.application(COMPLETE[:1], item_code=world.fee_item)).json()["case_no"]
    problem = _assert_problem(_charge(world, notice, FEE_FEN), 409)
    assert problem["state"] == "supplement_requested" and problem["allowed_actions"] == ["supplement", "withdraw"]


def test_a_receipt_number_is_used_once(world: World) -> None:
    first = world.svc.submit(world.svc.application(item_code=world.fee_item)).json()["case_no"]
    second = world.svc.submit(world.svc.application(item_code=world.fee_item)).json()["case_no"]
    receipt = f"PJ{uuid.uuid4().hex[:10]}"
    assert _charge(world, first, FEE_FEN, receipt).status_code == 201
    assert _assert_problem(_charge(world, second, FEE_FEN, receipt), 409)["type"].endswith("/receipt-no-used")
