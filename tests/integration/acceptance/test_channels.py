"""Channels over real HTTP: county window, township centre, village agent (代办, the agent beside the
applicant), online, and cases pushed by the provincial platform with their own times, flagged as imported
and never silently trusted."""

# ruff: noqa: F811 (the imported fixtures are parameters of the tests)

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.common.contracts.case import CaseAccepted, CaseReceived, Channel, SupplementRequested
from services.common.principal import PrincipalKind, Role
from tests.conftest import principal_headers
from tests.integration.acceptance.test_acceptance_api import (  # noqa: F401 (the fixture)
    COMPLETE,
    Acceptance,
    _assert_problem,
    acceptance,
)
from tests.integration.acceptance.test_outcomes import World, deputies, world  # noqa: F401 (the fixtures)

pytestmark = pytest.mark.kafka

AGENT = {"name": "李代办", "id_number": "11010519491231002x", "phone": "13900001111"}
PLATFORM = principal_headers(Role.platform, "320000000000", subject="js-province", name="省政务服务平台",
                             kind=PrincipalKind.machine)


def _push(world: World, **changes: object) -> object:
    body = world.svc.application(channel="provincial", **changes)
    return world.svc.client.post("/api/v1/applications", json=body,
                                 headers=PLATFORM | {"Idempotency-Key": str(uuid.uuid4())})


@pytest.mark.parametrize("channel", ["window", "township", "online"])
def test_clerk_channels_are_recorded(world: World, channel: str) -> None:
    response = world.svc.submit(world.svc.application(channel=channel))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["channel"] == channel and body["imported"] is False and body["agent"] is None
    assert body["outcome_document"]["channel"] == channel and body["clerk"]["user_id"] == "u-clerk"


def test_a_village_agent_is_recorded_beside_the_applicant(world: World) -> None:
    before = world.svc.counts()
    without = world.svc.submit(world.svc.application(channel="village_agent"))
    assert _assert_problem(without, 422)["type"].endswith("/agent-required")
    wrong_check = AGENT | {"id_number": "110105194912310021"}
    bad = world.svc.submit(world.svc.application(channel="village_agent", agent=wrong_check))
    assert _assert_problem(bad, 422)["errors"][0]["field"].endswith("id_number")
    assert world.svc.counts() == before

    response = world.svc.submit(world.svc.application(channel="village_agent", agent=AGENT))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["agent"]["id_number"] == "11010519491231002X" and body["agent"]["name"] == "李代办"
    assert body["outcome_document"]["agent"] == body["agent"]
    assert "免费代办" in body["outcome_document"]["channel_name"]
    (accepted,) = world.events(body["case_no"], 1)
    assert isinstance(accepted, CaseAccepted) and accepted.channel is Channel.village_agent


def test_a_pushed_case_keeps_its_source_times_and_is_flagged_imported(world: World) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    received, accepted_at = now - timedelta(hours=3), now - timedelta(hours=2)
    response = _push(world, received_at=received.isoformat(), accepted_at=accepted_at.isoformat())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["imported"] is True and body["outcome"] == "accepted"
    assert datetime.fromisoformat(body["received_at"]) == received
    assert datetime.fromisoformat(body["accepted_at"]) == accepted_at
    (event,) = world.events(body["case_no"], 1)
    assert isinstance(event, CaseAccepted) and event.imported
    assert (event.occurred_at, event.received_at) == (accepted_at, received)


def test_a_pushed_incomplete_case_gets_the_notice_with_its_receipt_time(world: World) -> None:
    received = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    response = _push(world, materials=COMPLETE[:1], received_at=received.isoformat())
    assert response.status_code == 201, response.text
    events = world.events(response.json()["case_no"], 2)
    assert [type(e) for e in events] == [CaseReceived, SupplementRequested]
    assert isinstance(events[0], CaseReceived) and events[0].imported and events[0].occurred_at == received


@pytest.mark.parametrize(("received", "accepted", "problem"), [
    (timedelta(hours=1), None, "imported-times-invalid"),  # received in the future
    (-timedelta(hours=1), timedelta(hours=1), "imported-times-invalid"),  # accepted in the future
    (-timedelta(hours=1), -timedelta(hours=2), "imported-times-invalid"),  # accepted before received
    (None, None, "imported-times-required"),
])
def test_untrustworthy_source_times_are_refused(world: World, received: timedelta | None,
                                                accepted: timedelta | None, problem: str) -> None:
    now = datetime.now(UTC)
    changes = {k: (now + v).isoformat() for k, v in (("received_at", received), ("accepted_at", accepted))
               if v is not None}
    before = world.svc.counts()
    assert _assert_problem(_push(world, **changes), 422)["type"].endswith(f"/{problem}")
    assert world.svc.counts() == before


def test_a_pushed_case_accepted_at_the_source_but_incomplete_here_is_refused(world: World) -> None:
    now = datetime.now(UTC)
    response = _push(world, materials=COMPLETE[:1], received_at=(now - timedelta(hours=2)).isoformat(),
                     accepted_at=(now - timedelta(hours=1)).isoformat())
    assert _assert_problem(response, 422)["type"].endswith("/imported-inconsistent")


def test_channels_belong_to_their_callers(world: World) -> None:
    before = world.svc.counts()
    clerk_pushing = world.svc.submit(world.svc.application(channel="provincial"))
    assert _assert_problem(clerk_pushing, 422)["type"].endswith("/channel-invalid")
    clerk_times = world.svc.submit(world.svc.application(received_at=datetime.now(UTC).isoformat()))
    assert _assert_problem(clerk_times, 422)["type"].endswith("/times-not-allowed")
    platform_window = world.svc.client.post(
        "/api/v1/applications", json=world.svc.application(received_at=datetime.now(UTC).isoformat()),
        headers=PLATFORM | {"Idempotency-Key": str(uuid.uuid4())})
    assert _assert_problem(platform_window, 422)["type"].endswith("/channel-invalid")
    assert world.svc.counts() == before
