"""The skeleton every service shares: database, outbox relay, consumers, health and error handling.

A service describes itself with a `ServiceSpec` (its name, database, migrations, tables and
handlers) and gets a FastAPI app whose lifespan starts and stops everything in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from services.common.contracts.topics import Topic
from services.common.db import make_engine, make_read_session_factory, make_session_factory, upgrade_database
from services.common.messaging.consumer import EventConsumer, HandlerMap, PartitionOwnership
from services.common.messaging.outbox import Outbox
from services.common.messaging.relay import OutboxRelay, new_producer
from services.common.messaging.tables import MessagingTables
from services.common.problems import install_problem_handlers
from services.common.settings import PlatformSettings
from services.common.telemetry import instrument_app, setup_telemetry, shutdown_telemetry
from services.common.workdays import WorkingDayCalendar

log = logging.getLogger(__name__)
T = TypeVar("T")

# Beyond this the relay is not merely busy: readiness fails so operators look at it.
OUTBOX_STUCK_SECONDS = 120.0


@dataclass
class ConsumerSpec:
    """One consumer group of the service: the topics it reads and a handler per event type."""

    group: str
    topics: list[Topic]
    handlers: Callable[[Runtime], HandlerMap]
    ownership: Callable[[Runtime], PartitionOwnership] | None = None
    # See messaging.consumer: one span and no savepoints per batch, for handlers that only buffer.
    batch_mode: bool = False
    max_records: int = 500


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str
    database_url: str
    migrations_dir: Path
    tables: MessagingTables
    routers: list[APIRouter]
    consumers: list[ConsumerSpec] = field(default_factory=list)
    settings: PlatformSettings = field(default_factory=PlatformSettings)
    # Long-running work of the service's own (monitoring's timers): each started as a task once the
    # database is ready, cancelled at shutdown.
    background: list[Callable[[Runtime], Awaitable[None]]] = field(default_factory=list)


@dataclass
class Runtime:
    """What handlers and routes need at run time; built once in the lifespan."""

    spec: ServiceSpec
    settings: PlatformSettings
    engine: Engine
    session_factory: sessionmaker[Any]  # units of work that write
    read_session: sessionmaker[Any]  # queries only
    outbox: Outbox
    calendar: WorkingDayCalendar
    producer: AIOKafkaProducer | None = None
    relay: OutboxRelay | None = None
    consumers: list[EventConsumer] = field(default_factory=list)
    kafka_ready: asyncio.Event = field(default_factory=asyncio.Event)
    messaging_task: asyncio.Task[Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # service-specific objects its routes reach


def _build_runtime(spec: ServiceSpec) -> Runtime:
    upgrade_database(spec.database_url, spec.migrations_dir)
    engine = make_engine(spec.database_url)
    session_factory = make_session_factory(engine)
    outbox = Outbox(spec.tables, source=f"/zwfw/{spec.name}", topic_prefix=spec.settings.zwfw_topic_prefix)
    return Runtime(spec=spec, settings=spec.settings, engine=engine, session_factory=session_factory,
                   read_session=make_read_session_factory(engine), outbox=outbox,
                   calendar=WorkingDayCalendar())


async def _start_kafka(runtime: Runtime) -> None:
    """Retries until the broker answers: the service accepts work meanwhile, its events wait in the outbox."""
    settings = runtime.settings
    delay = 0.5
    while True:
        producer = new_producer(settings.kafka_bootstrap_servers)
        try:
            await producer.start()
            break
        except Exception as exc:
            log.warning("Kafka not reachable at %s (%s); retrying", settings.kafka_bootstrap_servers, exc)
            with contextlib.suppress(Exception):
                await producer.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
    runtime.producer = producer
    prefix = settings.zwfw_topic_prefix
    for consumer_spec in runtime.spec.consumers:
        consumer = EventConsumer(
            name=f"{prefix}{runtime.spec.name}.{consumer_spec.group}",
            topics=[t.name_with(prefix) for t in consumer_spec.topics],
            handlers=consumer_spec.handlers(runtime),
            session_factory=runtime.session_factory,
            tables=runtime.spec.tables,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            producer=producer,
            ownership=consumer_spec.ownership(runtime) if consumer_spec.ownership else None,
            batch_mode=consumer_spec.batch_mode,
            max_records=consumer_spec.max_records,
        )
        await consumer.start()
        runtime.consumers.append(consumer)
    runtime.kafka_ready.set()


def create_service_app(spec: ServiceSpec) -> FastAPI:
    setup_telemetry(f"zwfw-{spec.name}")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await asyncio.to_thread(_build_runtime, spec)
        app.state.runtime = runtime
        tune_garbage_collector(spec.settings)
        instrument_app(app, runtime.engine)
        tasks: list[asyncio.Task[Any]] = []

        async def run_messaging() -> None:
            await _start_kafka(runtime)
            assert runtime.producer is not None
            inner = [asyncio.create_task(c.run(), name=f"consume:{c.name}") for c in runtime.consumers]
            if spec.settings.zwfw_outbox_relay_enabled:
                runtime.relay = OutboxRelay(
                    runtime.session_factory, runtime.read_session, spec.tables, runtime.producer,
                    sweep_seconds=spec.settings.zwfw_outbox_sweep_seconds,
                )
                runtime.outbox.on_commit(runtime.session_factory, runtime.relay.notify)
                inner.append(asyncio.create_task(runtime.relay.run(), name="outbox-relay"))
            await asyncio.gather(*inner)

        runtime.messaging_task = asyncio.create_task(run_messaging(), name="messaging")
        tasks.append(runtime.messaging_task)
        tasks.extend(asyncio.create_task(job(runtime), name=getattr(job, "__name__", "background"))
                     for job in spec.background)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for consumer in runtime.consumers:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            if runtime.producer is not None:
                with contextlib.suppress(Exception):
                    await runtime.producer.stop()
            runtime.engine.dispose()
            shutdown_telemetry()

    app = FastAPI(title=spec.title, description=spec.description, version="1.0.0", lifespan=lifespan)
    app.state.settings = spec.settings
    install_problem_handlers(app)
    app.include_router(_health_router())
    for router in spec.routers:
        app.include_router(router)
    return app


def tune_garbage_collector(settings: PlatformSettings) -> None:
    """Everything loaded at start-up (modules, schemas, the calendar) lives as long as the process: frozen out
    of the collector's scans. The young generation is collected less often (settings.zwfw_gc_gen0_threshold)."""
    gc.collect()
    gc.freeze()
    if settings.zwfw_gc_gen0_threshold > 0:
        _gen0, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(settings.zwfw_gc_gen0_threshold, gen1, gen2)


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Database and Kafka reachable")
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        checks: dict[str, str] = {}
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            def ping() -> None:
                with runtime.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))

            await asyncio.to_thread(ping)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc}"
        if runtime.messaging_task is not None and runtime.messaging_task.done():
            checks["kafka"] = "stopped: the relay or a consumer ended"  # a bug: they are meant to run forever
        else:
            checks["kafka"] = "ok" if runtime.kafka_ready.is_set() else "connecting"
        body: dict[str, Any] = {"checks": checks}
        if runtime.relay is not None:
            pending, oldest_age = await asyncio.to_thread(runtime.relay.backlog)
            body["outbox"] = {"pending": pending, "oldest_age_seconds": round(oldest_age, 1)}
            if oldest_age > OUTBOX_STUCK_SECONDS:
                checks["outbox"] = f"stuck: oldest unpublished event waiting {oldest_age:.0f}s"
        ok = all(v == "ok" for v in checks.values())
        body["status"] = "ready" if ok else "not_ready"
        return JSONResponse(body, status_code=200 if ok else 503)

    return router


async def run_write(runtime: Runtime, unit_of_work: Callable[[], T]) -> T:
    """A short write unit of work (a submission: a few statements, well under a millisecond of database time).

    On the embedded SQLite database it runs on the event loop itself. In a worker thread it held SQLite's
    single writer slot while waiting for the interpreter lock, which the event loop held for other requests'
    HTTP work (a convoy: every statement gave the lock away and waited up to 5 ms to get it back), so a
    steady 200 submissions/s queued up to p99 of ~100 ms; inline, a transaction runs start to end (decision
    33). On a database server the calls wait on the network, so they go to a thread, where they overlap."""
    if runtime.engine.dialect.name == "sqlite":
        return unit_of_work()
    return await asyncio.to_thread(unit_of_work)


async def write_in_thread(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """`work` in one write transaction, off the event loop; a Problem raised inside rolls all of it back."""

    def unit_of_work() -> T:
        with runtime.session_factory.begin() as session:
            return work(session)

    return await asyncio.to_thread(unit_of_work)


async def read_in_thread(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """`work` in a read-only session (no write lock on SQLite), off the event loop."""

    def query() -> T:
        with runtime.read_session() as session:
            return work(session)

    return await asyncio.to_thread(query)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
