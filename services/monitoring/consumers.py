"""Topic → handler: every case event is logged; a few move the case's clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.common.contracts.envelope import Envelope
from services.common.contracts.topics import Topic
from services.common.messaging import HandlerMap
from services.common.runtime import ConsumerSpec, Runtime
from services.monitoring import handlers


def _case_handlers(runtime: Runtime) -> HandlerMap:
    def handle(session: Session, envelope: Envelope, payload: Any) -> None:
        handlers.record_case_event(session, runtime.outbox, runtime.calendar, envelope, payload)

    # Registered for every case type, not just the clock-moving ones, so the log holds them all.
    return dict.fromkeys(handlers.case_event_types(), handle)


CONSUMERS = [ConsumerSpec(group="case", topics=[Topic.case], handlers=_case_handlers)]
