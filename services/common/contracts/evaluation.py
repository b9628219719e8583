"""好差评 ratings (GB/T 39734/39735), keyed by case number."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from services.common.contracts.payloads import Actor, EventPayload
from services.common.contracts.topics import Topic


class _EvaluationEvent(EventPayload):
    topic: ClassVar[Topic] = Topic.evaluation
    subject_field: ClassVar[str] = "rating_no"
    rating_no: str


class RatingSubmitted(_EvaluationEvent):
    event_type: ClassVar[str] = "zwfw.evaluation.rating_submitted.v1"
    case_no: str
    channel: str
    level: int = Field(ge=1, le=5, description="1 非常满意 … 5 非常不满意; 4 and 5 are 差评")
    text: str = ""
    region_code: str
    named: bool = True


class RectificationCompleted(_EvaluationEvent):
    event_type: ClassVar[str] = "zwfw.evaluation.rectification_completed.v1"
    case_no: str
    result: str
    actor: Actor
