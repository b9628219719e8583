"""Information-disclosure requests (依申请公开, 政府信息公开条例), keyed by request number."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from services.common.contracts.payloads import Actor, EventPayload, TimeLimit
from services.common.contracts.topics import Topic


class _RequestEvent(EventPayload):
    topic: ClassVar[Topic] = Topic.disclosure_request
    subject_field: ClassVar[str] = "request_no"
    request_no: str


class RequestReceived(_RequestEvent):
    event_type: ClassVar[str] = "zwfw.disclosure.request_received.v1"
    region_code: str
    agency: str
    receipt_channel: str = Field(description="in_person / registered_post / post / online / fax (Art. 31)")
    information_wanted: str


class RequestSupplementRequested(_RequestEvent):
    """Art. 30: one notice within 7 working days; the reply clock restarts on the supplement."""

    event_type: ClassVar[str] = "zwfw.disclosure.request_supplement_requested.v1"
    what: str
    supply_within: TimeLimit
    actor: Actor


class RequestSupplemented(_RequestEvent):
    event_type: ClassVar[str] = "zwfw.disclosure.request_supplemented.v1"


class RequestExtended(_RequestEvent):
    """Art. 33: at most 20 working days, approved by the disclosure office head."""

    event_type: ClassVar[str] = "zwfw.disclosure.request_extended.v1"
    extension: TimeLimit
    reason: str
    approved_by: Actor


class ConsultationStarted(_RequestEvent):
    """Art. 32/34: consulting a third party or another agency; the time is not counted."""

    event_type: ClassVar[str] = "zwfw.disclosure.consultation_started.v1"
    consultation_id: str
    party: str
    party_kind: str = "third_party"  # or "agency"


class ConsultationEnded(_RequestEvent):
    event_type: ClassVar[str] = "zwfw.disclosure.consultation_ended.v1"
    consultation_id: str
    answer: str = ""


class RequestAnswered(_RequestEvent):
    """Art. 36 reply types."""

    event_type: ClassVar[str] = "zwfw.disclosure.request_answered.v1"
    reply_type: str
    actor: Actor


class RequestWithdrawn(_RequestEvent):
    event_type: ClassVar[str] = "zwfw.disclosure.request_withdrawn.v1"
    reason: str = ""
