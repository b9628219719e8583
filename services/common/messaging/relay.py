"""Publishes outbox rows to Kafka in order, with an idempotent producer, and marks them sent.

Woken right after each commit that wrote rows (so an event costs no poll interval), with a slow
sweep for rows left by a crash. A crash after the broker acknowledged a row but before it was
marked sent publishes it again; consumers' inboxes drop the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, get_current_span
from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from services.common.contracts.envelope import TRACEPARENT
from services.common.messaging.tables import MessagingTables
from services.common.telemetry import context_from_traceparent, tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)
_MAX_LINKS = 128  # the SDK's default limit of links per span


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,  # implies acks=all; retries keep per-partition order
        acks="all",
        request_timeout_ms=15000,
    )


class OutboxRelay:
    def __init__(
        self,
        session_factory: sessionmaker[Any],
        read_session: sessionmaker[Any],
        tables: MessagingTables,
        producer: AIOKafkaProducer,
        sweep_seconds: float = 1.0,
        batch_size: int = 1000,
    ) -> None:
        self.session_factory = session_factory
        self.read_session = read_session
        self.tables = tables
        self.producer = producer
        self.sweep_seconds = sweep_seconds
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    def notify(self) -> None:
        """Thread-safe: called from the thread that committed outbox rows."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        backoff = 0.5
        while True:
            try:
                await self.drain()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_seconds)
            self._wake.clear()

    async def drain(self) -> int:
        """Publishes every pending row. The next batch is read and sent while the broker acknowledges the
        previous one (two batches in flight at most): waiting for each batch's acknowledgements before
        reading the next made an end-of-day burst of alerts a series of round trips."""
        total = 0
        after_id = 0
        confirming: asyncio.Task[None] | None = None
        try:
            while True:
                rows = await asyncio.to_thread(self._fetch_pending, after_id)
                if not rows:
                    if confirming is not None:
                        await confirming
                    return total
                futures = await self._send(rows)
                after_id = rows[-1].id
                if confirming is not None:
                    await confirming
                confirming = asyncio.create_task(self._confirm(futures, [row.id for row in rows]))
                total += len(rows)
        finally:
            if confirming is not None and not confirming.done():
                confirming.cancel()
                await asyncio.gather(confirming, return_exceptions=True)

    async def _send(self, rows: list[Any]) -> list[Any]:
        """One `publish` span per batch (OpenTelemetry's messaging conventions for batch publishing): its
        parent is the first row's creation context, the others' are links. Each message carries the context
        it was created under — the request that wrote the outbox row — so its consumers join that trace."""
        parent: Context | None = None
        links: list[Link] = []
        for traceparent in dict.fromkeys(row.traceparent for row in rows if row.traceparent):
            context = context_from_traceparent(traceparent)
            span_context = get_current_span(context).get_span_context()
            if not span_context.is_valid:
                continue
            if parent is None:
                parent = context
            elif len(links) < _MAX_LINKS:
                links.append(Link(span_context))
        topics = {row.topic for row in rows}
        destination = topics.pop() if len(topics) == 1 else "(several topics)"
        futures = []
        with _tracer.start_as_current_span(f"{destination} publish", context=parent, kind=SpanKind.PRODUCER,
                                           links=links) as span:
            if len(rows) > 1:
                span.set_attribute("messaging.batch.message_count", len(rows))
            for row in rows:
                headers = [(k, v.encode()) for k, v in row.headers]
                if row.traceparent:
                    headers.append((TRACEPARENT, row.traceparent.encode()))
                futures.append(await self.producer.send(row.topic, value=row.payload, key=row.key.encode(),
                                                        headers=headers))
        return futures

    async def _confirm(self, futures: list[Any], ids: list[int]) -> None:
        # Marked sent only once the broker acknowledged every row of the batch; a failure leaves the rows
        # pending and the relay starts again from the oldest unsent row.
        await asyncio.gather(*futures)
        await asyncio.to_thread(self._mark_sent, ids)
        self.published += len(ids)

    def _fetch_pending(self, after_id: int = 0) -> list[Any]:
        outbox = self.tables.outbox
        with self.read_session() as session:
            return list(
                session.execute(
                    select(outbox)
                    .where(outbox.c.published_at.is_(None), outbox.c.id > after_id)
                    .order_by(outbox.c.id)
                    .limit(self.batch_size)
                ).all()
            )

    def _mark_sent(self, ids: list[int]) -> None:
        outbox = self.tables.outbox
        with self.session_factory.begin() as session:
            session.execute(update(outbox).where(outbox.c.id.in_(ids)).values(published_at=datetime.now(UTC)))

    def backlog(self) -> tuple[int, float]:
        """Rows not yet published and the age in seconds of the oldest: a stuck relay shows here.

        A row the broker refuses for good (too large, say) is never skipped, since the events after it on
        its key must not overtake it; it stays at the head of this backlog for an operator to act on.
        """
        outbox = self.tables.outbox
        with self.read_session() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
            ).one()
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        return int(count), age
