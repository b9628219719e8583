"""Topic → handler: every event of a supervised subject is logged and moves that subject's clocks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.common.contracts.case import CaseAccepted, CaseReceived
from services.common.contracts.envelope import Envelope
from services.common.messaging import HandlerMap
from services.common.runtime import ConsumerSpec, Runtime
from services.monitoring import complaints, handlers
from services.monitoring.wiring import supervision_of


def _handlers(runtime: Runtime) -> HandlerMap:
    supervision_of(runtime)  # registers the flush that rebuilds the batch's subjects before each commit

    def handle(session: Session, envelope: Envelope, payload: Any) -> None:
        handlers.log_event(session, envelope, payload)
        if isinstance(payload, CaseReceived | CaseAccepted):
            # The log drops the applicant; ratings need to know who may rate the case (a digest only).
            complaints.remember_case(session, payload, envelope.recorded_at)

    # Registered for every type of these topics, not just the clock-moving ones, so the log holds them all.
    return {t: handle for types in handlers.event_types().values() for t in types}


CONSUMERS = [ConsumerSpec(group="case", topics=list(handlers.SUBJECT_TYPES), handlers=_handlers,
                          ownership=supervision_of, batch_mode=True, max_records=2000)]
