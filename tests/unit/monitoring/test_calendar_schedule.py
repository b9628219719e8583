"""The yearly schedule file (节假日安排通知): a good file parses; a bad one is refused whole, every problem listed."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.common.workdays import WorkingDayCalendar, YearSchedule
from services.monitoring.domain.calendar_schedule import (
    OfficialYearSchedule,
    ScheduleRejected,
    changed_days,
    parse_schedule,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "services" / "monitoring" / "calendars" / "2027.example.json"


def good() -> dict[str, Any]:
    return {
        "year": 2027,
        "source": "国办发明电〔2026〕99号（测试）",
        "published_on": "2026-11-10",
        "holidays": [
            {"name": "元旦", "dates": ["2027-01-01", "2027-01-02", "2027-01-03"]},  # Fri, Sat, Sun: weekends allowed
            {"name": "春节", "dates": ["2027-02-05", "2027-02-08", "2027-02-09"]},
        ],
        "makeup_workdays": [{"for": "春节", "dates": ["2027-02-20"]}],  # a Saturday
    }


def refusal(document: Any, expected_year: int | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ScheduleRejected) as caught:
        parse_schedule(document, expected_year=expected_year)
    return [(p.field, p.code) for p in caught.value.problems]


def with_changes(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(good())
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def test_a_good_file_parses_with_names() -> None:
    schedule = parse_schedule(json.dumps(good(), ensure_ascii=False), expected_year=2027)
    assert isinstance(schedule, YearSchedule) and isinstance(schedule, OfficialYearSchedule)
    assert schedule.year == 2027
    assert schedule.source == "国办发明电〔2026〕99号（测试）"
    assert schedule.published_on == date(2026, 11, 10)
    assert date(2027, 1, 2) in schedule.holidays  # a Saturday inside a holiday block is fine
    assert schedule.makeup_workdays == frozenset({date(2027, 2, 20)})
    assert schedule.holiday_name(date(2027, 2, 8)) == "春节"
    assert schedule.makeup_for(date(2027, 2, 20)) == "春节"
    hash(schedule)  # still a usable frozen value


def test_document_round_trip() -> None:
    schedule = parse_schedule(good())
    assert parse_schedule(schedule.to_document()) == schedule


def test_the_shipped_example_parses_and_says_it_is_an_example() -> None:
    schedule = parse_schedule(EXAMPLE.read_bytes(), expected_year=2027)
    assert "示例，非官方" in schedule.source
    assert schedule.holiday_name(date(2027, 10, 1)) == "国庆节"


def test_published_on_is_optional() -> None:
    assert parse_schedule(with_changes(published_on=None)).published_on is None


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(with_changes(source=None), [("source", "missing")], id="missing source"),
        pytest.param(with_changes(source="  "), [("source", "missing")], id="blank source"),
        pytest.param(with_changes(source=12), [("source", "type")], id="source not text"),
        pytest.param(with_changes(year=None), [("year", "missing")], id="missing year"),
        pytest.param(with_changes(year="2027"), [("year", "type")], id="year as text"),
        pytest.param(with_changes(year=2003), [("year", "out_of_range")], id="year before the library"),
        pytest.param(with_changes(published_on="2026/11/10"), [("published_on", "malformed_date")],
                     id="published_on malformed"),
        pytest.param(with_changes(holidays=[{"name": "元旦", "dates": ["2026-12-31"]}], makeup_workdays=[]),
                     [("holidays[0].dates[0]", "outside_year")], id="holiday outside the year"),
        pytest.param(with_changes(holidays=[{"name": "元旦", "dates": ["2027-02-30"]}], makeup_workdays=[]),
                     [("holidays[0].dates[0]", "malformed_date")], id="no such date"),
        pytest.param(with_changes(holidays=[{"name": "元旦", "dates": ["20270101"]}], makeup_workdays=[]),
                     [("holidays[0].dates[0]", "malformed_date")], id="compact date refused"),
        pytest.param(with_changes(holidays=[{"name": "元旦", "dates": ["2027-01-01", "2027-01-01"]}],
                                  makeup_workdays=[]),
                     [("holidays[0].dates[1]", "duplicate_date")], id="duplicate within a block"),
        pytest.param(with_changes(holidays=[{"name": "元旦", "dates": ["2027-01-01"]},
                                            {"name": "春节", "dates": ["2027-01-01"]}]),
                     [("holidays[1].dates[0]", "duplicate_date")], id="duplicate across blocks"),
        pytest.param(with_changes(makeup_workdays=[{"for": "春节", "dates": ["2027-02-20", "2027-02-20"]}]),
                     [("makeup_workdays[0].dates[1]", "duplicate_date")], id="duplicate make-up day"),
        pytest.param(with_changes(makeup_workdays=[{"for": "元旦", "dates": ["2027-01-02"]}]),
                     [("makeup_workdays[0].dates[0]", "holiday_and_workday")], id="both holiday and make-up"),
        pytest.param(with_changes(makeup_workdays=[{"for": "春节", "dates": ["2027-02-17"]}]),
                     [("makeup_workdays[0].dates[0]", "makeup_not_weekend")], id="make-up on a Wednesday"),
        pytest.param(with_changes(makeup_workdays=[{"for": "中秋节", "dates": ["2027-02-20"]}]),
                     [("makeup_workdays[0].for", "unknown_holiday")], id="make-up for an unknown holiday"),
        pytest.param(with_changes(makeup_workdays=[{"dates": ["2027-02-20"]}]),
                     [("makeup_workdays[0].for", "missing")], id="make-up without its holiday"),
        pytest.param(with_changes(holidays=None), [("holidays", "missing")], id="no holidays"),
        pytest.param(with_changes(holidays=[]), [("holidays", "empty")], id="empty holidays"),
        pytest.param(with_changes(holidays=[{"name": "元旦"}], makeup_workdays=[]), [("holidays[0].dates", "missing")],
                     id="block without dates"),
        pytest.param(with_changes(holidays=[{"name": "", "dates": ["2027-01-01"]}]),
                     [("holidays[0].name", "missing")], id="block without a name"),
        pytest.param(with_changes(makeup_workday=[]), [("makeup_workday", "unknown_field")], id="misspelt field"),
        pytest.param(with_changes(makeup_workdays={"for": "春节"}), [("makeup_workdays", "type")],
                     id="make-ups not a list"),
        pytest.param("{not json", [("body", "invalid_json")], id="not JSON"),
        pytest.param("[1, 2]", [("body", "not_an_object")], id="not an object"),
    ],
)
def test_each_refusal(document: Any, expected: list[tuple[str, str]]) -> None:
    assert refusal(document) == expected


def test_path_year_must_equal_the_file_year() -> None:
    assert refusal(good(), expected_year=2028) == [("year", "year_mismatch")]


def test_every_problem_is_listed_at_once_with_chinese_messages() -> None:
    document = {
        "year": 2027,
        "holidays": [
            {"name": "元旦", "dates": ["2026-12-31", "2027-01-01", "2027-13-01"]},
            {"name": "春节", "dates": ["2027-01-01", "2027-02-06"]},
        ],
        "makeup_workdays": [{"for": "春节", "dates": ["2027-02-06", "2027-02-17"]}],
        "remark": "x",
    }
    with pytest.raises(ScheduleRejected) as caught:
        parse_schedule(document, expected_year=2027)
    found = {(p.field, p.code) for p in caught.value.problems}
    assert found == {
        ("remark", "unknown_field"),
        ("source", "missing"),
        ("holidays[0].dates[0]", "outside_year"),
        ("holidays[0].dates[2]", "malformed_date"),
        ("holidays[1].dates[0]", "duplicate_date"),
        ("makeup_workdays[0].dates[0]", "holiday_and_workday"),
        ("makeup_workdays[0].dates[1]", "makeup_not_weekend"),
    }
    messages = {p.field: p.message for p in caught.value.problems}
    assert "既是节假日" in messages["makeup_workdays[0].dates[0]"]
    assert "星期三" in messages["makeup_workdays[0].dates[1]"]
    assert "不在所述年度 2027 内" in messages["holidays[0].dates[0]"]
    assert "缺少通知文号" in messages["source"]
    assert all(p.as_dict()["message"] for p in caught.value.problems)


def test_a_loaded_year_replaces_the_library_for_that_year() -> None:
    # A made-up correction of 2026: only New Year's Day off. Loading it replaces chinesecalendar for 2026.
    library = WorkingDayCalendar()
    assert not library.is_workday(date(2026, 2, 17))  # Spring Festival in the library
    schedule = parse_schedule({"year": 2026, "source": "测试", "holidays": [{"name": "元旦", "dates": ["2026-01-01"]}]})
    loaded = library.with_years([schedule])
    assert loaded.is_workday(date(2026, 2, 17))
    to_rest, to_work = changed_days(2026, library.is_workday, loaded.is_workday)
    assert date(2026, 2, 17) in to_work
    assert date(2026, 1, 4) in to_rest  # the library's make-up Sunday is a plain Sunday again
    assert date(2026, 1, 1) not in to_work  # a holiday in both


def test_changed_days_of_a_provisional_year() -> None:
    provisional = WorkingDayCalendar()
    loaded = provisional.with_years([parse_schedule(good())])
    to_rest, to_work = changed_days(2027, provisional.is_workday, loaded.is_workday)
    assert to_rest == [date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 8), date(2027, 2, 9)]
    assert to_work == [date(2027, 2, 20)]
