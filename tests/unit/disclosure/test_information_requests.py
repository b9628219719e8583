"""依申请公开: receipt dates, the reply due date across holidays, the supplement restart, consultation time
excluded, the extension bound and the state machine (政府信息公开条例 Arts. 30–37)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, WorkingDayCalendar, end_of_day
from services.disclosure.domain.information_requests import (
    ALLOWED,
    Action,
    ApplicantKind,
    Channel,
    ConsultationOutcome,
    Ground,
    InformationRequest,
    PartyKind,
    Reply,
    ReplyType,
    RequestError,
    RequestState,
    WithdrawalKind,
    WrongState,
    new_request,
    receipt_instant,
)

CAL = WorkingDayCalendar()


def at(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=SHANGHAI)


def request(received: datetime) -> InformationRequest:
    return new_request("320102-GK-20250930-0001", "320102000000", "玄武区人民政府办公室", Channel.online,
                       received, ApplicantKind.natural_person, now=at(2027, 1, 1))


# Received on the day in the first column; 20 working days, the day of receipt not counted.
@pytest.mark.parametrize(("received", "due"), [
    # National Day 2025: Oct 1–8 off, Sat Oct 11 a make-up working day (counted).
    (at(2025, 9, 30), date(2025, 11, 4)),
    (at(2025, 9, 28, 9), date(2025, 10, 31)),  # on the make-up Sunday Sep 28: counting starts Sep 29
    (at(2025, 10, 3), date(2025, 11, 4)),  # received during the holiday: first counted day Oct 9
    (at(2025, 10, 11, 16), date(2025, 11, 7)),  # on the make-up Saturday: counting starts Mon Oct 13
    # Spring Festival 2026: Feb 15–23 off, Sat Feb 14 and Sat Feb 28 make-up days.
    (at(2026, 2, 10), date(2026, 3, 16)),
    (at(2026, 2, 13, 23, 59), date(2026, 3, 19)),  # Sat Feb 14 counts, then nothing until Feb 24
    (at(2026, 2, 18), date(2026, 3, 20)),  # received in the holiday
])
def test_reply_due_date_across_holidays(received: datetime, due: date) -> None:
    answer = request(received).due(CAL, received)
    assert answer.due_date == due
    assert answer.due_at == end_of_day(due)  # 24:00 Asia/Shanghai of the 20th working day
    assert not answer.provisional


@pytest.mark.parametrize(("channel", "kwargs", "expected"), [
    (Channel.in_person, {}, at(2025, 9, 29)),
    (Channel.online, {}, at(2025, 9, 29)),
    (Channel.registered_post, {"signed_for_at": at(2025, 9, 30, 15)}, at(2025, 9, 30, 15)),
    (Channel.post, {"confirmed_at": at(2025, 10, 9, 9)}, at(2025, 10, 9, 9)),
    (Channel.fax, {"confirmed_at": at(2025, 9, 30, 8)}, at(2025, 9, 30, 8)),
    (Channel.email, {"confirmed_at": at(2025, 9, 30, 8)}, at(2025, 9, 30, 8)),
])
def test_date_of_receipt_by_channel(channel: Channel, kwargs: dict[str, datetime], expected: datetime) -> None:
    assert receipt_instant(channel, at(2025, 9, 29), **kwargs) == expected


@pytest.mark.parametrize("channel", [Channel.registered_post, Channel.post, Channel.fax, Channel.email])
def test_receipt_evidence_is_required(channel: Channel) -> None:
    with pytest.raises(RequestError) as err:
        receipt_instant(channel, at(2025, 9, 29))
    assert err.value.slug == "receipt-evidence-missing"


def test_receipt_may_not_lie_in_the_future() -> None:
    with pytest.raises(RequestError):
        new_request("n", "320102000000", "a", Channel.in_person, at(2026, 1, 2), ApplicantKind.natural_person,
                    now=at(2026, 1, 1))


def test_supplement_restarts_the_clock_from_the_supplement() -> None:
    r = request(at(2025, 9, 30))
    ten_days = TimeLimit(value=10, unit=LimitUnit.working_days)
    r.request_supplement("请写明文件名称或文号", ten_days, at(2025, 10, 10), CAL)
    assert r.state is RequestState.awaiting_supplement
    assert r.due(CAL, at(2025, 10, 13)).due_at is None  # stopped while waiting for the applicant
    r.supplemented(at(2025, 10, 20, 14))
    assert r.state is RequestState.in_progress
    # A fresh 20 working days from Mon Oct 20: Oct 21 … Nov 17 — not what was left of the first budget.
    assert r.due(CAL, at(2025, 10, 20, 15)).due_date == date(2025, 11, 17)


def test_supplement_notice_within_seven_working_days_and_only_once() -> None:
    r = request(at(2025, 9, 30))
    # 7 working days after Sep 30: Oct 9, 10, 11 (make-up), 13, 14, 15, 16 → the last day is Oct 16.
    late = request(at(2025, 9, 30))
    with pytest.raises(RequestError) as err:
        late.request_supplement("x", TimeLimit(value=5, unit=LimitUnit.working_days), at(2025, 10, 17, 9), CAL)
    assert (err.value.status, err.value.slug) == (409, "supplement-notice-too-late")
    r.request_supplement("x", TimeLimit(value=5, unit=LimitUnit.working_days), at(2025, 10, 16, 23, 59), CAL)
    r.supplemented(at(2025, 10, 17))
    with pytest.raises(RequestError) as again:
        r.request_supplement("y", TimeLimit(value=5, unit=LimitUnit.working_days), at(2025, 10, 17, 11), CAL)
    assert again.value.slug == "supplement-already-requested"


def test_no_supplement_in_time_counts_as_withdrawn() -> None:
    r = request(at(2025, 9, 30))
    r.request_supplement("x", TimeLimit(value=5, unit=LimitUnit.working_days), at(2025, 10, 9), CAL)
    # 5 working days after Oct 9: Oct 10, 11, 13, 14, 15 → period ends at 24:00 Oct 15.
    with pytest.raises(RequestError) as err:
        r.lapse_supplement(at(2025, 10, 15, 23))
    assert err.value.slug == "supply-period-running"
    r.lapse_supplement(at(2025, 10, 16, 9))
    assert (r.state, r.withdrawal_kind) == (RequestState.withdrawn, WithdrawalKind.unsupplemented)


def test_consultation_time_is_not_counted() -> None:
    r = request(at(2025, 9, 30))  # due Nov 4 without a pause
    r.start_consultation("c1", "某建设公司", PartyKind.third_party, at(2025, 10, 13, 9), CAL)
    assert r.state is RequestState.consulting
    assert r.due(CAL, at(2025, 10, 14)).due_at is None
    r.end_consultation("c1", ConsultationOutcome.consent, "同意公开", at(2025, 10, 20, 15))
    # Used before: Oct 9, 10, 11 and 9 h of Oct 13; after: 9 h of Oct 20 → 16.25 days left from Oct 21.
    assert r.due(CAL, at(2025, 10, 20, 16)).due_date == date(2025, 11, 12)


def test_overlapping_consultations_pause_once() -> None:
    r = request(at(2025, 9, 30))
    r.start_consultation("c1", "某公司", PartyKind.third_party, at(2025, 10, 13, 0), CAL)
    r.start_consultation("c2", "区住建局", PartyKind.agency, at(2025, 10, 14, 0), CAL)
    r.end_consultation("c1", ConsultationOutcome.objection, "不同意", at(2025, 10, 15, 0))
    assert r.state is RequestState.consulting  # c2 still open
    r.end_consultation("c2", ConsultationOutcome.consent, "", at(2025, 10, 16, 0))
    # Paused Oct 13 00:00 – Oct 16 00:00: three working days later than Nov 4 → Nov 7.
    assert r.due(CAL, at(2025, 10, 16, 1)).due_date == date(2025, 11, 7)


def test_agency_silence_is_consent_only_after_fifteen_working_days() -> None:
    r = request(at(2025, 9, 30))
    c = r.start_consultation("c1", "区住建局", PartyKind.agency, at(2025, 10, 13, 9), CAL)
    assert c.due_at == datetime(2025, 11, 4, 0, 0, tzinfo=SHANGHAI)  # 15 working days: Oct 14 … Nov 3
    with pytest.raises(RequestError) as err:
        r.end_consultation("c1", ConsultationOutcome.no_answer, "", at(2025, 11, 3, 17))
    assert err.value.slug == "consultation-period-running"
    ended = r.end_consultation("c1", ConsultationOutcome.no_answer, "", at(2025, 11, 4, 9))
    assert ended.deemed_consent and "视为同意" in ended.answer
    third = request(at(2025, 9, 30))
    third.start_consultation("c1", "某公司", PartyKind.third_party, at(2025, 10, 13, 9), CAL)
    assert not third.end_consultation("c1", ConsultationOutcome.no_answer, "", at(2025, 11, 4, 9)).deemed_consent


@pytest.mark.parametrize(("days", "slug"), [(21, "extension-too-long"), (0, "extension-too-long")])
def test_extension_bound(days: int, slug: str) -> None:
    with pytest.raises(RequestError) as err:
        request(at(2025, 9, 30)).extend(days, "涉及多个部门", "王主任", at(2025, 10, 20), CAL)
    assert (err.value.status, err.value.slug) == (422, slug)


def test_one_extension_of_at_most_twenty_working_days() -> None:
    r = request(at(2025, 9, 30))
    r.extend(20, "涉及多个部门", "王主任", at(2025, 10, 20), CAL)
    # Nov 4 + 20 working days: Nov 5 … Dec 2.
    assert r.due(CAL, at(2025, 10, 20)).due_date == date(2025, 12, 2)
    with pytest.raises(RequestError) as err:
        r.extend(1, "再延", "王主任", at(2025, 10, 21), CAL)
    assert (err.value.status, err.value.slug) == (409, "already-extended")


def test_no_extension_once_the_period_is_over() -> None:
    r = request(at(2025, 9, 30))
    with pytest.raises(RequestError) as err:
        r.extend(10, "x", "王主任", at(2025, 11, 5, 9), CAL)
    assert err.value.slug == "reply-period-over"


def test_wrong_state_names_state_and_allowed_actions() -> None:
    r = request(at(2025, 9, 30))
    r.start_consultation("c1", "某公司", PartyKind.third_party, at(2025, 10, 13), CAL)
    with pytest.raises(WrongState) as err:
        r.answer(Reply(ReplyType.disclosed, at(2025, 10, 14)), CAL)
    assert err.value.state is RequestState.consulting
    assert err.value.allowed == ["end_consultation", "extend", "start_consultation", "withdraw"]
    assert "征求意见中" in err.value.message


def test_terminal_states_allow_nothing() -> None:
    r = request(at(2025, 9, 30))
    r.withdraw("不再需要", at(2025, 10, 9))
    assert r.state is RequestState.withdrawn and r.allowed_actions() == []
    for state in (RequestState.answered, RequestState.withdrawn):
        assert ALLOWED[state] == frozenset()
    with pytest.raises(WrongState):
        r.withdraw("", at(2025, 10, 10))
    assert Action.answer in ALLOWED[RequestState.in_progress]


def test_reply_rules() -> None:
    r = request(at(2025, 9, 30))
    with pytest.raises(RequestError) as no_reasons:
        r.answer(Reply(ReplyType.not_disclosed, at(2025, 10, 20), grounds=(Ground.state_secret,)), CAL)
    assert no_reasons.value.slug == "reasons-missing"
    with pytest.raises(RequestError) as no_where:
        r.answer(Reply(ReplyType.already_public, at(2025, 10, 20)), CAL)
    assert no_where.value.slug == "where-missing"
    with pytest.raises(RequestError) as mismatch:
        r.answer(Reply(ReplyType.not_exist, at(2025, 10, 20), grounds=(Ground.state_secret,)), CAL)
    assert mismatch.value.slug == "ground-mismatch"
    reply = r.answer(Reply(ReplyType.partially_disclosed, at(2025, 10, 20), reasons="第三页涉及个人隐私，已作区分处理",
                           grounds=(Ground.third_party_rights,)), CAL)
    assert r.state is RequestState.answered and not reply.late


def test_a_late_reply_is_flagged() -> None:
    r = request(at(2025, 9, 30))
    reply = r.answer(Reply(ReplyType.not_exist, at(2025, 11, 5, 9), reasons="经检索不存在"), CAL)
    assert reply.late and reply.grounds == (Ground.not_held,)


def test_a_due_date_in_a_year_without_schedule_is_provisional() -> None:
    # chinesecalendar covers 2026 but not 2027: Dec 15 2026 + 20 working days ends in January 2027.
    answer = request(at(2026, 12, 15)).due(CAL, at(2026, 12, 15))
    assert answer.provisional and answer.due_date is not None and answer.due_date.year == 2027


def test_withdrawal_ends_open_consultations_and_stops_the_clock() -> None:
    r = request(at(2025, 9, 30))
    r.start_consultation("c1", "某公司", PartyKind.third_party, at(2025, 10, 13), CAL)
    r.withdraw("", at(2025, 10, 14))
    assert r.consultations[0].ended_at == at(2025, 10, 14)
    assert (r.state, r.withdrawal_kind, r.withdrawal_reason) == (RequestState.withdrawn, WithdrawalKind.applicant,
                                                                  "申请人撤回申请")
