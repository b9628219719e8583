"""Nothing is lost and nothing is applied twice: crash between commit and publish, redelivery, poison events."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tests.e2e.conftest import Gateway, eventually, read_sqlite
from tests.e2e.test_first_flow import COMPLETE, open_task, publish_item, run_case_to_completion, submit_when_replicated
from tools.platform import Platform

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def read_topic(bootstrap: str, topic: str, seconds: float = 3.0) -> list[Any]:
    """Every record on a topic from the beginning (no consumer group, nothing committed)."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                    enable_auto_commit=False)
        await consumer.start()
        records: list[Any] = []
        try:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                batch = await consumer.getmany(timeout_ms=300)
                for part in batch.values():
                    records.extend(part)
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())


def produce(bootstrap: str, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(send())


def header(record: Any, name: str) -> bytes | None:
    return next((v for k, v in record.headers if k == name), None)


def approval_tasks(gateway: Gateway, case_no: str) -> list[dict[str, Any]]:
    r = gateway.call("GET", "/api/v1/approval/tasks", "approver", params={"case_no": case_no})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_sigkill_between_commit_and_publish_delivers_exactly_once(platform: Platform, gateway: Gateway) -> None:
    code = f"KILL{uuid.uuid4().hex[:8]}"
    publish_item(gateway, code)
    submit_when_replicated(gateway, code, COMPLETE)  # the replica has the item

    # Acceptance commits the case and its outbox row, but its relay does not run: the crash window.
    platform.kill("acceptance", signal.SIGKILL)
    platform.start_process("acceptance", platform.env() | {"ZWFW_OUTBOX_RELAY_ENABLED": "false"})
    accepted = submit_when_replicated(gateway, code, COMPLETE)
    case_no = accepted["case_no"]
    db = platform.data_dir / "acceptance.db"
    assert read_sqlite(db, f"select published_at from outbox where key = '{case_no}'") == [(None,)]
    platform.kill("acceptance", signal.SIGKILL)

    platform.start_process("acceptance")
    open_task(gateway, case_no, "review")
    records = accepted_records(platform, case_no)
    assert len(records) == 1
    wait_consumed_past(platform, records[0])
    assert len(approval_tasks(gateway, case_no)) == 1
    assert monitoring_events(gateway, case_no, "zwfw.case.accepted.v1") == 1
    assert read_sqlite(db, f"select count(*) from outbox where key = '{case_no}' and published_at is null") == [(0,)]


def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    async def read() -> dict[tuple[str, int], int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
            return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
        finally:
            await admin.close()

    return asyncio.run(read())


def wait_consumed_past(platform: Platform, record: Any) -> None:
    """Until every case consumer group has committed beyond `record`: it was read and its batch applied."""
    for service in ("approval", "monitoring", "disclosure"):
        group = f"{platform.topic_prefix}{service}.case"

        def past(group: str = group) -> bool:
            return committed_offsets(platform.bootstrap_servers, group).get(
                (record.topic, record.partition), -1) > record.offset

        eventually(past)


def monitoring_events(gateway: Gateway, case_no: str, event_type: str) -> int:
    r = gateway.call("GET", f"/api/v1/monitoring/cases/{case_no}", "supervisor")
    assert r.status_code == 200, r.text
    return sum(1 for e in r.json()["events"] if e["event_type"] == event_type)


def accepted_records(platform: Platform, case_no: str) -> list[Any]:
    return [r for r in read_topic(platform.bootstrap_servers, f"{platform.topic_prefix}zwfw.case")
            if r.key == case_no.encode() and header(r, "ce_type") == b"zwfw.case.accepted.v1"]


def test_sigkill_after_the_broker_acknowledged_but_before_marked_sent(platform: Platform, gateway: Gateway) -> None:
    """The relay publishes again what it had not marked sent; every consumer applies it once."""
    code = f"ACK{uuid.uuid4().hex[:8]}"
    publish_item(gateway, code)
    case_no = submit_when_replicated(gateway, code, COMPLETE)["case_no"]
    open_task(gateway, case_no, "review")
    platform.kill("acceptance", signal.SIGKILL)
    db = platform.data_dir / "acceptance.db"
    # The state a crash between the acknowledgement and the mark leaves behind.
    with sqlite3.connect(db) as conn:
        conn.execute("update outbox set published_at = null where key = ?", (case_no,))
    platform.start_process("acceptance")

    copies = eventually(lambda: (lambda rs: rs if len(rs) == 2 else None)(accepted_records(platform, case_no)))
    assert header(copies[0], "ce_id") == header(copies[1], "ce_id")  # the same event, delivered twice
    wait_consumed_past(platform, copies[1])
    assert len(approval_tasks(gateway, case_no)) == 1
    assert monitoring_events(gateway, case_no, "zwfw.case.accepted.v1") == 1


def test_a_redelivered_event_is_applied_once(platform: Platform, gateway: Gateway) -> None:
    code = f"DUP{uuid.uuid4().hex[:8]}"
    publish_item(gateway, code)
    case_no = submit_when_replicated(gateway, code, COMPLETE)["case_no"]
    open_task(gateway, case_no, "review")
    original = accepted_records(platform, case_no)[0]
    topic = f"{platform.topic_prefix}zwfw.case"
    produce(platform.bootstrap_servers, topic, original.key, original.value, list(original.headers))
    copies = eventually(lambda: (lambda rs: rs if len(rs) == 2 else None)(accepted_records(platform, case_no)))
    wait_consumed_past(platform, copies[1])
    assert len(approval_tasks(gateway, case_no)) == 1
    assert monitoring_events(gateway, case_no, "zwfw.case.accepted.v1") == 1


def test_malformed_events_go_to_the_dead_letter_topic_and_consumers_go_on(
    platform: Platform, gateway: Gateway
) -> None:
    topic = f"{platform.topic_prefix}zwfw.case"
    marker = uuid.uuid4().hex
    produce(platform.bootstrap_servers, topic, b"poison-" + marker.encode(), b"\x00 not a cloudevent", [])
    produce(platform.bootstrap_servers, topic, b"poison2-" + marker.encode(), b'{"case_no": 1}', [
        ("ce_id", marker.encode()), ("ce_type", b"zwfw.case.accepted.v1"), ("ce_source", b"/test"),
        ("ce_specversion", b"1.0"), ("content-type", b"application/json"),
    ])

    def dead_letters() -> set[tuple[bytes, bytes]] | None:
        found = {(r.key, header(r, "dlq_consumer") or b"")
                 for r in read_topic(platform.bootstrap_servers, topic + ".dlq", seconds=1.5)
                 if marker.encode() in (r.key or b"")}
        consumers = {c.split(b".")[-2] for _, c in found}
        return found if {b"approval", b"monitoring", b"disclosure"} <= consumers and len(found) >= 6 else None

    found = eventually(dead_letters, timeout=30)
    errors = [header(r, "dlq_error") for r in read_topic(platform.bootstrap_servers, topic + ".dlq", 1.0)
              if marker.encode() in (r.key or b"")]
    assert found and all(errors)
    assert any(b"does not match its contract" in e for e in errors if e)

    # The consumers moved on: a new case still travels to its end.
    code = f"AFTER{uuid.uuid4().hex[:8]}"
    publish_item(gateway, code)
    case_no = run_case_to_completion(gateway, code)

    def completed() -> bool:
        r = gateway.call("GET", f"/api/v1/monitoring/cases/{case_no}", "supervisor")
        return r.status_code == 200 and r.json()["state"] == "closed"

    assert eventually(completed)

