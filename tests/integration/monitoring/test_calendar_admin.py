"""Calendar administration on real SQLite: upload a year, journal it, answer from it; the routes around it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.db import make_engine, make_read_session_factory, make_session_factory, upgrade_database
from services.common.principal import Principal, PrincipalKind, Role
from services.common.problems import install_problem_handlers
from services.common.settings import PlatformSettings
from services.common.workdays import SHANGHAI, deadline
from services.monitoring.adapters.calendar_tables import calendar_change, calendar_year
from services.monitoring.api.calendar_routes import router
from services.monitoring.calendar_admin import (
    calendar_changes,
    calendar_status,
    explain_range,
    load_calendar,
    refresh_runtime_calendar,
    upload_year,
)
from services.monitoring.domain.calendar_schedule import ScheduleRejected
from tests.conftest import principal_headers

ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS = ROOT / "services" / "monitoring" / "migrations"
EXAMPLE = json.loads((ROOT / "services" / "monitoring" / "calendars" / "2027.example.json").read_text("utf-8"))
OPERATOR = Principal(kind=PrincipalKind.staff, subject="ops-1", name="运维一", role=Role.operations,
                     department="大数据局", region_code="")
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
FIVE_WORKING_DAYS = TimeLimit(value=5, unit=LimitUnit.working_days)


@pytest.fixture
def sessions(tmp_path: Path) -> tuple[sessionmaker[Any], sessionmaker[Any]]:
    url = f"sqlite:///{tmp_path}/monitoring.db"
    upgrade_database(url, MIGRATIONS)
    engine = make_engine(url)
    return make_session_factory(engine), make_read_session_factory(engine)


def rows(session_factory: sessionmaker[Any]) -> tuple[list[Any], int]:
    with session_factory() as session:
        years = [tuple(r) for r in session.execute(select(calendar_year).order_by(calendar_year.c.year))]
        changes = session.execute(select(func.count()).select_from(calendar_change)).scalar_one()
    return years, changes


def test_upload_turns_a_provisional_2027_deadline_into_an_official_one(
    sessions: tuple[sessionmaker[Any], sessionmaker[Any]],
) -> None:
    writer, reader = sessions
    with reader() as session:
        before = load_calendar(session)
    accepted = datetime(2027, 2, 3, 10, tzinfo=SHANGHAI)  # a Wednesday before the (example) Spring Festival
    provisional = deadline(accepted, FIVE_WORKING_DAYS, before)
    assert provisional.provisional
    assert provisional.due_date_local == date(2027, 2, 10)  # Thu 4, Fri 5, Mon 8, Tue 9, Wed 10: weekends alone
    assert explain_range(before, date(2027, 2, 5), date(2027, 2, 5))[0] == {
        "date": "2027-02-05", "workday": True, "why": "工作日（暂定：2027 年节假日安排未载入）", "provisional": True,
    }

    with writer.begin() as session:
        schedule, summary = upload_year(session, OPERATOR, json.dumps(EXAMPLE, ensure_ascii=False), NOW)
    assert schedule.year == 2027
    assert summary["replaces"] == "provisional"
    assert summary["years_to_recompute"] == [2027]

    with reader() as session:
        after = load_calendar(session)
    official = deadline(accepted, FIVE_WORKING_DAYS, after)
    assert not official.provisional
    # Thu 4 (1); Fri 5 – Sat 13 Spring Festival; Mon 15 (2), Tue 16 (3), Wed 17 (4), Thu 18 (5)
    assert official.due_date_local == date(2027, 2, 18)
    day = explain_range(after, date(2027, 2, 5), date(2027, 2, 5))[0]
    assert day["workday"] is False and day["provisional"] is False
    assert day["why"].startswith("法定节假日：春节（示例，非官方")
    makeup = explain_range(after, date(2027, 2, 20), date(2027, 2, 20))[0]
    assert makeup["workday"] is True and makeup["why"].startswith("调休上班（春节，")


def test_the_journal_records_what_changed(sessions: tuple[sessionmaker[Any], sessionmaker[Any]]) -> None:
    writer, reader = sessions
    with writer.begin() as session:
        upload_year(session, OPERATOR, EXAMPLE, NOW)
    corrected = copy.deepcopy(EXAMPLE)
    corrected["source"] = "示例，非官方：更正"
    corrected["holidays"][4]["dates"] = ["2027-06-09", "2027-06-10"]  # Dragon Boat Festival one day longer
    with writer.begin() as session:
        _, summary = upload_year(session, OPERATOR, corrected, NOW)
    assert summary["replaces"] == "loaded"
    assert summary["previous_source"] == EXAMPLE["source"]
    assert summary["became_holidays"] == [{"date": "2027-06-10", "before": "工作日",
                                           "after": "法定节假日：端午节（示例，非官方：更正）"}]
    assert summary["became_workdays"] == []
    assert summary["years_to_recompute"] == [2027]

    with reader() as session:
        journal = calendar_changes(session, year=2027)
        stored = session.execute(select(calendar_year)).one()
    assert [j["source"] for j in journal] == ["示例，非官方：更正", EXAMPLE["source"]]
    first = journal[1]["summary"]
    assert first["replaces"] == "provisional"
    assert {"date": "2027-02-05", "before": "工作日（暂定：2027 年节假日安排未载入）",
            "after": f"法定节假日：春节（{EXAMPLE['source']}）"} in first["became_holidays"]
    assert {c["date"] for c in first["became_workdays"]} == {
        "2027-01-31", "2027-02-20", "2027-04-25", "2027-05-08", "2027-09-26", "2027-10-09",
    }
    assert journal[1]["loaded_by"] == "ops-1" and first["loaded_by"]["name"] == "运维一"
    assert stored.source == "示例，非官方：更正" and stored.loaded_by == "ops-1"


def test_reloading_the_same_year_unchanged_asks_for_no_recompute(
    sessions: tuple[sessionmaker[Any], sessionmaker[Any]],
) -> None:
    writer, _ = sessions
    for _ in range(2):
        with writer.begin() as session:
            _, summary = upload_year(session, OPERATOR, EXAMPLE, NOW)
    assert summary["became_holidays"] == summary["became_workdays"] == []
    assert summary["years_to_recompute"] == []
    assert rows(writer)[1] == 2  # journaled all the same


def test_a_covered_year_can_be_replaced(sessions: tuple[sessionmaker[Any], sessionmaker[Any]]) -> None:
    writer, reader = sessions
    correction = {"year": 2026, "source": "测试更正", "holidays": [{"name": "元旦", "dates": ["2026-01-01"]}]}
    with writer.begin() as session:
        _, summary = upload_year(session, OPERATOR, correction, NOW)
    assert summary["replaces"] == "library" and summary["previous_source"].startswith("chinesecalendar")
    with reader() as session:
        calendar = load_calendar(session)
    assert calendar.is_workday(date(2026, 2, 17))
    status = calendar_status(calendar, date(2026, 6, 1))
    assert status["loaded_years"][0]["year"] == 2026 and status["loaded_years"][0]["replaces_library"]


def test_a_bad_upload_changes_nothing(sessions: tuple[sessionmaker[Any], sessionmaker[Any]]) -> None:
    writer, _ = sessions
    with writer.begin() as session:
        upload_year(session, OPERATOR, EXAMPLE, NOW)
    before = rows(writer)
    bad = copy.deepcopy(EXAMPLE)
    bad["holidays"][0]["dates"].append("2028-01-01")
    bad["makeup_workdays"][0]["dates"].append("2027-02-05")
    with pytest.raises(ScheduleRejected) as caught, writer.begin() as session:
        upload_year(session, OPERATOR, bad, NOW)
    assert {p.code for p in caught.value.problems} == {"outside_year", "holiday_and_workday"}
    assert rows(writer) == before


def test_status_warns_from_1_november_when_next_year_is_missing(
    sessions: tuple[sessionmaker[Any], sessionmaker[Any]],
) -> None:
    writer, reader = sessions
    with reader() as session:
        calendar = load_calendar(session)
    october = calendar_status(calendar, date(2026, 10, 31))
    assert october["missing_next_year"] is None and october["warnings"] == []
    november = calendar_status(calendar, date(2026, 11, 1))
    assert november["missing_next_year"] == 2027
    assert any("2027 年节假日安排尚未载入" in w for w in november["warnings"])
    assert november["library"]["last_year"] == 2026
    in_2027 = calendar_status(calendar, date(2027, 3, 1))
    assert not in_2027["current_year_covered"] and in_2027["warnings"]

    with writer.begin() as session:
        upload_year(session, OPERATOR, EXAMPLE, NOW)
    with reader() as session:
        loaded = calendar_status(load_calendar(session), date(2026, 11, 1))
    assert loaded["missing_next_year"] is None and loaded["warnings"] == []
    assert 2027 in loaded["covered_years"]
    assert loaded["loaded_years"] == [{"year": 2027, "source": EXAMPLE["source"], "published_on": None,
                                       "replaces_library": False, "holidays": 29, "makeup_workdays": 6}]


async def test_refresh_runtime_calendar(sessions: tuple[sessionmaker[Any], sessionmaker[Any]]) -> None:
    writer, reader = sessions
    runtime = SimpleNamespace(read_session=reader, calendar=None)
    await refresh_runtime_calendar(runtime)  # type: ignore[arg-type]
    assert not runtime.calendar.is_covered(2027)
    with writer.begin() as session:
        upload_year(session, OPERATOR, EXAMPLE, NOW)
    await refresh_runtime_calendar(runtime)  # type: ignore[arg-type]
    assert runtime.calendar.is_covered(2027)


# ---- the routes --------------------------------------------------------------------------------------

@pytest.fixture
def client(sessions: tuple[sessionmaker[Any], sessionmaker[Any]]) -> Iterator[tuple[TestClient, Any]]:
    writer, reader = sessions
    with reader() as session:
        calendar = load_calendar(session)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.settings = PlatformSettings()
    app.state.runtime = SimpleNamespace(session_factory=writer, read_session=reader, calendar=calendar)
    recomputed: list[list[int]] = []

    async def on_calendar_loaded(runtime: Any, years: list[int]) -> None:
        recomputed.append(years)

    app.state.on_calendar_loaded = on_calendar_loaded
    app.state.recomputed = recomputed
    with TestClient(app) as test_client:
        yield test_client, app


SUPERVISOR = principal_headers(Role.supervisor)
OPERATIONS = principal_headers(Role.operations, region_code="", subject="ops-1")
CLERK = principal_headers(Role.window_clerk)


def test_routes_upload_then_answer_from_the_loaded_year(client: tuple[TestClient, Any]) -> None:
    http, app = client
    days = http.get("/api/v1/monitoring/calendar/days", params={"from": "2027-02-04", "to": "2027-02-08"},
                    headers=SUPERVISOR)
    assert days.status_code == 200
    assert [d["workday"] for d in days.json()["days"]] == [True, True, False, False, True]
    assert all(d["provisional"] for d in days.json()["days"])

    put = http.put("/api/v1/monitoring/calendar/years/2027", json=EXAMPLE, headers=OPERATIONS)
    assert put.status_code == 200, put.text
    assert put.json()["years_to_recompute"] == [2027]
    assert app.state.recomputed == [[2027]]

    days = http.get("/api/v1/monitoring/calendar/days", params={"from": "2027-02-04", "to": "2027-02-08"},
                    headers=SUPERVISOR)
    answered = days.json()["days"]
    assert [d["workday"] for d in answered] == [True, False, False, False, False]
    assert not any(d["provisional"] for d in answered)
    assert answered[1]["why"].startswith("法定节假日：春节")

    status = http.get("/api/v1/monitoring/calendar", headers=OPERATIONS).json()
    assert status["loaded_years"][0]["year"] == 2027
    assert status["loaded_years"][0]["loaded_by"] == "ops-1"
    assert status["stale"] is False


def test_route_refuses_a_bad_upload_whole(
    client: tuple[TestClient, Any], sessions: tuple[sessionmaker[Any], sessionmaker[Any]],
) -> None:
    http, app = client
    bad = copy.deepcopy(EXAMPLE)
    bad.pop("source")
    bad["makeup_workdays"][0]["dates"].append("2027-02-17")  # a Wednesday
    response = http.put("/api/v1/monitoring/calendar/years/2028", json=bad, headers=OPERATIONS)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/invalid-calendar")
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("year", "year_mismatch"), ("source", "missing"), ("makeup_workdays[0].dates[2]", "makeup_not_weekend"),
    }
    assert "未作任何更改" in body["detail"]
    assert rows(sessions[0]) == ([], 0)
    assert app.state.recomputed == []
    assert not app.state.runtime.calendar.is_covered(2027)


def test_route_roles_and_limits(client: tuple[TestClient, Any]) -> None:
    http, _ = client
    base = "/api/v1/monitoring/calendar"
    assert http.put(f"{base}/years/2027", json=EXAMPLE, headers=SUPERVISOR).status_code == 403
    assert http.get(base, headers=CLERK).status_code == 403
    assert http.get(base).status_code == 401
    assert http.get(f"{base}/days", params={"from": "2027-01-01", "to": "2027-01-02"},
                    headers=CLERK).status_code == 403
    too_long = http.get(f"{base}/days", params={"from": "2027-01-01", "to": "2028-02-05"}, headers=SUPERVISOR)
    assert too_long.status_code == 422 and too_long.json()["type"].endswith("/range-too-long")
    backwards = http.get(f"{base}/days", params={"from": "2027-01-02", "to": "2027-01-01"}, headers=SUPERVISOR)
    assert backwards.status_code == 422
    assert http.get(f"{base}/days", params={"from": "2027-01-01", "to": "2028-02-04"},
                    headers=SUPERVISOR).status_code == 200  # 400 days exactly
    assert http.put(f"{base}/years/1999", json=EXAMPLE, headers=OPERATIONS).status_code == 422
    status = http.get(base, headers=SUPERVISOR)
    assert status.status_code == 200 and 2026 in status.json()["covered_years"]
