"""Supervision (电子监察) alerts, produced by monitoring, keyed by clock subject."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from services.common.contracts.payloads import EventPayload
from services.common.contracts.topics import Topic


class AlertLevel(StrEnum):
    warning = "warning"  # 预警
    breach = "breach"  # 黄牌: promised limit passed
    severe = "severe"  # 红牌: legal limit passed
    anomaly = "anomaly"  # 异常: an anomaly rule matched (事后补录, 一次性告知 broken …)


class _SupervisionEvent(EventPayload):
    topic: ClassVar[Topic] = Topic.supervision
    subject_field: ClassVar[str] = "subject_no"
    subject_no: str
    clock_id: str


class AlertRaised(_SupervisionEvent):
    event_type: ClassVar[str] = "zwfw.supervision.alert_raised.v1"
    alert_no: str
    level: AlertLevel
    rule: str
    title: str = ""  # 中文, e.g. "审查：黄牌：超过承诺时限"
    due_at: AwareDatetime
    region_code: str
    department: str = ""
    evidence: dict[str, str] = Field(default_factory=dict)


class AlertCleared(_SupervisionEvent):
    event_type: ClassVar[str] = "zwfw.supervision.alert_cleared.v1"
    alert_no: str
    reason: str


class ClockClosed(_SupervisionEvent):
    event_type: ClassVar[str] = "zwfw.supervision.clock_closed.v1"
    verdict: str  # on_time / late_promise / late_legal
    used_working_days: float
    speed_up_ratio: float | None = None
