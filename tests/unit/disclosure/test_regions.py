"""The 12-digit administrative code: levels, parents, ancestors, and the demo hierarchy's soundness."""

from __future__ import annotations

import pytest

from services.disclosure.adapters.region_store import load_region_file
from services.disclosure.domain.regions import (
    InvalidRegionCode,
    Region,
    RegionLevel,
    ancestors,
    check_hierarchy,
    is_within,
    level_of,
    lineage,
    parent_of,
    scope_prefix,
)


@pytest.mark.parametrize(("code", "level", "parent", "prefix"), [
    ("320000000000", RegionLevel.province, None, "32"),
    ("320100000000", RegionLevel.city, "320000000000", "3201"),
    ("320102000000", RegionLevel.county, "320100000000", "320102"),
    ("320102001000", RegionLevel.township, "320102000000", "320102001"),
    ("320102001001", RegionLevel.village, "320102001000", "320102001001"),
    ("320102005201", RegionLevel.village, "320102005000", "320102005201"),  # a 村委会 (2xx)
])
def test_level_parent_and_prefix(code: str, level: RegionLevel, parent: str | None, prefix: str) -> None:
    assert level_of(code) is level
    assert parent_of(code) == parent
    assert scope_prefix(code) == prefix


def test_ancestors_run_from_the_province_down() -> None:
    assert ancestors("320102001001") == ["320000000000", "320100000000", "320102000000", "320102001000"]
    assert ancestors("320000000000") == []
    assert lineage("320102001000") == ["320000000000", "320100000000", "320102000000", "320102001000"]


@pytest.mark.parametrize(("code", "reason"), [
    ("3201020010", "12位数字"),
    ("32010200100A", "12位数字"),
    ("３２０１０２００１００１", "12位数字"),  # full-width digits are not a code
    ("000000000000", "省级段不能为00"),
    ("320000001000", "上级段为零"),  # a township under neither a city nor a county
    ("320100000001", "上级段为零"),  # a village directly under a city
])
def test_malformed_codes_are_refused_with_the_reason(code: str, reason: str) -> None:
    with pytest.raises(InvalidRegionCode) as caught:
        level_of(code)
    assert reason in str(caught.value) and code in str(caught.value)


def test_within_means_the_region_itself_or_below() -> None:
    assert is_within("320102001001", "320102000000")
    assert is_within("320102000000", "320102000000")
    assert not is_within("320104001001", "320102000000")
    assert not is_within("320102000000", "320102001000")  # a county is not within its township


def test_the_demo_hierarchy_is_a_sound_tree() -> None:
    regions = load_region_file()
    assert check_hierarchy(regions) == []
    by_code = {r.code: r for r in regions}
    assert by_code["320102001000"].name == "玄武门街道"
    assert {r.code for r in regions if r.parent_code == "320102001000"} >= {"320102001001", "320102001002"}
    # The demo accounts' regions exist: county, township and village.
    assert {"320102000000", "320102001000", "320102001001"} <= by_code.keys()


def test_a_broken_list_is_reported() -> None:
    regions = [
        Region("320000000000", "江苏省", RegionLevel.province, None),
        Region("320102000000", "玄武区", RegionLevel.county, "320000000000"),  # parent should be the city
        Region("320100000000", "南京市", RegionLevel.county, "320000000000"),  # level should be city
        Region("320100000000", "南京市", RegionLevel.city, "320000000000"),
    ]
    problems = check_hierarchy(regions)
    assert any("上级应为 320100000000" in p for p in problems)
    assert any("层级应为 city" in p for p in problems)
    assert any("重复" in p for p in problems)
