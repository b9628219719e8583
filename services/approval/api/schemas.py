"""Request and response bodies of the approval API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CompleteTaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    opinion: str = Field(min_length=1, max_length=2000, description="办理意见")
    decision: Literal["approve", "deny"] | None = Field(
        default=None, description="准予/不予许可; required on the last step, refused on the others")
    reasons: str = Field(default="", max_length=2000, description="理由; required when the decision is deny")

    @model_validator(mode="after")
    def _deny_states_reasons(self) -> CompleteTaskIn:
        if self.decision == "deny" and not self.reasons:
            raise ValueError("不予许可必须说明理由（reasons）")
        return self


class TaskOut(BaseModel):
    task_id: str
    case_no: str
    step_code: str
    step_name: str
    role: str
    department: str
    region_code: str
    status: Literal["open", "done", "cancelled"]
    assignee: str | None = Field(description="user id of who completed the task")
    opinion: str | None
    outcome: str | None = Field(description="pass / approve / deny")
    created_at: datetime
    completed_at: datetime | None


class TaskListOut(BaseModel):
    items: list[TaskOut]


class CaseOut(BaseModel):
    case_no: str
    item_code: str
    item_version: int
    item_name: str
    region_code: str
    status: Literal["in_review", "decided", "completed", "withdrawn"]
    decision: Literal["approve", "deny"] | None
    tasks: list[TaskOut]


class CompleteTaskOut(BaseModel):
    task_id: str
    case_no: str
    status: Literal["done"]
    next_task_id: str | None
    case_status: Literal["in_review", "decided", "completed", "withdrawn"]
