"""One OpenTelemetry setup for every process: FastAPI, httpx, aiohttp, SQLAlchemy and aiokafka.

The exporter is chosen by the standard `OTEL_TRACES_EXPORTER` variable (otlp, zipkin_json, console,
none) through the exporters' own entry points, and each exporter reads its own `OTEL_EXPORTER_*`
variables. Trace context crosses Kafka in the W3C `traceparent` header; see messaging.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler

log = logging.getLogger(__name__)
_configured = False


def setup_telemetry(service_name: str) -> None:
    """Installs the tracer provider once per process; instrumentations are applied by the callers."""
    global _configured
    if _configured:
        return
    _configured = True
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    exporters: list[Any] = []
    for name in _exporter_names():
        matches = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not matches:
            log.warning("OTEL_TRACES_EXPORTER names %r, which is not installed", name)
            continue
        exporters.append(next(iter(matches)).load()())
    provider = TracerProvider(resource=resource, sampler=default_sampler(bool(exporters), os.environ))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _instrument_libraries()
    _trace_ids_in_logs()


def _trace_ids_in_logs() -> None:
    """Every log record carries the current trace id, so a log line leads to its trace and back."""
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else "-"
        return record

    logging.setLogRecordFactory(factory)
    logging.basicConfig(
        level=os.environ.get("ZWFW_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s trace=%(trace_id)s %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # its INFO is per-connection chatter


def default_sampler(exporting: bool, environ: Mapping[str, str]) -> Sampler | None:
    """None (the SDK's own choice: OTEL_TRACES_SAMPLER, else parent-based always-on) unless no exporter is
    configured and no sampler named: then spans are not recorded unless the caller's traceparent asks for it.

    With nothing to export to, recording spans was pure cost: the server span's attributes, the SQL spans, the
    messaging spans, in every process on every request (a fifth of the gateway's CPU per request, decision 39).
    Unrecorded spans still carry trace and span ids: `X-Trace-Id`, `traceparent` to the services and on Kafka
    messages, the trace id in log lines and audit entries are all still there. Parent-based, so a caller's
    sampled traceparent is still honoured and passed on sampled."""
    if exporting or "OTEL_TRACES_SAMPLER" in environ:
        return None
    return ParentBased(ALWAYS_OFF)


def _exporter_names() -> list[str]:
    raw = os.environ.get("OTEL_TRACES_EXPORTER", "none")
    return [n.strip() for n in raw.split(",") if n.strip() and n.strip() != "none"]


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    AioHttpClientInstrumentor().instrument()
    # Not aiokafka's instrumentation: its receive span ends before the handler runs (upstream #3026, #3465)
    # and its span per sent message was half of the relay's cost in a burst of alerts. The relay and the
    # consumer open the messaging spans themselves, one per batch (docs/decisions.md 8).


def instrument_app(app: Any, engine: Any | None = None) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # No internal "http send"/"http receive" spans: three per request that say nothing the server span does not.
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz", exclude_spans=["receive", "send"])
    if engine is not None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().instrument(engine=engine)


def shutdown_telemetry() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()
        provider.shutdown()


class _KafkaHeadersGetter(Getter[list[tuple[str, bytes]]]):
    def get(self, carrier: list[tuple[str, bytes]], key: str) -> list[str] | None:
        values = [v.decode("latin-1") for k, v in carrier if k.lower() == key.lower()]
        return values or None

    def keys(self, carrier: list[tuple[str, bytes]]) -> list[str]:
        return [k for k, _ in carrier]


def context_from_kafka_headers(headers: Iterable[tuple[str, bytes]]) -> Context:
    """The context a message was created under (its `traceparent` header), for the consumer's span."""
    return propagate.extract(list(headers), getter=_KafkaHeadersGetter())


def context_from_traceparent(traceparent: str | None) -> Context:
    return propagate.extract({"traceparent": traceparent} if traceparent else {})


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
