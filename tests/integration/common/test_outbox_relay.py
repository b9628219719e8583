"""OutboxRelay on the real broker: every row published once, in outbox order per key, and marked sent.

The relay keeps two batches in flight (the next read and sent while the broker acknowledges the last),
so these tests use batches much smaller than the backlog and rows added while it drains.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select

from services.common.contracts import Envelope, Topic
from services.common.contracts.case import CaseWithdrawn
from services.common.db import make_engine, make_read_session_factory, make_session_factory, new_metadata
from services.common.messaging import MessagingTables
from services.common.messaging.admin import ensure_topics
from services.common.messaging.outbox import Outbox
from services.common.messaging.relay import OutboxRelay, new_producer

pytestmark = pytest.mark.kafka

KEYS = [f"320102-20261125-{i:05d}" for i in range(7)]


async def _read_all(bootstrap: str, topic: str, wanted: int, within: float = 30.0) -> list[Envelope]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    found: list[Envelope] = []
    try:
        end = time.monotonic() + within
        while len(found) < wanted and time.monotonic() < end:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                found.extend(Envelope.from_kafka(r.key, r.value, list(r.headers)) for r in records)
        # A little longer: anything beyond `wanted` would be a duplicate.
        for records in (await consumer.getmany(timeout_ms=500)).values():
            found.extend(Envelope.from_kafka(r.key, r.value, list(r.headers)) for r in records)
    finally:
        await consumer.stop()
    return found


async def test_a_backlog_larger_than_a_batch_is_published_once_in_order_per_key(
        kafka_broker: str, topic_prefix: str, tmp_path: Path) -> None:
    await ensure_topics(kafka_broker, topic_prefix)
    metadata = new_metadata()
    tables = MessagingTables.on(metadata)
    engine = make_engine(f"sqlite:///{tmp_path / 'relay.db'}")
    metadata.create_all(engine)
    session_factory = make_session_factory(engine)
    outbox = Outbox(tables, source="/test", topic_prefix=topic_prefix)

    def write(start: int, count: int) -> None:
        with session_factory.begin() as session:
            outbox.emit_many(session, [
                CaseWithdrawn(occurred_at=datetime.now(UTC), case_no=KEYS[i % len(KEYS)], reason=f"第{i}号")
                for i in range(start, start + count)
            ])

    write(0, 1_000)
    producer = new_producer(kafka_broker)
    await producer.start()
    relay = OutboxRelay(session_factory, make_read_session_factory(engine), tables, producer, batch_size=150)
    try:
        draining = asyncio.create_task(relay.drain())
        await asyncio.to_thread(write, 1_000, 300)  # rows committed while the relay is busy
        await draining
        await relay.drain()  # whatever the first pass started reading before the late rows committed
    finally:
        await producer.stop()

    with session_factory() as session:
        unsent = session.execute(select(func.count()).select_from(tables.outbox)
                                 .where(tables.outbox.c.published_at.is_(None))).scalar_one()
    assert unsent == 0
    assert relay.published == 1_300

    published = await _read_all(kafka_broker, Topic.case.name_with(topic_prefix), wanted=1_300)
    numbers = [int(e.data["reason"].removeprefix("第").removesuffix("号")) for e in published]
    assert sorted(numbers) == list(range(1_300))  # each once: none lost, none twice
    per_key: dict[str, list[int]] = defaultdict(list)
    for envelope, number in zip(published, numbers, strict=True):
        per_key[envelope.subject].append(number)
    for key, seen in per_key.items():
        assert seen == sorted(seen), f"{key} out of outbox order"
    engine.dispose()
