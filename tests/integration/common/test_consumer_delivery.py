"""EventConsumer on the real broker and a real SQLite file, without any service around it.

Each event is applied once (inbox), an unknown type is parked and a refused one dead-lettered while
the consumer carries on, and a consumer that stops before committing hands its work to the next
member of the group without anything applied twice or lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import RecordMetadata
from sqlalchemy import Column, Integer, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.common.contracts import Envelope, Topic
from services.common.contracts.case import CaseWithdrawn
from services.common.db import make_engine, make_session_factory, new_metadata
from services.common.messaging import EventConsumer, MessagingTables
from services.common.messaging.admin import ensure_topics
from services.common.messaging.relay import new_producer

pytestmark = pytest.mark.kafka

TIMEOUT = 30.0
CASE_NO = "320102-20261125-00042"  # one key: every event of a test lands on one partition, in order


class Harness:
    """A tiny service: messaging tables plus one table of its own that the handler writes to."""

    def __init__(self, db_file: Path, bootstrap: str, prefix: str) -> None:
        metadata = new_metadata()
        self.tables = MessagingTables.on(metadata)
        self.applied = Table(
            "applied_withdrawal", metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("event_id", String(64), nullable=False),  # deliberately not unique: duplicates must show
            Column("case_no", String(50), nullable=False),
            Column("reason", String(200), nullable=False),
        )
        self.engine = make_engine(f"sqlite:///{db_file}")
        metadata.create_all(self.engine)
        self.session_factory = make_session_factory(self.engine)
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.topic = Topic.case.name_with(prefix)
        self.group = f"{prefix}test.delivery"
        self.calls: list[str] = []  # event ids, every time a handler was invoked

    def handler(self, fail_with: Callable[[Envelope], Exception | None] = lambda _e: None) -> Any:
        def handle(session: Session, envelope: Envelope, event: CaseWithdrawn) -> None:
            self.calls.append(envelope.id)
            session.execute(insert(self.applied).values(event_id=envelope.id, case_no=event.case_no,
                                                        reason=event.reason))
            if event.reason == "boom":
                raise ValueError("撤回原因自相矛盾")
            error = fail_with(envelope)
            if error is not None:
                raise error

        return handle

    @contextlib.asynccontextmanager
    async def consumer(self, handle: Any, producer: AIOKafkaProducer,
                       batch_mode: bool = False) -> AsyncIterator[EventConsumer]:
        consumer = EventConsumer(
            name=self.group, topics=[self.topic], handlers={CaseWithdrawn.event_type: handle},
            session_factory=self.session_factory, tables=self.tables, bootstrap_servers=self.bootstrap,
            producer=producer, max_records=50, batch_mode=batch_mode,
        )
        await consumer.start()
        task = asyncio.create_task(consumer.run())
        try:
            yield consumer
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await consumer.stop()

    # ---- reading the database -------------------------------------------------------------------
    def rows(self, event_id: str) -> int:
        with self.session_factory() as session:
            return int(session.execute(select(func.count()).where(self.applied.c.event_id == event_id)).scalar_one())

    def inbox_rows(self, event_id: str | None = None) -> int:
        inbox = self.tables.inbox
        query = select(func.count()).select_from(inbox).where(inbox.c.consumer == self.group)
        if event_id is not None:
            query = query.where(inbox.c.event_id == event_id)
        with self.session_factory() as session:
            return int(session.execute(query).scalar_one())

    def parked(self) -> list[dict[str, Any]]:
        with self.session_factory() as session:
            return [dict(r._mapping) for r in session.execute(select(self.tables.parked)).all()]

    async def committed(self, partition: int) -> int | None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.group)
        finally:
            await admin.close()
        meta = offsets.get(TopicPartition(self.topic, partition))
        return None if meta is None or meta.offset < 0 else meta.offset

    async def dead_letters(self, wanted: int, within: float = TIMEOUT) -> list[Any]:
        consumer = AIOKafkaConsumer(self.topic + ".dlq", bootstrap_servers=self.bootstrap,
                                    group_id=f"test-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
                                    enable_auto_commit=False)
        await consumer.start()
        found: list[Any] = []
        try:
            end = time.monotonic() + within
            while len(found) < wanted and time.monotonic() < end:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    found.extend(records)
        finally:
            await consumer.stop()
        return found

    async def dlq_size(self) -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            tp = TopicPartition(self.topic + ".dlq", 0)
            return int((await consumer.end_offsets([tp]))[tp])
        finally:
            await consumer.stop()


def withdrawal(reason: str = "申请人主动撤回") -> Envelope:
    return Envelope.wrap(CaseWithdrawn(occurred_at=datetime.now(UTC), case_no=CASE_NO, reason=reason),
                         source="/test")


async def send(producer: AIOKafkaProducer, topic: str, envelope: Envelope) -> RecordMetadata:
    key, value, headers = envelope.to_kafka()
    return await producer.send_and_wait(topic, value=value, key=key, headers=headers)


async def eventually(what: str, probe: Callable[[], Any]) -> None:
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def setup(kafka_broker: str, topic_prefix: str, tmp_path: Path) -> AsyncIterator[tuple[Harness,
                                                                                           AIOKafkaProducer]]:
    await ensure_topics(kafka_broker, topic_prefix)
    harness = Harness(tmp_path / "delivery.db", kafka_broker, topic_prefix)
    producer = new_producer(kafka_broker)  # idempotent, acks=all: what services use for dead letters
    await producer.start()
    try:
        yield harness, producer
    finally:
        await producer.stop()
        harness.engine.dispose()


async def test_the_same_cloudevent_twice_is_applied_once(setup: tuple[Harness, AIOKafkaProducer]) -> None:
    h, producer = setup
    first, second, sentinel = withdrawal("第一次"), withdrawal("第二次"), withdrawal("哨兵")
    async with h.consumer(h.handler(), producer):
        await send(producer, h.topic, first)
        await eventually("the first event applied", lambda: h.rows(first.id))
        # Redelivered later, in a batch of its own: only the inbox table can recognise it.
        await send(producer, h.topic, first)
        # Sent twice back to back: most likely both in one batch, one transaction.
        await send(producer, h.topic, second)
        await send(producer, h.topic, second)
        await send(producer, h.topic, sentinel)
        await eventually("the sentinel applied", lambda: h.rows(sentinel.id))

    for envelope in (first, second, sentinel):
        assert h.rows(envelope.id) == 1, envelope.data["reason"]
        assert h.inbox_rows(envelope.id) == 1, envelope.data["reason"]
        assert h.calls.count(envelope.id) == 1, envelope.data["reason"]
    assert h.inbox_rows() == 3


async def test_an_unknown_event_type_is_parked_and_the_next_event_applied(
        setup: tuple[Harness, AIOKafkaProducer]) -> None:
    h, producer = setup
    unknown = Envelope(type="zwfw.case.teleported.v9", source="/newer-producer", subject=CASE_NO,
                       data={"case_no": CASE_NO, "occurred_at": datetime.now(UTC).isoformat(), "to": "火星"})
    following = withdrawal()
    async with h.consumer(h.handler(), producer) as consumer:
        parked_at = await send(producer, h.topic, unknown)
        next_at = await send(producer, h.topic, following)
        await eventually("the next event applied", lambda: h.rows(following.id))
        await eventually("offsets committed past it", lambda: _committed_past(h, next_at))
        # The same unknown event again (a redelivery) is not parked a second time.
        await send(producer, h.topic, unknown)
        sentinel_at = await send(producer, h.topic, sentinel := withdrawal("哨兵"))
        await eventually("the sentinel applied", lambda: h.rows(sentinel.id))
        await eventually("offsets committed past the sentinel", lambda: _committed_past(h, sentinel_at))
        assert consumer.dead_lettered == 0

    parked = h.parked()
    assert len(parked) == 1, parked
    row = parked[0]
    assert (row["consumer"], row["event_id"], row["event_type"]) == (h.group, unknown.id, "zwfw.case.teleported.v9")
    assert (row["topic"], row["partition"], row["offset"]) == (h.topic, parked_at.partition, parked_at.offset)
    assert row["key"] == CASE_NO
    assert row["payload"] == unknown.to_kafka()[1]  # kept as received, to replay once this build knows the type
    assert ["ce_type", "zwfw.case.teleported.v9"] in row["headers"]
    assert h.inbox_rows(unknown.id) == 1
    assert h.rows(following.id) == 1 and h.calls == [following.id, sentinel.id]
    assert await h.dlq_size() == 0  # parked, not dead-lettered


async def _committed_past(h: Harness, meta: RecordMetadata) -> bool:
    committed = await h.committed(meta.partition)
    return committed is not None and committed > meta.offset


async def test_a_refused_event_is_dead_lettered_and_the_next_applied(
        setup: tuple[Harness, AIOKafkaProducer]) -> None:
    h, producer = setup
    refused, following = withdrawal("boom"), withdrawal()
    async with h.consumer(h.handler(), producer) as consumer:
        refused_at = await send(producer, h.topic, refused)
        next_at = await send(producer, h.topic, following)
        await eventually("the next event applied", lambda: h.rows(following.id))
        await eventually("offsets committed past it", lambda: _committed_past(h, next_at))
        assert consumer.dead_lettered == 1

    letters = await h.dead_letters(wanted=1)
    assert len(letters) == 1, letters
    letter = letters[0]
    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["dlq_consumer"] == h.group
    assert headers["dlq_source"] == f"{h.topic}/{refused_at.partition}/{refused_at.offset}"
    assert "ValueError" in headers["dlq_error"] and "撤回原因自相矛盾" in headers["dlq_error"]
    assert headers["ce_id"] == refused.id and headers["ce_type"] == CaseWithdrawn.event_type  # original kept
    assert (letter.key, letter.value) == (CASE_NO.encode(), refused.to_kafka()[1])
    # The refused handler's insert was rolled back with its savepoint; the next event's was kept.
    assert h.rows(refused.id) == 0 and h.inbox_rows(refused.id) == 0
    assert h.rows(following.id) == 1 and h.inbox_rows(following.id) == 1
    assert h.parked() == []


async def test_in_batch_mode_a_refused_event_is_found_alone_and_the_rest_applied_once(
        setup: tuple[Harness, AIOKafkaProducer]) -> None:
    h, producer = setup
    before, refused, after = withdrawal("之前"), withdrawal("boom"), withdrawal("之后")
    # Sent before the consumer starts, so the three arrive in one batch and the batch's transaction fails.
    for envelope in (before, refused, after):
        last = await send(producer, h.topic, envelope)
    async with h.consumer(h.handler(), producer, batch_mode=True) as consumer:
        await eventually("offsets committed past the batch", lambda: _committed_past(h, last))
        assert consumer.dead_lettered == 1

    letters = await h.dead_letters(wanted=1)
    assert [dict(letter.headers)["ce_id"].decode() for letter in letters] == [refused.id]
    # The batch's transaction was rolled back whole, then each event ran in its own: once each, the refused none.
    assert h.calls.count(before.id) == 2 and h.calls.count(refused.id) == 2
    assert h.rows(before.id) == 1 and h.inbox_rows(before.id) == 1
    assert h.rows(after.id) == 1 and h.inbox_rows(after.id) == 1
    assert h.rows(refused.id) == 0 and h.inbox_rows(refused.id) == 0


async def test_a_new_group_member_resumes_without_applying_anything_twice(
        setup: tuple[Harness, AIOKafkaProducer]) -> None:
    h, producer = setup
    e1, e2, stuck, e3 = withdrawal("一"), withdrawal("二"), withdrawal("卡住"), withdrawal("三")
    database_down = OperationalError("INSERT INTO applied_withdrawal", {}, Exception("database is locked"))

    def fail_stuck(envelope: Envelope) -> Exception | None:
        return database_down if envelope.id == stuck.id else None

    async with h.consumer(h.handler(fail_stuck), producer):
        await send(producer, h.topic, e1)
        e2_at = await send(producer, h.topic, e2)
        await eventually("e1 and e2 applied and committed", lambda: _committed_past(h, e2_at))
        stuck_at = await send(producer, h.topic, stuck)
        # The database fails for this event: its batch is rolled back and read again, never committed.
        await eventually("the stuck event retried", lambda: h.calls.count(stuck.id) >= 2)
    assert h.rows(stuck.id) == 0 and h.inbox_rows(stuck.id) == 0
    assert await h.committed(stuck_at.partition) == stuck_at.offset  # committed up to, not past, the failure

    first_calls = list(h.calls)
    fetched: list[int] = []
    async with h.consumer(h.handler(), producer) as successor:
        getmany = successor.consumer.getmany

        async def spy(*args: Any, **kwargs: Any) -> Any:
            batch = await getmany(*args, **kwargs)
            fetched.extend(r.offset for records in batch.values() for r in records)
            return batch

        successor.consumer.getmany = spy  # type: ignore[method-assign]
        e3_at = await send(producer, h.topic, e3)
        await eventually("the stuck event and e3 applied", lambda: h.rows(stuck.id) and h.rows(e3.id))
        await eventually("offsets committed past e3", lambda: _committed_past(h, e3_at))

    for envelope in (e1, e2, stuck, e3):
        assert h.rows(envelope.id) == 1, envelope.data["reason"]
        assert h.inbox_rows(envelope.id) == 1, envelope.data["reason"]
    assert h.inbox_rows() == 4
    # The successor started at the first uncommitted offset: what was committed was not even read again.
    assert fetched == [stuck_at.offset, e3_at.offset], fetched
    assert h.calls[len(first_calls):] == [stuck.id, e3.id]
    assert first_calls.count(e1.id) == first_calls.count(e2.id) == 1
