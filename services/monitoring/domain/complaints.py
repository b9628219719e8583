"""Complaints (投诉): numbers, the state machine and what a submission must hold. Plain Python, no I/O.

The rules (domain.md §7, the 保定 complaint rules in seed 004): a complaint is transferred to the
responsible unit (转办) within 5 working days; a named (实名) complaint is answered in writing within 7 days;
one that is not accepted (不予受理) is told why within 5 days; the complainant is told the result. Monitoring
runs those clocks from the events this state machine lets through (`subjects.complaint_subject`).
"""

from __future__ import annotations

import re
from enum import StrEnum

from services.common.principal import region_prefix

CONTENT_MAX = 2_000  # a complaint's text; longer belongs in a letter, not a web form
SHORT_TEXT_MAX = 500  # an answer's or a refusal's reasons are read on a phone
UNIT_MAX = 100  # the responsible unit's name
NAME_MAX = 50
CONTACT_MAX = 100
# Control characters other than line breaks and tabs have no place in a citizen's text and confuse every
# later reader (exports, SMS gateways); lone surrogates (JSON allows "\ud800") cannot even be stored as UTF-8.
# Refused rather than silently dropped, so nothing is altered.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class ComplaintState(StrEnum):
    received = "received"  # 已受理登记, waiting to be transferred or refused
    transferred = "transferred"  # 已转办 to the responsible unit, waiting for its answer
    answered = "answered"  # 已答复 (the result is told to the complainant)
    not_accepted = "not_accepted"  # 不予受理, with the reason told


STATE_NAMES = {ComplaintState.received: "已登记", ComplaintState.transferred: "已转办",
               ComplaintState.answered: "已答复", ComplaintState.not_accepted: "不予受理"}


class ComplaintAction(StrEnum):
    transfer = "transfer"  # 转办
    answer = "answer"  # 答复
    not_accept = "not_accept"  # 不予受理


ACTION_NAMES = {ComplaintAction.transfer: "转办", ComplaintAction.answer: "答复",
                ComplaintAction.not_accept: "不予受理"}

# received → transferred → answered; received → not_accepted. An answer comes from the unit the complaint was
# transferred to, so there is no answer straight from received; the two end states allow nothing more.
_TRANSITIONS: dict[ComplaintState, dict[ComplaintAction, ComplaintState]] = {
    ComplaintState.received: {ComplaintAction.transfer: ComplaintState.transferred,
                              ComplaintAction.not_accept: ComplaintState.not_accepted},
    ComplaintState.transferred: {ComplaintAction.answer: ComplaintState.answered},
    ComplaintState.answered: {},
    ComplaintState.not_accepted: {},
}


class ActionNotAllowed(Exception):
    """The act does not fit the complaint's state; `allowed` is what the state does allow (maybe nothing)."""

    def __init__(self, state: ComplaintState, action: ComplaintAction) -> None:
        self.state = state
        self.action = action
        self.allowed = allowed_actions(state)
        names = "、".join(ACTION_NAMES[a] for a in self.allowed) or "无"
        super().__init__(f"投诉当前状态为“{STATE_NAMES[state]}”，不能{ACTION_NAMES[action]}；可执行的操作：{names}")


def allowed_actions(state: ComplaintState) -> list[ComplaintAction]:
    return list(_TRANSITIONS[state])


def transition(state: ComplaintState, action: ComplaintAction) -> ComplaintState:
    """The state after the act, or ActionNotAllowed."""
    target = _TRANSITIONS[state].get(action)
    if target is None:
        raise ActionNotAllowed(state, action)
    return target


def complaint_scope(region_code: str) -> str:
    """The region part of a complaint number: the code's significant prefix, at least the county's 6 digits
    (a county's complaints read 320102, a township's 320102001), as case numbers do."""
    return region_prefix(region_code).ljust(6, "0")[:12]


def complaint_number(region_code: str, day: str, sequence: int) -> str:
    """投诉编号: TS + region + date (YYYYMMDD) + sequence, grouped to be read over the phone:
    TS320102-20261125-00042. The sequence restarts per region scope and local day."""
    if not (day.isdigit() and len(day) == 8) or sequence < 1:
        raise ValueError(f"bad day {day!r} or sequence {sequence}")
    return f"TS{complaint_scope(region_code)}-{day}-{sequence:05d}"


def has_control_characters(value: str) -> bool:
    return _CONTROL.search(value) is not None


def text_problem(field: str, value: str, maximum: int, *, required: bool = True) -> str | None:
    """Why this text cannot be taken (中文), or None. Length is counted after trimming the ends."""
    trimmed = value.strip()
    if required and not trimmed:
        return f"{field}不能为空"
    if len(trimmed) > maximum:
        return f"{field}最多 {maximum} 个字符，当前 {len(trimmed)} 个"
    if has_control_characters(trimmed):
        return f"{field}含有不可见的控制字符"
    return None
