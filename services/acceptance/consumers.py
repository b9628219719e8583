"""Topic → handler: acceptance keeps its catalogue replica from the catalogue topic, and the public progress
(办件进度) of its cases from the case topic."""

from __future__ import annotations

from services.acceptance import handlers
from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseDecided,
    CaseReceived,
    CaseRejected,
    CaseResumed,
    CaseSuspended,
    CaseWithdrawn,
    StepCompleted,
    StepStarted,
    SupplementRequested,
    SupplementSupplied,
)
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired
from services.common.contracts.topics import Topic
from services.common.messaging import HandlerMap
from services.common.runtime import ConsumerSpec, Runtime

# Every case event that moves what the public query shows. Acceptance's own events come back too: the
# progress rules make them no-ops after the local write (handlers.progress_moves).
_PROGRESS_EVENTS = (
    CaseReceived, CaseAccepted, SupplementRequested, SupplementSupplied, CaseRejected, StepStarted,
    StepCompleted, CaseSuspended, CaseResumed, CaseDecided, CaseCompleted, CaseWithdrawn,
)


def _catalogue_handlers(_runtime: Runtime) -> HandlerMap:
    return {
        ItemVersionPublished.event_type: handlers.item_published,
        ItemVersionRetired.event_type: handlers.item_retired,
    }


def _case_handlers(_runtime: Runtime) -> HandlerMap:
    return {event.event_type: handlers.case_event for event in _PROGRESS_EVENTS}


# Two groups so a burst of case events never delays a catalogue change (or the reverse).
CONSUMERS = [
    ConsumerSpec(group="catalogue", topics=[Topic.catalogue], handlers=_catalogue_handlers),
    ConsumerSpec(group="case", topics=[Topic.case], handlers=_case_handlers, batch_mode=True),
]
