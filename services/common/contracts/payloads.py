"""Base of every event payload and the value types payloads share."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.contracts.topics import Topic


class EventPayload(BaseModel):
    """Every payload says when the thing happened (occurred_at) and which subject it is about."""

    # Unknown fields are ignored so producers can grow a contract without breaking older consumers.
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    subject_field: ClassVar[str] = "case_no"

    occurred_at: AwareDatetime = Field(description="When it happened, as the source says")

    def subject(self) -> str:
        return str(getattr(self, self.subject_field))


class LimitUnit(StrEnum):
    working_days = "working_days"  # 工作日
    calendar_days = "calendar_days"  # 自然日
    hours = "hours"
    minutes = "minutes"


class TimeLimit(BaseModel):
    """A time limit (时限): a number and its unit, with the item's explanation text (时限说明)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    value: int = Field(ge=0)
    unit: LimitUnit
    note: str = ""


class Applicant(BaseModel):
    """The applicant as acceptance recorded it. Consumers that publish must mask it (domain.md §5)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    applicant_type: str = Field(description="GB/T 39046: 1 自然人, 2 企业法人 … 9 其他组织")
    name: str
    id_type: str = Field(description="'resident_id' (公民身份号码) or 'uscc' (统一社会信用代码)")
    id_number: str
    phone: str = ""


class Actor(BaseModel):
    """A person acting on a case; `on_behalf_of` names the absent colleague for AB岗."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: str
    name: str = ""
    role: str = ""
    department: str = ""
    on_behalf_of: str | None = None


def utc_iso(dt: datetime) -> str:
    return dt.isoformat()
