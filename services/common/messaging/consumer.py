"""Listens to topics and applies each event exactly once to the service's database.

A batch is applied in one transaction that also records the applied event ids (the inbox); the
Kafka offsets are committed only after that transaction. A crash in between replays the batch and
the inbox drops what was already applied. An event that cannot be read, or that its handler
refuses as permanently invalid, goes to the topic's `.dlq` twin with the error, and the consumer
moves on. A well-formed event of a type this build does not know is parked in the database.

Two ways to isolate a bad event. By default each event runs in its own savepoint under its own span, so
a refused event is rolled back alone. A consumer built with `batch_mode=True` (monitoring, whose
handlers only buffer and whose work happens once per batch before the commit) runs the whole batch
under one span linked to every event's producer, without savepoints; if the batch fails for a reason
other than the database being unavailable, it is applied again one event per transaction, and the
event that fails alone is dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, get_current_span
from sqlalchemy import insert, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.common.contracts.envelope import Envelope, MalformedEvent, UnknownEventType
from services.common.contracts.payloads import EventPayload
from services.common.contracts.registry import parse_payload
from services.common.contracts.topics import DLQ_SUFFIX
from services.common.messaging.tables import MessagingTables
from services.common.telemetry import context_from_kafka_headers, tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)

Handler = Callable[[Session, Envelope, Any], None]
_TRANSIENT = (OperationalError, InterfaceError)  # the database, not the event: the batch is read again
_MAX_LINKS = 128  # the SDK's default limit of links per span
HandlerMap = dict[str, Handler]


def _check_fits(envelope: Envelope, key: bytes | None) -> None:
    """Refuses ids and names wider than the inbox and parked columns: such an event would fail the whole
    batch's transaction again and again instead of being dead-lettered."""
    if len(envelope.id) > 64 or len(envelope.type) > 200 or len(key or b"") > 200:
        raise MalformedEvent("event id longer than 64, or type or key longer than 200 characters")


class PartitionOwnership(Protocol):
    """A service's own state per partition (monitoring's timers): loaded on assignment, dropped on revocation."""

    async def assigned(self, consumer: EventConsumer, partitions: set[TopicPartition]) -> None: ...

    async def revoked(self, consumer: EventConsumer, partitions: set[TopicPartition]) -> None: ...


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: EventConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self.owner.ownership is not None and revoked:
            await self.owner.ownership.revoked(self.owner, set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if self.owner.ownership is not None and assigned:
            await self.owner.ownership.assigned(self.owner, set(assigned))


class PermanentEventError(Exception):
    """Raised by a handler for an event that will never apply (contradicts the state); dead-lettered."""


@dataclass
class _Item:
    record: ConsumerRecord[bytes, bytes]
    envelope: Envelope | None = None
    payload: EventPayload | None = None
    error: str | None = None
    unknown: bool = False


class EventConsumer:
    def __init__(
        self,
        name: str,
        topics: list[str],
        handlers: HandlerMap,
        session_factory: sessionmaker[Any],
        tables: MessagingTables,
        bootstrap_servers: str,
        producer: AIOKafkaProducer,
        max_records: int = 500,
        ownership: PartitionOwnership | None = None,
        batch_mode: bool = False,
    ) -> None:
        self.name = name
        self.topics = topics
        self.handlers = handlers
        self.session_factory = session_factory
        self.tables = tables
        self.producer = producer  # shared with the relay; used for dead letters
        self.max_records = max_records
        self.ownership = ownership
        self.batch_mode = batch_mode
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self.applied = 0
        self.dead_lettered = 0

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe(self.topics, listener=_Listener(self))

    def partition_count(self, topic: str) -> int:
        return len(self.consumer.partitions_for_topic(topic) or ())

    async def stop(self) -> None:
        await self.consumer.stop()

    async def run(self) -> None:
        """Never returns while the service lives: a failed batch is rewound and read again."""
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=500, max_records=self.max_records)
            except Exception:
                log.exception("%s: fetching failed, retrying", self.name)
                await asyncio.sleep(1.0)
                continue
            if not batch:
                continue
            try:
                await self._process(batch)
            except Exception:
                # Offsets were not committed: rewind so the same batch is read again after a pause. A
                # partition revoked meanwhile cannot be rewound; its new owner starts from the committed offset.
                log.exception("%s: batch failed, will retry", self.name)
                for tp, records in batch.items():
                    with contextlib.suppress(Exception):
                        self.consumer.seek(tp, records[0].offset)
                await asyncio.sleep(1.0)

    async def _process(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        items = [self._decode(record) for records in batch.values() for record in records]
        await asyncio.to_thread(self._apply, items)
        for item in items:
            if item.error is not None:
                await self._dead_letter(item)
        await self.consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> _Item:
        item = _Item(record=record)
        try:
            item.envelope = Envelope.from_kafka(record.key, record.value, list(record.headers or ()))
            _check_fits(item.envelope, record.key)
            if item.envelope.type in self.handlers:
                item.payload = parse_payload(item.envelope)
            else:
                parse_payload(item.envelope)  # known but not ours: still checked, then ignored
        except UnknownEventType:
            item.unknown = True
        except MalformedEvent as exc:
            item.error = str(exc)
        return item

    def _apply(self, items: list[_Item]) -> None:
        if not any(i.error is None and i.envelope is not None and (i.unknown or i.payload is not None)
                   for i in items):
            # Only events of other types (a service's own events coming back, other services' steps): no
            # transaction, so they never take the database's writer slot from a request.
            return
        if not self.batch_mode:
            self._apply_in_one_transaction(items, isolate=True)
            return
        try:
            self._apply_batch(items)
        except _TRANSIENT:
            raise
        except Exception as exc:
            log.warning("%s: a batch of %d events failed (%s: %s); applying them one per transaction",
                        self.name, len(items), type(exc).__name__, exc)
            for item in items:
                try:
                    self._apply_in_one_transaction([item], isolate=False)
                except _TRANSIENT:
                    raise  # the whole batch is read again; the inbox skips what this loop already applied
                except Exception as single:
                    item.error = f"{type(single).__name__}: {single}"
                    log.warning("%s: %s refused: %s", self.name, item.envelope.id if item.envelope else "?",
                                item.error)

    def _apply_batch(self, items: list[_Item]) -> None:
        """One span for the batch (a span and a savepoint per event cost more than the handler here). Its
        parent is the first event's producer, so a lone event (the usual case outside bursts) stays in its
        request's trace; the other events' producers are links (OpenTelemetry's messaging conventions for
        batch processing, up to the SDK's 128 links per span)."""
        parent: Context | None = None
        links: list[Link] = []
        seen: set[tuple[int, int]] = set()
        for item in items:
            context = context_from_kafka_headers(item.record.headers or ())
            span_context = get_current_span(context).get_span_context()
            if not span_context.is_valid or (span_context.trace_id, span_context.span_id) in seen:
                continue
            seen.add((span_context.trace_id, span_context.span_id))
            if parent is None:
                parent = context
            elif len(links) < _MAX_LINKS:
                links.append(Link(span_context))
        topics = {item.record.topic for item in items}
        destination = topics.pop() if len(topics) == 1 else "(several topics)"
        with _tracer.start_as_current_span(f"{destination} process", context=parent, kind=SpanKind.CONSUMER,
                                           links=links) as span:
            span.set_attribute("messaging.consumer.group.name", self.name)
            if len(items) > 1:
                span.set_attribute("messaging.batch.message_count", len(items))
            self._apply_in_one_transaction(items, isolate=False)

    def _apply_in_one_transaction(self, items: list[_Item], isolate: bool) -> None:
        inbox = self.tables.inbox
        now = datetime.now(UTC)
        with self.session_factory.begin() as session:
            # One query for the whole batch's inbox, one statement for its new rows: a batch costs a few
            # statements plus its handlers, not two per event.
            ids = [i.envelope.id for i in items if i.envelope is not None and i.error is None]
            seen: set[str] = set()
            for start in range(0, len(ids), 500):
                seen.update(session.execute(
                    select(inbox.c.event_id).where(inbox.c.consumer == self.name,
                                                   inbox.c.event_id.in_(ids[start:start + 500]))
                ).scalars())
            applied: list[dict[str, Any]] = []
            for item in items:
                if item.error is not None or item.envelope is None:
                    continue
                envelope = item.envelope
                if envelope.id in seen:
                    continue
                if item.unknown:
                    self._park(session, item, now)
                elif item.payload is not None:
                    if isolate:
                        if not self._handle_isolated(session, item):
                            continue
                    else:
                        self.handlers[envelope.type](session, envelope, item.payload)
                seen.add(envelope.id)  # the same event twice in one batch is applied once
                applied.append(dict(consumer=self.name, event_id=envelope.id, event_type=envelope.type,
                                    applied_at=now))
            if applied:
                session.execute(insert(inbox), applied)
        self.applied += len(applied)

    def _handle_isolated(self, session: Session, item: _Item) -> bool:
        assert item.envelope is not None
        record = item.record
        ctx = context_from_kafka_headers(record.headers or ())
        with _tracer.start_as_current_span(f"{record.topic} process", context=ctx, kind=SpanKind.CONSUMER) as span:
            span.set_attribute("messaging.consumer.group.name", self.name)
            span.set_attribute("messaging.message.id", item.envelope.id)
            span.set_attribute("cloudevents.event_type", item.envelope.type)
            savepoint = session.begin_nested()
            try:
                self.handlers[item.envelope.type](session, item.envelope, item.payload)
                savepoint.commit()
                return True
            except _TRANSIENT:
                # The database is unavailable or locked, not the event at fault: retry the whole batch.
                # Integrity or data errors would fail the same way forever, so they dead-letter below.
                raise
            except Exception as exc:
                savepoint.rollback()
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                log.warning("%s: %s %s refused: %s", self.name, item.envelope.type, item.envelope.id, exc)
                item.error = f"{type(exc).__name__}: {exc}"
                return False

    def _park(self, session: Session, item: _Item, now: datetime) -> None:
        assert item.envelope is not None
        record = item.record
        session.execute(
            insert(self.tables.parked).values(
                consumer=self.name, topic=record.topic, partition=record.partition, offset=record.offset,
                event_id=item.envelope.id, event_type=item.envelope.type,
                key=record.key.decode(errors="replace") if record.key else None,
                headers=[[k, v.decode(errors="replace")] for k, v in (record.headers or ())],
                payload=record.value or b"", parked_at=now,
            )
        )

    async def _dead_letter(self, item: _Item) -> None:
        record = item.record
        headers = [
            *(record.headers or ()),
            ("dlq_error", (item.error or "")[:2000].encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        await self.producer.send_and_wait(
            record.topic + DLQ_SUFFIX, value=record.value, key=record.key, headers=headers
        )
        self.dead_lettered += 1
        log.warning("%s: dead-lettered %s/%s/%s: %s", self.name, record.topic, record.partition, record.offset,
                    item.error)
