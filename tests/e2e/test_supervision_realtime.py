"""Levels arrive on the supervision topic at their instants, once each, across a SIGKILL of monitoring."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer

from services.common.contracts import Envelope, parse_payload
from services.common.contracts.case import CaseAccepted, Channel
from services.common.contracts.payloads import Actor, Applicant, LimitUnit, TimeLimit
from services.common.contracts.supervision import AlertRaised
from tests.e2e.test_delivery import produce
from tools.platform import Platform

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

ON_TIME = 3.0  # seconds of lateness tolerated on a shared 2-core CI machine (the bench measures the real figure)


def accepted_in_minutes(case_no: str, at: datetime) -> CaseAccepted:
    return CaseAccepted(
        occurred_at=at, case_no=case_no, item_code="RT", item_version=1, item_name="实时监察测试",
        item_type="20", department="区行政审批局", region_code="320102000000", channel=Channel.online,
        applicant=Applicant(applicant_type="2", name="某公司", id_type="uscc", id_number="91110000600037341L"),
        promised_limit=TimeLimit(value=1, unit=LimitUnit.minutes),
        legal_limit=TimeLimit(value=2, unit=LimitUnit.minutes),
        received_at=at, promised_due_date=at.date().isoformat(), clerk=Actor(user_id="clerk01"), receipt_no="R",
    )


async def collect_alerts(bootstrap: str, topic: str, case_no: str, until: float) -> list[tuple[AlertRaised, int]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[AlertRaised, int]] = []
    try:
        while time.monotonic() < until:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    event = parse_payload(Envelope.from_kafka(record.key, record.value, list(record.headers)))
                    if isinstance(event, AlertRaised) and event.subject_no == case_no:
                        found.append((event, record.timestamp))
    finally:
        await consumer.stop()
    return found


def test_warning_breach_and_severe_arrive_at_their_instants_once_across_a_kill(platform: Platform) -> None:
    case_no = f"RT-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC)
    key, value, headers = Envelope.wrap(accepted_in_minutes(case_no, start), source="/test").to_kafka()
    produce(platform.bootstrap_servers, f"{platform.topic_prefix}zwfw.case", key, value, headers)

    # Killed after the breach (60 s) and before the severe level (120 s): the restart must arm it again.
    kill_at = start + timedelta(seconds=75)
    time.sleep(max((kill_at - datetime.now(UTC)).total_seconds(), 0))
    platform.kill("monitoring", signal.SIGKILL)
    platform.start_process("monitoring")

    until = time.monotonic() + max((start + timedelta(seconds=130) - datetime.now(UTC)).total_seconds(), 5)
    alerts = asyncio.run(collect_alerts(platform.bootstrap_servers, f"{platform.topic_prefix}zwfw.supervision",
                                        case_no, until))
    levels = sorted(a.level.value for a, _ in alerts)
    assert levels == ["breach", "severe", "warning"], levels  # each exactly once
    expected = {"warning": start + timedelta(seconds=48), "breach": start + timedelta(minutes=1),
                "severe": start + timedelta(minutes=2)}
    for alert, published_ms in alerts:
        assert abs((alert.due_at - expected[alert.level.value]).total_seconds()) < 0.01
        lateness = published_ms / 1000 - alert.due_at.timestamp()
        assert -0.05 <= lateness < ON_TIME, (alert.level, lateness)


