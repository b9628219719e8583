"""Loading a year's schedule recomputes provisional clocks, their deadlines and timers (real Kafka, real HTTP)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.contracts import Envelope, Topic
from services.common.contracts.payloads import EventPayload
from services.common.principal import Role
from tests.conftest import principal_headers
from tests.integration.monitoring.test_case_clock_flow import REGION, SH, accepted, poll


async def publish_recorded_at_occurrence(event: EventPayload) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        envelope = Envelope.wrap(event, source="/test", recorded_at=event.occurred_at + timedelta(minutes=1))
        key, value, headers = envelope.to_kafka()
        await producer.send_and_wait(Topic.case.name_with(os.environ["ZWFW_TOPIC_PREFIX"]), value=value, key=key,
                                     headers=headers)
    finally:
        await producer.stop()


SCHEDULE_2027 = {
    "year": 2027, "source": "测试用安排（非官方）", "published_on": "2026-11-20",
    "holidays": [{"name": "元旦", "dates": ["2027-01-01"]}], "makeup_workdays": [],
}


@pytest.mark.kafka
def test_loading_2027_moves_a_provisional_deadline_and_its_timer(service_env: Any) -> None:
    from services.monitoring.main import create_app

    case_no = "320102-20261228-CAL01"
    supervisor = principal_headers(Role.supervisor, REGION)
    with TestClient(create_app()) as client:
        # Recorded when it happened: an event dated in the future would be kept but move no clock.
        asyncio.run(publish_recorded_at_occurrence(accepted(case_no, REGION, datetime(2026, 12, 28, 9, tzinfo=SH))))
        before = poll(client, f"/api/v1/monitoring/cases/{case_no}", supervisor, lambda b: True)
        assert before["provisional"] is True
        # 5 working days on weekends alone: Dec 29, 30, 31, Jan 1, Jan 4 → 24:00 Jan 4.
        assert datetime.fromisoformat(before["promised_due_at"]) == datetime(2027, 1, 5, tzinfo=SH)

        refused = client.put("/api/v1/monitoring/calendar/years/2027", json=SCHEDULE_2027, headers=supervisor)
        assert refused.status_code == 403  # only operations loads calendars
        loaded = client.put("/api/v1/monitoring/calendar/years/2027", json=SCHEDULE_2027,
                            headers=principal_headers(Role.operations, ""))
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["years_to_recompute"] == [2027]

        after = poll(client, f"/api/v1/monitoring/cases/{case_no}", supervisor, lambda b: not b["provisional"])
        assert datetime.fromisoformat(after["promised_due_at"]) == datetime(2027, 1, 6, tzinfo=SH)
        handling = next(c for c in after["clocks"] if c["kind"] == "handling")
        assert datetime.fromisoformat(handling["level_instants"]["breach"]) == datetime(2027, 1, 6, tzinfo=SH)
        warning_at = datetime(2027, 1, 5, tzinfo=SH)  # one working day before the moved breach
        if warning_at > datetime.now(UTC):
            timers = client.app.state.runtime.extras["supervision"].runner.store
            assert timers.due_of(f"case:{case_no}:handling") == int(warning_at.timestamp() * 1000)


@pytest.mark.kafka
def test_a_year_loaded_through_another_instance_reaches_this_one(service_env: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from services.common.db import make_engine, make_session_factory
    from services.common.principal import Principal, PrincipalKind
    from services.monitoring.calendar_admin import upload_year
    from services.monitoring.main import create_app

    monkeypatch.setenv("MONITORING_CALENDAR_WATCH_SECONDS", "0.5")
    case_no = "320102-20261228-CAL02"
    supervisor = principal_headers(Role.supervisor, REGION)
    with TestClient(create_app()) as client:
        asyncio.run(publish_recorded_at_occurrence(accepted(case_no, REGION, datetime(2026, 12, 28, 9, tzinfo=SH))))
        poll(client, f"/api/v1/monitoring/cases/{case_no}", supervisor, lambda b: b["provisional"])
        # Another instance's upload: straight into the shared database, this process not told.
        other = make_session_factory(make_engine(os.environ["MONITORING_DATABASE_URL"]))
        operator = Principal(kind=PrincipalKind.staff, subject="ops", role=Role.operations, region_code="")
        with other.begin() as session:
            upload_year(session, operator, SCHEDULE_2027, datetime.now(UTC), expected_year=2027)
        after = poll(client, f"/api/v1/monitoring/cases/{case_no}", supervisor, lambda b: not b["provisional"])
        assert datetime.fromisoformat(after["promised_due_at"]) == datetime(2027, 1, 6, tzinfo=SH)
