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
from services.common.contracts.supervision import AlertLevel, AlertRaised
from tests.e2e.conftest import Gateway
from tests.e2e.test_delivery import produce
from tests.e2e.test_supervision_realtime import accepted_in_minutes
from tools.platform import Platform

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def _listener(platform: Platform, gateway: Gateway, case_nos: set[str], received: list[dict[str, object]],
              ready: threading.Event, wanted: int = 1) -> threading.Thread:
    """The supervisor's stream through the gateway, read in a thread until `wanted` alerts of these cases."""

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
                    if alert["subject_no"] in case_nos:
                        received.append(alert)
                        if len(received) >= wanted:
                            return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    return thread


def test_an_alert_raised_by_another_instance_reaches_this_stream_within_the_region(
        platform: Platform, gateway: Gateway) -> None:
    """Each instance fires the timers of its own partitions; the stream reads the topic, so a supervisor sees
    every alert whichever instance raised it — and only those of the supervisor's region."""
    mine, elsewhere = f"SSE-{uuid.uuid4().hex[:8]}", f"SSE-{uuid.uuid4().hex[:8]}"
    received: list[dict[str, object]] = []
    ready = threading.Event()
    listener = _listener(platform, gateway, {mine, elsewhere}, received, ready)
    assert ready.wait(20), "the stream did not open"
    now = datetime.now(UTC)
    topic = f"{platform.topic_prefix}zwfw.supervision"
    # As another instance's relay would publish them: the other region's first, so it would arrive first.
    for case_no, region in ((elsewhere, "320104000000"), (mine, "320102001000")):
        alert = AlertRaised(occurred_at=now, subject_no=case_no, clock_id=f"case:{case_no}:handling",
                            alert_no=f"JC{uuid.uuid4().hex[:12].upper()}", level=AlertLevel.breach,
                            rule="handling_breach", title="测试事项：黄牌：超过承诺时限", due_at=now,
                            region_code=region, department="区行政审批局")
        key, value, headers = Envelope.wrap(alert, source="/zwfw/monitoring").to_kafka()
        produce(platform.bootstrap_servers, topic, key, value, headers)
    listener.join(30)
    assert [a["subject_no"] for a in received] == [mine]
    assert received[0]["title"] == "测试事项：黄牌：超过承诺时限" and received[0]["level"] == "breach"


def test_an_anomaly_is_streamed_to_the_supervisor_through_the_gateway(platform: Platform, gateway: Gateway) -> None:
    case_no = f"SSE-{uuid.uuid4().hex[:8]}"
    received: list[dict[str, object]] = []
    ready = threading.Event()

    listener = _listener(platform, gateway, {case_no}, received, ready)
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
