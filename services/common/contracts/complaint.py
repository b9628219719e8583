"""Complaints (投诉), keyed by complaint number."""

from __future__ import annotations

from typing import ClassVar

from services.common.contracts.payloads import Actor, EventPayload
from services.common.contracts.topics import Topic


class _ComplaintEvent(EventPayload):
    topic: ClassVar[Topic] = Topic.complaint
    subject_field: ClassVar[str] = "complaint_no"
    complaint_no: str


class ComplaintReceived(_ComplaintEvent):
    event_type: ClassVar[str] = "zwfw.complaint.received.v1"
    region_code: str
    named: bool  # a named complaint is answered in writing within 7 days
    about_case_no: str | None = None
    content: str


class ComplaintTransferred(_ComplaintEvent):
    event_type: ClassVar[str] = "zwfw.complaint.transferred.v1"
    to_unit: str
    actor: Actor


class ComplaintAnswered(_ComplaintEvent):
    event_type: ClassVar[str] = "zwfw.complaint.answered.v1"
    answer: str
    actor: Actor


class ComplaintNotAccepted(_ComplaintEvent):
    event_type: ClassVar[str] = "zwfw.complaint.not_accepted.v1"
    reason: str
    actor: Actor
