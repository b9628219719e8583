"""The 12-digit administrative code (统计用区划代码): which level a code is, its parent and its ancestors.

A code is read in segments: province 2 digits, city 2, county 2, township 3, village 3. A level is the
deepest segment that is not all zeros, and every segment above it must be non-zero: 320000001000 (a
township under no city and no county) is not a code. Plain functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class RegionLevel(IntEnum):
    """行政区划层级; the value is the depth, province = 1."""

    province = 1  # 省级
    city = 2  # 市级
    county = 3  # 县级
    township = 4  # 乡级（乡镇、街道）
    village = 5  # 村级（社区居委会、村委会）


LEVEL_NAMES: dict[RegionLevel, str] = {
    RegionLevel.province: "省", RegionLevel.city: "市", RegionLevel.county: "县（区）",
    RegionLevel.township: "乡镇（街道）", RegionLevel.village: "村（社区）",
}

# Where each level's segment ends in the 12 digits.
_SEGMENT_ENDS: dict[RegionLevel, int] = {
    RegionLevel.province: 2, RegionLevel.city: 4, RegionLevel.county: 6,
    RegionLevel.township: 9, RegionLevel.village: 12,
}
_DIGITS = re.compile(r"^[0-9]{12}$")  # ASCII only: \d also takes full-width digits


class InvalidRegionCode(ValueError):
    """A string that is not a 12-digit administrative code; the message says why (中文)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"行政区划代码「{code}」无效：{reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None


def level_of(code: str) -> RegionLevel:
    """The level of a code, after checking its shape; raises InvalidRegionCode."""
    if not _DIGITS.match(code):
        raise InvalidRegionCode(code, "应为12位数字")
    level: RegionLevel | None = None
    start = 0
    for candidate, end in _SEGMENT_ENDS.items():
        segment = code[start:end]
        if segment.strip("0"):
            if level is not None and level != RegionLevel(candidate - 1):
                # A non-zero segment below a zero one: e.g. 320000001000, township without city or county.
                raise InvalidRegionCode(code, f"{LEVEL_NAMES[candidate]}段非零，但其上级段为零")
            level = candidate
        start = end
    if level is None:
        raise InvalidRegionCode(code, "省级段不能为00")
    return level


def validate_code(code: str) -> str:
    """The code itself if it is well formed; raises InvalidRegionCode otherwise."""
    level_of(code)
    return code


def scope_prefix(code: str) -> str:
    """The significant digits of a code (320102000000 → 320102): every code below it starts with them."""
    return code[:_SEGMENT_ENDS[level_of(code)]]


def parent_of(code: str) -> str | None:
    """The code one level up, None for a province: 320102001001 → 320102001000."""
    level = level_of(code)
    if level is RegionLevel.province:
        return None
    keep = _SEGMENT_ENDS[RegionLevel(level - 1)]
    return code[:keep] + "0" * (12 - keep)


def ancestors(code: str) -> list[str]:
    """Every code above this one, province first (the region itself is not included)."""
    chain: list[str] = []
    parent = parent_of(code)
    while parent is not None:
        chain.append(parent)
        parent = parent_of(parent)
    return chain[::-1]


def lineage(code: str) -> list[str]:
    """The ancestors and the region itself, province first: the regions whose items are offered in it."""
    return [*ancestors(code), code]


def is_within(code: str, area: str) -> bool:
    """Whether `code` is `area` or lies below it (a village is within its township, county, …)."""
    return code.startswith(scope_prefix(area))


def check_hierarchy(regions: list[Region]) -> list[str]:
    """Problems of a region list as a whole (for a data file): bad codes, wrong levels or parents, parents
    missing from the list, duplicates. Empty when the list is a sound tree."""
    problems: list[str] = []
    codes = {r.code for r in regions}
    seen: set[str] = set()
    for r in regions:
        if r.code in seen:
            problems.append(f"{r.code} 重复")
        seen.add(r.code)
        try:
            level = level_of(r.code)
        except InvalidRegionCode as exc:
            problems.append(str(exc))
            continue
        if level != r.level:
            problems.append(f"{r.code}（{r.name}）层级应为 {level.name}，而非 {r.level.name}")
        parent = parent_of(r.code)
        if parent != r.parent_code:
            problems.append(f"{r.code}（{r.name}）上级应为 {parent}，而非 {r.parent_code}")
        if parent is not None and parent not in codes:
            problems.append(f"{r.code}（{r.name}）的上级 {parent} 不在列表中")
    return problems
