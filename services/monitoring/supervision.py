"""Wires the clock engine to its timers, the live alert stream and calendar changes.

One `SupervisionService` per process, kept in `runtime.extras["supervision"]`. Its background job arms
every open clock's next timer from the database (so a restart loses nothing), then runs the timer
runner; the timers each transaction decided are armed or cancelled only after it commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2
from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.orm import Session

from services.common.contracts.envelope import Envelope, MalformedEvent
from services.common.contracts.supervision import AlertRaised
from services.common.contracts.topics import Topic
from services.common.messaging.consumer import EventConsumer
from services.common.runtime import Runtime
from services.common.workdays import SHANGHAI
from services.monitoring import handlers
from services.monitoring.domain.policies import PolicyTable
from services.monitoring.subject_log_cache import SubjectLogCache
from services.monitoring.timer_runner import TimerRunner, wall_clock_ms
from services.monitoring.timers import TimerStore

log = logging.getLogger(__name__)

_SUBJECT_TOPICS = {kind: topic for topic, kind in handlers.SUBJECT_TYPES.items()}


def _streamable(record: Any) -> dict[str, Any] | None:
    """An AlertRaised record as the stream shows it; anything else on the topic is not for the stream."""
    try:
        envelope = Envelope.from_kafka(record.key, record.value, list(record.headers or ()))
        if envelope.type != AlertRaised.event_type:
            return None
        event = AlertRaised.model_validate(envelope.data)
    except (MalformedEvent, ValidationError) as exc:
        log.warning("not streamed: unreadable record %s/%s/%s: %s", record.topic, record.partition, record.offset, exc)
        return None
    return {**event.model_dump(mode="json", exclude={"occurred_at"}), "raised_at": event.occurred_at.isoformat()}


def subject_partition(subject_no: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed by this subject number."""
    return (murmur2(subject_no.encode()) & 0x7FFFFFFF) % partitions


class AlertHub:
    """Fans alerts out to live subscribers (server-sent events); a slow subscriber loses old alerts, not new."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, alert: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(alert)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


class SupervisionService:
    def __init__(self, runtime: Runtime, policies: PolicyTable, detector: handlers.AnomalyDetector | None,
                 log_cache: SubjectLogCache | None = None) -> None:
        self.runtime = runtime
        self.ctx = handlers.Supervision(outbox=runtime.outbox, calendar=lambda: runtime.calendar,
                                        policies=policies, detect_anomalies=detector, log_cache=log_cache)
        self.hub = AlertHub()
        self._feed: asyncio.Task[None] | None = None  # reads the supervision topic while anyone subscribes
        self._feed_ready = asyncio.Event()
        self.runner = TimerRunner(TimerStore(), wall_clock_ms, self._fire)
        self._loop: asyncio.AbstractEventLoop | None = None
        event.listen(runtime.session_factory, "before_commit", self._before_commit)
        event.listen(runtime.session_factory, "after_commit", self._after_commit)
        event.listen(runtime.session_factory, "after_soft_rollback",
                     lambda session, _tx: session.info.pop("supervision", None) if not session.in_transaction()
                     else None)

    # ---- around each commit (in the committing thread) ------------------------------------------------

    def _before_commit(self, session: Session) -> None:
        # One rebuild per subject per consumer batch, however many of its events the batch holds. SQLAlchemy
        # calls this for the consumer's per-event savepoints too: only the outer commit flushes.
        if session.in_nested_transaction():
            return
        handlers.flush(session, self.ctx)

    def _after_commit(self, session: Session) -> None:
        pending: handlers.AfterCommit | None = session.info.pop("supervision", None)
        if pending is not None and pending.logs and self.ctx.log_cache is not None:
            self.ctx.log_cache.put_many(pending.logs)  # here, in the committing thread: before the next batch
        loop = self._loop
        if pending is None or loop is None or loop.is_closed():
            return  # before start-up the background job arms everything from the database anyway
        loop.call_soon_threadsafe(self._apply, pending)

    def _apply(self, pending: handlers.AfterCommit) -> None:
        for clock_id, due_ms in pending.timers.items():
            if due_ms is None:
                self.runner.cancel(clock_id)
            else:
                self.runner.arm(clock_id, due_ms)

    # ---- timers ------------------------------------------------------------------------------------------

    async def _fire(self, batch: list[tuple[str, int]]) -> None:
        """One transaction per batch: the claims and their outbox rows commit together or not at all."""
        now = datetime.now(UTC)

        def unit_of_work() -> None:
            with self.runtime.session_factory.begin() as session:
                handlers.fire_due(session, self.ctx, [key for key, _ in batch], now)

        await asyncio.to_thread(unit_of_work)

    # ---- partitions: a clock's timer lives where its subject's events are consumed --------------------

    def _partition_of(self, consumer: EventConsumer, clock_id: str) -> tuple[str, int] | None:
        subject_type, _, rest = clock_id.partition(":")
        subject_no = rest.split(":", 1)[0]
        topic = _SUBJECT_TOPICS.get(subject_type)
        if topic is None:
            return None
        name = topic.name_with(self.runtime.settings.zwfw_topic_prefix)
        count = consumer.partition_count(name)
        return (name, subject_partition(subject_no, count)) if count else None

    async def assigned(self, consumer: EventConsumer, partitions: set[TopicPartition]) -> None:
        """Arms the open clocks of the partitions this instance now owns (architecture.md, timers)."""
        owned = {(tp.topic, tp.partition) for tp in partitions}
        if self.ctx.log_cache is not None:
            self.ctx.log_cache.clear()  # another instance may have written these subjects' logs meanwhile

        def load() -> list[tuple[str, int]]:
            with self.runtime.read_session() as session:
                return handlers.armed_timers(session)

        armed = 0
        for key, due_ms in await asyncio.to_thread(load):
            # A commit since the load may have armed a newer instant already: the stored one is older.
            if self._partition_of(consumer, key) in owned and self.runner.store.due_of(key) is None:
                self.runner.arm(key, due_ms)
                armed += 1
        log.info("armed %d timers of open clocks for %d assigned partitions", armed, len(owned))

    async def revoked(self, consumer: EventConsumer, partitions: set[TopicPartition]) -> None:
        """Drops the timers of partitions another instance takes over; it arms them from the database."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        if self.ctx.log_cache is not None:
            self.ctx.log_cache.clear()
        dropped = [key for key in list(self.runner.store) if self._partition_of(consumer, key) in gone]
        for key in dropped:
            self.runner.cancel(key)
        log.info("dropped %d timers of %d revoked partitions", len(dropped), len(gone))

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        today = datetime.now(UTC).astimezone(SHANGHAI).date()
        missing = self.runtime.calendar.missing_next_year(today)
        if missing is not None:
            # domain.md §1: from 1 November, deadlines reaching into next year are provisional until it is loaded.
            log.warning("the %d working-day calendar is not loaded; deadlines in %d are provisional "
                        "(PUT /api/v1/monitoring/calendar/years/%d)", missing, missing, missing)
        await self.runner.run()

    # ---- the live stream ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def live_alerts(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A subscription to the live stream, fed from the supervision topic (not from this instance's own
        commits: with several instances each fires its own partitions' timers, and a subscriber must see them
        all). The topic is read only while someone subscribes; the subscription starts at its end."""
        async with self.hub.subscribe() as queue:
            if self._feed is None or self._feed.done():
                self._feed_ready = asyncio.Event()
                self._feed = asyncio.create_task(self._read_topic(self._feed_ready), name="live-alerts")
            try:
                await asyncio.wait_for(self._feed_ready.wait(), timeout=10.0)
            except TimeoutError:
                log.warning("the supervision topic is not readable yet; the stream starts when it is")
            yield queue

    async def _read_topic(self, ready: asyncio.Event) -> None:
        settings = self.runtime.settings
        topic = Topic.supervision.name_with(settings.zwfw_topic_prefix)
        while self.hub.subscribers:
            # No group: each instance reads every partition, from the end (a live stream, not a history).
            consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None,
                                        enable_auto_commit=False)
            try:
                await consumer.start()
                consumer.subscribe([topic])  # without a group: every partition, as the metadata lists them
                for _ in range(200):
                    if consumer.assignment():
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError(f"no partition of {topic} assigned within 10 s")
                await consumer.seek_to_end(*consumer.assignment())
                ready.set()
                while self.hub.subscribers:
                    for records in (await consumer.getmany(timeout_ms=1000)).values():
                        for record in records:
                            alert = _streamable(record)
                            if alert is not None:
                                self.hub.publish(alert)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading %s for the live stream failed; retrying", topic)
                await asyncio.sleep(2.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    # ---- calendar changes ----------------------------------------------------------------------------

    async def watch_calendar(self, every_seconds: float = 30.0) -> None:
        """Picks up a year loaded through another instance: its calendar, then the clocks it moves."""
        from sqlalchemy import func, select

        from services.monitoring.adapters.calendar_tables import calendar_year
        from services.monitoring.calendar_admin import refresh_runtime_calendar

        def latest() -> datetime | None:
            with self.runtime.read_session() as session:
                return session.execute(select(func.max(calendar_year.c.loaded_at))).scalar_one()

        seen = await asyncio.to_thread(latest)
        while True:
            await asyncio.sleep(every_seconds)
            try:
                current = await asyncio.to_thread(latest)
                if current != seen:
                    seen = current
                    await refresh_runtime_calendar(self.runtime)
                    await self.recompute(provisional_only=False)
            except Exception:
                log.exception("checking for a newly loaded calendar year failed; retrying")

    async def recompute(self, provisional_only: bool = True) -> int:
        """After a calendar year is loaded: rebuild the clocks whose deadlines it may move."""
        now = datetime.now(UTC)

        def unit_of_work() -> int:
            with self.runtime.read_session() as session:
                subjects = handlers.open_subjects(session, provisional_only)
            # Chunks of 500, each committed (and its timers moved) before the next: consumers keep going.
            for i in range(0, len(subjects), 500):
                with self.runtime.session_factory.begin() as session:
                    handlers.recompute_subjects(session, self.ctx, {no: kind for kind, no in subjects[i:i + 500]}, now)
            return len(subjects)

        count = await asyncio.to_thread(unit_of_work)
        log.info("recomputed %d subjects after a calendar change", count)
        return count


