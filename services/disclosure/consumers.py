"""Topic → handler: disclosure reads the case lifecycle to keep masked summaries and public results."""

from __future__ import annotations

from services.common.contracts.case import CaseAccepted, CaseCompleted, CaseDecided, CaseWithdrawn
from services.common.contracts.topics import Topic
from services.common.messaging import HandlerMap
from services.common.runtime import ConsumerSpec, Runtime
from services.disclosure import handlers


def _case_handlers(_runtime: Runtime) -> HandlerMap:
    # Case events only update disclosure's own read model; nothing is emitted, so the runtime is unused.
    return {
        CaseAccepted.event_type: handlers.case_accepted,
        CaseDecided.event_type: handlers.case_decided,
        CaseCompleted.event_type: handlers.case_completed,
        CaseWithdrawn.event_type: handlers.case_withdrawn,
    }


CONSUMERS = [ConsumerSpec(group="case", topics=[Topic.case], handlers=_case_handlers, batch_mode=True)]
