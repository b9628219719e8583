"""A 即办件 is decided and completed at the window by acceptance (Art. 34): approval opens nothing for it
(real SQLite, approval's own migrations and handler)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from services.approval import handlers
from services.approval.adapters.tables import approval_case, approval_task, messaging
from services.common.db import make_engine, make_session_factory, upgrade_database
from services.common.messaging import Outbox
from tests.integration.approval.test_approval_flow import _accepted

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "approval" / "migrations"


def test_an_instant_case_opens_no_process_and_a_promise_case_does(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/approval.db"
    upgrade_database(url, MIGRATIONS)
    sessions = make_session_factory(make_engine(url))
    outbox = Outbox(messaging, source="/test", topic_prefix="")
    instant = _accepted("320102-20261125-90001").model_copy(update={"case_type": "1"})
    promise = _accepted("320102-20261125-90002")
    assert promise.case_type == "2"
    for event in (instant, promise):
        with sessions.begin() as session:
            handlers.case_accepted(session, outbox, event)
    with sessions() as session:
        cases = {r.case_no for r in session.execute(select(approval_case.c.case_no))}
        tasks = session.execute(select(func.count()).select_from(approval_task)).scalar_one()
        emitted = session.execute(select(messaging.outbox.c.key)).scalars().all()
    assert cases == {promise.case_no} and tasks == 1
    assert set(emitted) == {promise.case_no}  # its StepStarted; nothing for the instant case
