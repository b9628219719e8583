"""Kafka topic names. A prefix from settings lets tests share one broker in isolation."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    catalogue = "zwfw.catalogue"  # item versions published/retired; compacted by item code
    case = "zwfw.case"  # the whole case lifecycle, keyed by case number
    disclosure_request = "zwfw.disclosure.request"  # 依申请公开
    complaint = "zwfw.complaint"
    evaluation = "zwfw.evaluation"  # 好差评
    supervision = "zwfw.supervision"  # alerts raised/cleared, clocks closed

    def name_with(self, prefix: str) -> str:
        return f"{prefix}{self.value}"


DLQ_SUFFIX = ".dlq"

# Partitions per topic: enough for a few consumer instances; catalogue is small and compacted.
PARTITIONS: dict[Topic, int] = {
    Topic.catalogue: 1,
    Topic.case: 6,
    Topic.disclosure_request: 3,
    Topic.complaint: 3,
    Topic.evaluation: 3,
    Topic.supervision: 3,
}

COMPACTED = {Topic.catalogue}


def all_topic_names(prefix: str) -> dict[str, tuple[int, bool]]:
    """Every topic and its dead-letter twin: name → (partitions, compacted)."""
    names: dict[str, tuple[int, bool]] = {}
    for topic in Topic:
        names[topic.name_with(prefix)] = (PARTITIONS[topic], topic in COMPACTED)
        names[topic.name_with(prefix) + DLQ_SUFFIX] = (1, False)
    return names
