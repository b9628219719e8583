"""The clock picks up events logged before its CaseAccepted, whatever else was logged (real SQLite)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from services.common.contracts import Envelope
from services.common.contracts.case import CaseCompleted, CaseReceived, Channel
from services.common.contracts.payloads import Applicant
from services.common.db import make_engine, make_session_factory, upgrade_database
from services.common.messaging import Outbox
from services.common.workdays import WorkingDayCalendar
from services.monitoring.adapters.tables import case_clock, messaging
from services.monitoring.handlers import record_case_event
from tests.integration.monitoring.test_case_clock_flow import SH, accepted, step

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "monitoring" / "migrations"


def test_received_then_accepted_opens_the_clock_with_earlier_steps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/monitoring.db"
    upgrade_database(url, MIGRATIONS)
    sessions = make_session_factory(make_engine(url))
    outbox = Outbox(messaging, source="/test", topic_prefix="")
    calendar = WorkingDayCalendar()
    start = datetime(2025, 9, 30, 10, tzinfo=SH)
    case_no = "320102-20250930-00001"
    received = CaseReceived(
        occurred_at=start - timedelta(hours=1), case_no=case_no, item_code="X", item_version=1,
        region_code="320102000000", channel=Channel.online,
        applicant=Applicant(applicant_type="1", name="张三", id_type="resident_id", id_number="11010519491231002X"),
    )
    completed = CaseCompleted(occurred_at=start + timedelta(days=2), case_no=case_no, item_code="X",
                              item_name="n", region_code="320102000000", result="approve")
    # Received (logged without the applicant), a step and the completion all arrive before the acceptance.
    for event in (received, step(case_no, start + timedelta(hours=1)), completed,
                  accepted(case_no, "320102000000", start)):
        with sessions.begin() as session:
            record_case_event(session, outbox, calendar, Envelope.wrap(event, source="/test"), event)

    with sessions() as session:
        row = session.execute(select(case_clock).where(case_clock.c.case_no == case_no)).one()
    assert row.state == "closed"
    assert row.verdict == "on_time"
