"""Request and response bodies of the monitoring API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts.payloads import TimeLimit
from services.monitoring.domain.clock import ClockState, Level


class ClockQuery(BaseModel):
    """Filters of the clock list; unknown parameters are refused rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    region_code: str | None = Field(default=None, pattern=r"^\d{12}$", description="12-digit region code (scope)")
    level: Level | None = Field(default=None, description="normal / warning 预警 / breach 黄牌 / severe 红牌")
    state: ClockState | None = Field(default=None, description="running / paused / closed")
    limit: int = Field(default=200, ge=1, le=1000)


class StepOut(BaseModel):
    code: str
    name: str


class EventOut(BaseModel):
    event_type: str
    occurred_at: datetime = Field(description="When it happened, as the source says")
    recorded_at: datetime = Field(description="When the source system recorded it (CloudEvents time)")


class ClockSummary(BaseModel):
    case_no: str = Field(description="办件编号")
    clock_id: str
    item_code: str
    item_version: int
    item_name: str
    region_code: str
    department: str
    state: ClockState
    started_at: datetime = Field(description="受理 instant: the clock's start")
    promised_limit: TimeLimit = Field(description="承诺时限 of the pinned item version")
    legal_limit: TimeLimit = Field(description="法定时限 of the pinned item version")
    promised_due_at: datetime = Field(description="承诺办结时间 (24:00 Asia/Shanghai for day limits)")
    legal_due_at: datetime = Field(description="法定办结时间")
    provisional: bool = Field(description="A due instant lies in a year whose holiday schedule is not loaded (暂定)")
    level: Level = Field(description="At the time of the request; a closed clock keeps the level it closed at")
    current_step: StepOut | None = None
    verdict: str | None = Field(default=None, description="on_time / late_promise / late_legal / withdrawn")
    used_working_days: int | None = Field(default=None, description="Working days in (start date, end date]")
    speed_up_ratio: float | None = Field(default=None, description="提速率 = (legal − used) / legal")
    closed_at: datetime | None = None


class ClockOut(ClockSummary):
    events: list[EventOut] = Field(default_factory=list, description="Every case event seen, in arrival order")


class ClockList(BaseModel):
    items: list[ClockSummary]
    count: int
