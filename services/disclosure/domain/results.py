"""Public case results (办件结果公示): what a completed case shows to the public, and when it shows at all."""

from __future__ import annotations

from enum import StrEnum


class SummaryStatus(StrEnum):
    """Where disclosure's masked summary of a case stands."""

    accepted = "accepted"  # 已受理
    decided = "decided"  # 已决定
    completed = "completed"  # 已办结
    withdrawn = "withdrawn"  # 已撤回: never shown again


RESULT_LABELS = {
    "approve": "准予许可",
    "deny": "不予许可",
    "done": "已办结",
}


def result_label(result: str) -> str:
    return RESULT_LABELS.get(result, result)


def should_publish(item_allows: bool, withdrawn: bool) -> bool:
    """Only what the item says is published, and never a case the applicant withdrew (domain.md §5)."""
    return item_allows and not withdrawn
