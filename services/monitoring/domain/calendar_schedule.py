"""One year's official holiday schedule (国务院办公厅关于X年部分节假日安排的通知) as a file: parse and validate.

Pure: no database, no clock, no I/O. The service layer (`services.monitoring.calendar_admin`) stores what
this module accepts and builds the working-day calendar (工作日历) from it (domain.md §1, "Calendar as data").

File format (JSON, UTF-8), one file per year::

    {
      "year": 2027,                              // required, integer, 2004..2099
      "source": "国办发明电〔2026〕N号",          // required: the notice cited (文号)
      "published_on": "2026-11-10",              // optional: the notice's date (发布日期), YYYY-MM-DD
      "holidays": [                              // required, at least one block (放假安排)
        {"name": "元旦", "dates": ["2027-01-01", "2027-01-02", "2027-01-03"]},
        {"name": "春节", "dates": ["2027-02-06", "..."]}
      ],
      "makeup_workdays": [                       // optional: weekend days worked instead (调休上班)
        {"for": "春节", "dates": ["2027-02-14"]}
      ],
      "note": "..."                              // optional free text (备注), kept but not interpreted
    }

Rules (a file breaking any of them is refused WHOLE, with every problem listed, each with its field path
such as `holidays[1].dates[2]` and a Chinese message):

- `year` is an integer from 2004 (the first year `chinesecalendar` covers) to 2099;
- `source` is a non-empty string (at most 200 characters): every loaded year cites its notice;
- every date is a real calendar date written `YYYY-MM-DD`, inside the stated year;
- no date appears twice (within a block, across blocks, or across the two lists);
- no date is both a holiday and a make-up workday;
- a make-up workday is a Saturday or Sunday (a weekday is a working day already);
- holidays MAY fall on a Saturday or Sunday (a block covers the weekend it spans);
- a make-up block's `for` names one of the file's holiday blocks;
- no other top-level fields (a misspelt `makeup_workday` would otherwise be silently ignored).

Days in neither list count as usual: Monday to Friday work, Saturday and Sunday rest.

Loading replaces: a loaded year takes precedence over `chinesecalendar` for that whole year, so loading a
year the library already covers (2004–2026 in 1.11.0) REPLACES the library's answer for every day of that
year, and loading a year already loaded replaces the earlier upload. The service journals what changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.common.workdays import YearSchedule

MIN_YEAR = 2004  # first year of chinesecalendar; earlier notices are of no use to a running service
MAX_YEAR = 2099
MAX_SOURCE_LENGTH = 200
MAX_NAME_LENGTH = 50
MAX_DATES = 366  # per list: more than a year's days is certainly a broken file
_ALLOWED_FIELDS = ("year", "source", "published_on", "holidays", "makeup_workdays", "note")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


@dataclass(frozen=True)
class ScheduleProblem:
    """One reason a file is refused: where (a field path) and what (中文)."""

    field: str
    message: str
    code: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class ScheduleRejected(Exception):
    """The file is refused whole; `problems` lists every reason found."""

    def __init__(self, problems: list[ScheduleProblem]) -> None:
        super().__init__("；".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class OfficialYearSchedule(YearSchedule):
    """A `YearSchedule` that also remembers the notice's date and the name behind each day.

    It is a `YearSchedule`, so `WorkingDayCalendar` uses it as is; explanations read the names
    (`holiday_name`, `makeup_for`) to say "法定节假日：春节" rather than only citing the notice.
    Names are kept as sorted tuples so the object stays hashable like its parent.
    """

    published_on: date | None = None
    holiday_names: tuple[tuple[date, str], ...] = field(default=())
    makeup_names: tuple[tuple[date, str], ...] = field(default=())
    note: str = ""

    def holiday_name(self, day: date) -> str | None:
        return dict(self.holiday_names).get(day)

    def makeup_for(self, day: date) -> str | None:
        return dict(self.makeup_names).get(day)

    def to_document(self) -> dict[str, Any]:
        """The file format again (blocks in date order): what is stored and what a GET would return."""
        holidays: dict[str, list[str]] = {}
        for day, name in self.holiday_names:
            holidays.setdefault(name, []).append(day.isoformat())
        makeups: dict[str, list[str]] = {}
        for day, name in self.makeup_names:
            makeups.setdefault(name, []).append(day.isoformat())
        document: dict[str, Any] = {
            "year": self.year,
            "source": self.source,
            "published_on": self.published_on.isoformat() if self.published_on else None,
            "holidays": [{"name": n, "dates": d} for n, d in holidays.items()],
            "makeup_workdays": [{"for": n, "dates": d} for n, d in makeups.items()],
        }
        if self.note:
            document["note"] = self.note
        return document


def parse_schedule(raw: str | bytes | Mapping[str, Any], expected_year: int | None = None) -> OfficialYearSchedule:
    """Parses and validates one year's file; raises `ScheduleRejected` listing every problem at once.

    `expected_year` is the year the caller means to load (the `{year}` of the upload URL): a file for
    another year is refused rather than loaded under the wrong key.
    """
    problems: list[ScheduleProblem] = []

    def problem(path: str, message: str, code: str) -> None:
        problems.append(ScheduleProblem(path, message, code))

    document: Any
    if isinstance(raw, str | bytes):
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ScheduleRejected([ScheduleProblem("body", f"不是有效的 JSON：{exc}", "invalid_json")]) from exc
    else:
        document = raw
    if not isinstance(document, Mapping):
        raise ScheduleRejected([ScheduleProblem("body", "应为 JSON 对象", "not_an_object")])

    for key in document:
        if key not in _ALLOWED_FIELDS:
            problem(str(key), f"未知字段（允许的字段：{'、'.join(_ALLOWED_FIELDS)}）", "unknown_field")

    year = _parse_year(document.get("year"), problem)
    if year is not None and expected_year is not None and year != expected_year:
        problem("year", f"文件年度 {year} 与地址中的年度 {expected_year} 不一致", "year_mismatch")

    source = document.get("source")
    if source is None or (isinstance(source, str) and not source.strip()):
        problem("source", "缺少通知文号（如 国办发明电〔2026〕N号）", "missing")
    elif not isinstance(source, str):
        problem("source", "应为字符串", "type")
    elif len(source.strip()) > MAX_SOURCE_LENGTH:
        problem("source", f"不得超过 {MAX_SOURCE_LENGTH} 个字符", "too_long")

    published_on: date | None = None
    if document.get("published_on") is not None:
        published_on = _parse_date(document["published_on"], "published_on", problem)

    note = document.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        problem("note", "应为字符串", "type")
        note = ""

    # Every valid date seen, with the path that first named it, to report duplicates and overlaps.
    seen: dict[date, str] = {}
    holiday_days = _parse_blocks(document, "holidays", "name", year, seen, problem, required=True)
    makeup_days = _parse_blocks(document, "makeup_workdays", "for", year, seen, problem, required=False)

    for day, (_, path) in makeup_days.items():
        if day.weekday() < 5:
            problem(path, f"{day.isoformat()} 是{_WEEKDAYS_ZH[day.weekday()]}，调休上班日应为星期六或星期日",
                    "makeup_not_weekend")
    holiday_names = _block_names(document, "holidays", "name")
    for i, name in _block_names(document, "makeup_workdays", "for").items():
        if holiday_names and name not in holiday_names.values():
            known = "、".join(dict.fromkeys(holiday_names.values()))
            problem(f"makeup_workdays[{i}].for", f"“{name}”不是本文件中的节假日名称（{known}）", "unknown_holiday")

    if problems:
        raise ScheduleRejected(problems)
    assert year is not None and isinstance(source, str)
    return OfficialYearSchedule(
        year=year,
        holidays=frozenset(holiday_days),
        makeup_workdays=frozenset(makeup_days),
        source=source.strip(),
        published_on=published_on,
        holiday_names=tuple(sorted((d, n) for d, (n, _) in holiday_days.items())),
        makeup_names=tuple(sorted((d, n) for d, (n, _) in makeup_days.items())),
        note=note.strip(),
    )


def _parse_year(value: Any, problem: Callable[[str, str, str], None]) -> int | None:
    if value is None:
        problem("year", "缺少年度", "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problem("year", "年度应为整数，如 2027", "type")
        return None
    if not MIN_YEAR <= value <= MAX_YEAR:
        problem("year", f"年度应在 {MIN_YEAR} 至 {MAX_YEAR} 之间", "out_of_range")
        return None
    return value


def _parse_date(value: Any, path: str, problem: Callable[[str, str, str], None]) -> date | None:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        problem(path, f"日期格式应为 YYYY-MM-DD：{value!r}", "malformed_date")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problem(path, f"不存在的日期：{value}", "malformed_date")
        return None


def _block_names(document: Mapping[str, Any], key: str, name_key: str) -> dict[int, str]:
    """The non-empty names of a list's blocks, by index."""
    blocks = document.get(key)
    if not isinstance(blocks, list):
        return {}
    return {i: b[name_key].strip() for i, b in enumerate(blocks)
            if isinstance(b, Mapping) and isinstance(b.get(name_key), str) and b[name_key].strip()}


def _parse_blocks(
    document: Mapping[str, Any], key: str, name_key: str, year: int | None, seen: dict[date, str],
    problem: Callable[[str, str, str], None], *, required: bool,
) -> dict[date, tuple[str, str]]:
    """The dates of one list of blocks: {day: (block name, path of the date)}; problems reported."""
    kind = "节假日" if key == "holidays" else "调休上班日"
    blocks = document.get(key)
    if blocks is None:
        if required:
            problem(key, f"缺少{kind}安排", "missing")
        return {}
    if not isinstance(blocks, list):
        problem(key, "应为数组", "type")
        return {}
    if required and not blocks:
        problem(key, f"{kind}安排不能为空", "empty")
    days: dict[date, tuple[str, str]] = {}
    total = 0
    for i, block in enumerate(blocks):
        base = f"{key}[{i}]"
        if not isinstance(block, Mapping):
            problem(base, "应为对象", "type")
            continue
        for extra in block:
            if extra not in (name_key, "dates"):
                problem(f"{base}.{extra}", f"未知字段（允许的字段：{name_key}、dates）", "unknown_field")
        name = block.get(name_key)
        if not isinstance(name, str) or not name.strip():
            problem(f"{base}.{name_key}", "缺少名称（如 春节）" if key == "holidays" else "缺少所调休的节日名称",
                    "missing")
            name = ""
        elif len(name.strip()) > MAX_NAME_LENGTH:
            problem(f"{base}.{name_key}", f"不得超过 {MAX_NAME_LENGTH} 个字符", "too_long")
        name = name.strip()
        dates = block.get("dates")
        if not isinstance(dates, list) or not dates:
            problem(f"{base}.dates", "应为非空的日期数组", "missing" if dates is None else "type")
            continue
        total += len(dates)
        if total > MAX_DATES:
            problem(f"{base}.dates", f"{kind}总数不得超过 {MAX_DATES} 天", "too_many")
            return days
        for j, value in enumerate(dates):
            path = f"{base}.dates[{j}]"
            day = _parse_date(value, path, problem)
            if day is None:
                continue
            if year is not None and day.year != year:
                problem(path, f"{day.isoformat()} 不在所述年度 {year} 内", "outside_year")
            first = seen.get(day)
            if first is not None:
                if first.startswith("holidays") and key == "makeup_workdays":
                    problem(path, f"{day.isoformat()} 既是节假日（{first}）又是调休上班日", "holiday_and_workday")
                else:
                    problem(path, f"{day.isoformat()} 重复（已见于 {first}）", "duplicate_date")
                continue
            seen[day] = path
            days[day] = (name, path)
    return days


def changed_days(
    year: int, is_workday_before: Callable[[date], bool], is_workday_after: Callable[[date], bool],
) -> tuple[list[date], list[date]]:
    """Days of `year` whose status flips: (became non-working 变为休息日, became working 变为工作日)."""
    to_rest: list[date] = []
    to_work: list[date] = []
    day = date(year, 1, 1)
    while day.year == year:
        before, after = is_workday_before(day), is_workday_after(day)
        if before and not after:
            to_rest.append(day)
        elif after and not before:
            to_work.append(day)
        day += timedelta(days=1)
    return to_rest, to_work
