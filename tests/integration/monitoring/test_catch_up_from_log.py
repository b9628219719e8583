"""Clocks rebuilt from the subject's log on real SQLite: delivery order does not matter, levels are claimed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.common.contracts import Envelope
from services.common.contracts.case import CaseCompleted, CaseReceived, Channel
from services.common.contracts.payloads import Applicant, EventPayload
from services.common.db import make_engine, make_session_factory, upgrade_database
from services.common.messaging import Outbox
from services.common.workdays import WorkingDayCalendar
from services.monitoring import handlers
from services.monitoring.adapters.tables import alert, messaging, subject_event, supervision_clock
from services.monitoring.domain.clocks import WarningPolicy
from services.monitoring.domain.policies import PolicyTable
from tests.integration.monitoring.test_case_clock_flow import SH, accepted, step

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "monitoring" / "migrations"
CALENDAR = WorkingDayCalendar()


def database(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path}/monitoring.db"
    upgrade_database(url, MIGRATIONS)
    return make_session_factory(make_engine(url))


def context() -> handlers.Supervision:
    return handlers.Supervision(outbox=Outbox(messaging, source="/test", topic_prefix=""),
                                calendar=lambda: CALENDAR, policies=PolicyTable(WarningPolicy()))


def deliver(sessions: sessionmaker[Session], ctx: handlers.Supervision, events: list[EventPayload],
            now: datetime) -> list[Envelope]:
    envelopes = [Envelope.wrap(event, source="/test") for event in events]
    redeliver(sessions, ctx, envelopes, now)
    return envelopes


def redeliver(sessions: sessionmaker[Session], ctx: handlers.Supervision, envelopes: list[Envelope],
              now: datetime) -> None:
    for envelope in envelopes:
        payload = handlers.REGISTRY[envelope.type].model_validate(envelope.data)
        with sessions.begin() as session:
            handlers.record_event(session, ctx, envelope, payload, now=now)


def case_events(case_no: str, start: datetime) -> list[EventPayload]:
    received = CaseReceived(
        occurred_at=start - timedelta(hours=1), case_no=case_no, item_code="X", item_version=1,
        region_code="320102000000", channel=Channel.online,
        applicant=Applicant(applicant_type="1", name="张三", id_type="resident_id", id_number="11010519491231002X"),
    )
    completed = CaseCompleted(occurred_at=start + timedelta(days=2), case_no=case_no, item_code="X",
                              item_name="n", region_code="320102000000", result="approve")
    return [received, step(case_no, start + timedelta(hours=1)), completed, accepted(case_no, "320102000000", start)]


def test_events_in_any_order_give_the_same_closed_clock(tmp_path: Path) -> None:
    sessions, ctx = database(tmp_path), context()
    start = datetime(2025, 9, 30, 10, tzinfo=SH)
    now = datetime(2025, 11, 1, tzinfo=UTC)
    sent = deliver(sessions, ctx, case_events("C-late", start), now)  # completion and step before the acceptance
    redeliver(sessions, ctx, [sent[3], sent[0], sent[1], sent[2]], now)  # the same events again: ignored
    ordered = [case_events("C-ordered", start)[i] for i in (0, 3, 1, 2)]
    deliver(sessions, ctx, ordered, now)

    with sessions() as session:
        rows = {r.subject_no: r for r in session.execute(
            select(supervision_clock).where(supervision_clock.c.kind == "handling"))}
        logged = session.execute(select(func.count()).select_from(subject_event)).scalar_one()
        names = [r.payload.get("applicant", {}).get("name") for r in session.execute(select(subject_event))]
    assert rows["C-late"].state == rows["C-ordered"].state == "closed"
    assert rows["C-late"].verdict == rows["C-ordered"].verdict == "on_time"
    assert rows["C-late"].limits == rows["C-ordered"].limits
    assert logged == 8
    assert "张三" not in names  # personal data never reaches monitoring's log


def test_each_level_is_claimed_once_however_often_timers_fire(tmp_path: Path) -> None:
    sessions, ctx = database(tmp_path), context()
    start = datetime(2025, 9, 30, 10, tzinfo=SH)
    deliver(sessions, ctx, [accepted("C-due", "320102000000", start)], datetime(2025, 9, 30, 3, tzinfo=UTC))
    late = datetime(2025, 12, 31, tzinfo=UTC)  # past promised and legal limits
    for _ in range(3):  # a restart, a replay, a second instance: the same timer fires again
        with sessions.begin() as session:
            handlers.fire_due(session, ctx, ["case:C-due:handling"], late)
    with sessions() as session:
        levels = sorted(r.level for r in session.execute(select(alert.c.level).where(alert.c.subject_no == "C-due")))
        outbox = session.execute(select(func.count()).select_from(messaging.outbox).where(
            messaging.outbox.c.event_type == "zwfw.supervision.alert_raised.v1")).scalar_one()
        row = session.execute(select(supervision_clock).where(
            supervision_clock.c.clock_id == "case:C-due:handling")).one()
    assert levels == ["breach", "severe", "warning"]
    assert outbox == 3
    assert row.next_timer_at is None  # nothing left to arm


def test_contradictory_events_are_kept_raise_anomalies_and_bend_no_clock(tmp_path: Path) -> None:
    from services.common.contracts.case import CaseResumed

    sessions, ctx = database(tmp_path), context()
    start = datetime(2025, 9, 30, 10, tzinfo=SH)
    now = datetime(2025, 10, 2, tzinfo=UTC)
    events = case_events("C-odd", start)
    completed = events[2]
    deliver(sessions, ctx, [events[3], events[1]], now)
    with sessions() as session:
        clean = session.execute(select(supervision_clock.c.limits).where(
            supervision_clock.c.clock_id == "case:C-odd:handling")).scalar_one()
    resumed = CaseResumed(occurred_at=start + timedelta(hours=3), case_no="C-odd", suspension_id="never")
    again = completed.model_copy(update={"occurred_at": completed.occurred_at + timedelta(hours=1)})
    deliver(sessions, ctx, [resumed, completed, again], now)

    with sessions() as session:
        rules = {r.rule: r.evidence for r in session.execute(
            select(alert.c.rule, alert.c.evidence).where(alert.c.level == "anomaly"))}
        row = session.execute(select(supervision_clock).where(
            supervision_clock.c.clock_id == "case:C-odd:handling")).one()
        logged = session.execute(select(func.count()).select_from(subject_event).where(
            subject_event.c.subject_no == "C-odd")).scalar_one()
    assert {"resume_without_suspension", "ended_twice"} <= set(rules)
    assert rules["resume_without_suspension"]["detail"]
    assert logged == 5  # kept, all of them
    assert row.limits == clean  # the resume without a suspension moved no deadline
    assert row.ended_at == completed.occurred_at  # the first completion counts


def test_a_fee_on_a_free_item_is_an_anomaly(tmp_path: Path) -> None:
    from services.common.contracts.case import FeeCharged
    from services.common.contracts.payloads import Actor
    from services.monitoring.domain.anomalies import detect_case_anomalies

    sessions = database(tmp_path)
    ctx = handlers.Supervision(outbox=Outbox(messaging, source="/test", topic_prefix=""),
                               calendar=lambda: CALENDAR, policies=PolicyTable(WarningPolicy()),
                               detect_anomalies=detect_case_anomalies)
    start = datetime(2025, 9, 30, 10, tzinfo=SH)
    fee = FeeCharged(occurred_at=start + timedelta(hours=1), case_no="C-fee", amount_fen=5000, fee_item="工本费",
                     receipt_no="PJ001", actor=Actor(user_id="clerk01"))
    deliver(sessions, ctx, [accepted("C-fee", "320102000000", start), fee], start + timedelta(hours=2))
    with sessions() as session:
        rules = {r.rule for r in session.execute(select(alert.c.rule).where(alert.c.subject_no == "C-fee"))}
    assert "fee_on_free_item" in rules
