"""Spans are recorded when something exports them or a sampler is named; otherwise only the ids travel."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from services.common.telemetry import default_sampler


def _span(provider: TracerProvider, parent_flags: TraceFlags | None = None) -> trace.Span:
    context = None
    if parent_flags is not None:
        parent = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True,
                             trace_flags=parent_flags)
        context = trace.set_span_in_context(NonRecordingSpan(parent))
    return provider.get_tracer(__name__).start_span("request", context=context)


def test_without_an_exporter_spans_are_not_recorded_but_carry_ids() -> None:
    provider = TracerProvider(sampler=default_sampler(False, {}))
    span = _span(provider)
    assert not span.is_recording()
    assert span.get_span_context().is_valid  # X-Trace-Id, traceparent and the audit's trace id still work
    child = _span(provider, TraceFlags(TraceFlags.DEFAULT))
    assert not child.is_recording() and child.get_span_context().trace_id == 0x0AF7651916CD43DD8448EB211C80319C


def test_a_callers_sampled_traceparent_is_still_honoured() -> None:
    span = _span(TracerProvider(sampler=default_sampler(False, {})), TraceFlags(TraceFlags.SAMPLED))
    assert span.is_recording() and span.get_span_context().trace_flags.sampled


def test_an_exporter_or_a_named_sampler_keeps_the_sdks_choice() -> None:
    assert default_sampler(True, {}) is None
    assert default_sampler(False, {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}) is None
    assert _span(TracerProvider(sampler=default_sampler(True, {}))).is_recording()
