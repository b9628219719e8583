"""Topic → handler: the catalogue replica, the cases acceptance hands over or the applicant withdraws, and
monitoring's breaches of joint-approval departments' clocks (超时默认: the clock has one owner, monitoring)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from services.approval import handlers
from services.common.contracts.case import CaseAccepted, CaseWithdrawn
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired
from services.common.contracts.envelope import Envelope
from services.common.contracts.supervision import AlertLevel, AlertRaised
from services.common.contracts.topics import Topic
from services.common.messaging import HandlerMap
from services.common.runtime import ConsumerSpec, Runtime


def _catalogue_handlers(_runtime: Runtime) -> HandlerMap:
    return {
        ItemVersionPublished.event_type: handlers.item_published,
        ItemVersionRetired.event_type: handlers.item_retired,
    }


def _case_handlers(runtime: Runtime) -> HandlerMap:
    def accepted(session: Session, _envelope: Envelope, event: Any) -> None:
        handlers.case_accepted(session, runtime.outbox, event)

    def withdrawn(session: Session, _envelope: Envelope, event: Any) -> None:
        handlers.case_withdrawn(session, event)

    return {CaseAccepted.event_type: accepted, CaseWithdrawn.event_type: withdrawn}


# monitoring's clock of one department's opinion (JointReviewRequested): case:<case_no>:joint:<task_id>
_JOINT_CLOCK = re.compile(r"^case:(?P<case_no>.+):joint:(?P<task_id>[0-9a-f-]{36})$")


def _supervision_handlers(runtime: Runtime) -> HandlerMap:
    def alert(session: Session, _envelope: Envelope, event: Any) -> None:
        assert isinstance(event, AlertRaised)
        match = _JOINT_CLOCK.match(event.clock_id)
        if match is None or event.level not in (AlertLevel.breach, AlertLevel.severe):
            return
        handlers.apply_joint_default(session, runtime.outbox, match["case_no"], match["task_id"])

    return {AlertRaised.event_type: alert}


# Two groups so a burst on the case topic never waits behind the catalogue (or the reverse). A case whose
# catalogue version has not arrived yet opens on the default 一审一核 rather than waiting.
CONSUMERS = [
    ConsumerSpec(group="catalogue", topics=[Topic.catalogue], handlers=_catalogue_handlers),
    ConsumerSpec(group="case", topics=[Topic.case], handlers=_case_handlers, batch_mode=True),
    ConsumerSpec(group="supervision", topics=[Topic.supervision], handlers=_supervision_handlers, batch_mode=True),
]
