"""Warning thresholds per item type and region (domain.md §6: localities differ, so this is data)."""

from __future__ import annotations

from dataclasses import dataclass

from services.monitoring.domain.clocks import WarningPolicy


@dataclass(frozen=True)
class PolicyRule:
    item_type: str  # GB/T 39046 type code, or "*" for any
    region_prefix: str  # "" for the whole province
    policy: WarningPolicy


@dataclass(frozen=True)
class PolicyTable:
    """The most specific rule wins: the longest region prefix, then an exact item type over "*"."""

    default: WarningPolicy
    rules: tuple[PolicyRule, ...] = ()

    def for_clock(self, item_type: str, region_code: str) -> WarningPolicy:
        best: tuple[int, int, WarningPolicy] | None = None
        for rule in self.rules:
            if rule.item_type not in ("*", item_type) or not region_code.startswith(rule.region_prefix):
                continue
            rank = (len(rule.region_prefix), rule.item_type != "*")
            if best is None or rank > best[:2]:
                best = (*rank, rule.policy)
        return best[2] if best else self.default
