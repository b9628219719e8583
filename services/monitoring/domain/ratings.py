"""好差评 ratings (国办发〔2019〕51号; GB/T 39734/39735-2020): levels, channels and what a rating must hold.
Plain Python, no I/O.

- Five levels with the GB/T 39046 codes: 1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意; 4 and 5
  are 差评.
- 一次一评 at the window, 一事一评 online: one rating per case and channel, a second one is refused.
- Only the case's applicant rates it, proved as the public progress query proves it: the case number and
  the last 6 characters of the id number. Such a rating is therefore always named (实名), so every bad one
  is followed up (回访 100 %) and opens the rectification clock (`subjects.rating_subject`).
- A bad rating must say what went wrong (product rule): the rectification that must follow it within the
  local limit needs something to act on, and the national 好差评 forms ask for the reason of a 差评 too. The
  standard's text was not at hand when this was written; the rule is ours until checked against it.
"""

from __future__ import annotations

import hashlib
from enum import IntEnum, StrEnum

from services.monitoring.domain.complaints import text_problem

TEXT_MAX = 500
BAD_TEXT_MIN = 2  # 差评 reasons: at least a word (two characters, e.g. 太慢)


class RatingLevel(IntEnum):
    very_satisfied = 1  # 非常满意
    satisfied = 2  # 满意
    basically_satisfied = 3  # 基本满意
    dissatisfied = 4  # 不满意
    very_dissatisfied = 5  # 非常不满意


LEVEL_NAMES = {RatingLevel.very_satisfied: "非常满意", RatingLevel.satisfied: "满意",
               RatingLevel.basically_satisfied: "基本满意", RatingLevel.dissatisfied: "不满意",
               RatingLevel.very_dissatisfied: "非常不满意"}


class RatingChannel(StrEnum):
    """Where the rating was given; 一次一评 / 一事一评 count per channel."""

    window = "window"  # 窗口评价器 at the service centre
    online = "online"  # 政务服务网 (PC)
    mobile = "mobile"  # 移动端 (app, mini program)
    self_service = "self_service"  # 自助终端
    sms = "sms"  # 短信
    hotline = "hotline"  # 12345 热线回访


CHANNEL_NAMES = {RatingChannel.window: "窗口评价器", RatingChannel.online: "政务服务网",
                 RatingChannel.mobile: "移动端", RatingChannel.self_service: "自助终端", RatingChannel.sms: "短信",
                 RatingChannel.hotline: "12345热线"}


def is_bad(level: int) -> bool:
    """差评: 不满意 or 非常不满意."""
    return level >= RatingLevel.dissatisfied


def rating_text_problem(level: int, text: str) -> str | None:
    """Why the rating's text cannot be taken with this level (中文), or None."""
    problem = text_problem("评价内容", text, TEXT_MAX, required=False)
    if problem:
        return problem
    if is_bad(level) and len(text.strip()) < BAD_TEXT_MIN:
        return "差评（不满意、非常不满意）须写明不满意的原因，以便回访和整改"
    return None


def id_suffix_digest(case_no: str, id_number_or_suffix: str) -> str:
    """What the rating compares: the id number's last 6 characters (X in either case), salted with the case
    number, so the table holds no id and one digest says nothing about another case."""
    return hashlib.sha256(f"{case_no}:{id_number_or_suffix.strip()[-6:].upper()}".encode()).hexdigest()
