"""Alerts reach a supervisor live, through the gateway, as server-sent events."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from services.common.contracts import Envelope
from services.common.contracts.case import CaseDecided, Decision
from services.common.contracts.payloads import Actor
from tests.e2e.conftest import Gateway
from tests.e2e.test_delivery import produce
from tests.e2e.test_supervision_realtime import accepted_in_minutes
from tools.platform import Platform

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def test_an_anomaly_is_streamed_to_the_supervisor_through_the_gateway(platform: Platform, gateway: Gateway) -> None:
    case_no = f"SSE-{uuid.uuid4().hex[:8]}"
    received: list[dict[str, object]] = []
    ready = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {gateway.tokens['supervisor']}"}
        with httpx.stream("GET", platform.url() + "/api/v1/monitoring/stream", headers=headers,
                          timeout=httpx.Timeout(30.0)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                    if event == "ready":
                        ready.set()
                elif line.startswith("data:") and event == "alert":
                    alert = json.loads(line.split(":", 1)[1])
                    if alert["subject_no"] == case_no:
                        received.append(alert)
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(20), "the stream did not open"
    now = datetime.now(UTC)
    topic = f"{platform.topic_prefix}zwfw.case"
    for event in (accepted_in_minutes(case_no, now),
                  CaseDecided(occurred_at=now, case_no=case_no, decision=Decision.deny, reasons=" ",
                              actor=Actor(user_id="head01"))):
        key, value, headers = Envelope.wrap(event, source="/test").to_kafka()
        produce(platform.bootstrap_servers, topic, key, value, headers)
    listener.join(30)
    assert received, "no alert for the case arrived on the stream"
    assert received[0]["level"] == "anomaly" and received[0]["region_code"] == "320102000000"
    assert {a["rule"] for a in received} & {"refusal_without_reasons", "step_skipped"}
