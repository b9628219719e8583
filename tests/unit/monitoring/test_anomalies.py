"""Anomaly rules of a case (异常监察): each fires with its evidence, never on the clean path, never with
personal data (issue 3 "Anomaly rules" and "Bad input"; domain.md §2, §3, §6)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from services.common.contracts.case import (
    CaseAccepted,
    CaseCompleted,
    CaseDecided,
    CaseDelivered,
    CaseReceived,
    CaseResumed,
    CaseSuspended,
    CertificateIssued,
    Channel,
    Decision,
    DeliveryMethod,
    FeeCharged,
    MissingMaterial,
    StepCompleted,
    StepStarted,
    SupplementRequested,
    SupplementSupplied,
    SuspensionReason,
)
from services.common.contracts.catalogue import ProcessStep
from services.common.contracts.payloads import Actor, Applicant, EventPayload, LimitUnit, TimeLimit
from services.common.workdays import SHANGHAI, WorkingDayCalendar
from services.monitoring.domain.anomalies import Anomaly, AnomalyPolicy, detect_case_anomalies
from services.monitoring.domain.subjects import Recorded, case_subject

CAL = WorkingDayCalendar()
CASE = "320102202509300001"
ITEM = "ITEM-FOOD-001"
NAME = "张三"  # the applicant (自然人): must never appear in evidence
ID_NUMBER = "11010519491231002X"
CLERK = Actor(user_id="clerk-7", name="李四", role="clerk", department="行政审批局")
NOW = datetime(2025, 10, 20, 9, 0, tzinfo=SHANGHAI)
FEES: Mapping[str, int | None] = {ITEM: 5000}


def sh(m: int, d: int, h: int = 0, mi: int = 0, y: int = 2025) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI)


def wd(n: int) -> TimeLimit:
    return TimeLimit(value=n, unit=LimitUnit.working_days)


def clean() -> dict[str, EventPayload]:
    """A realistic 承诺件 across National Day 2025: received and accepted Tue Sep 30, 一审一决, an expert
    review of 5 notified days, approved Oct 14, licence issued Oct 15 and delivered Oct 16."""
    applicant = Applicant(applicant_type="1", name=NAME, id_type="resident_id", id_number=ID_NUMBER,
                          phone="13800000000")
    return {
        "recv": CaseReceived(occurred_at=sh(9, 30, 9), case_no=CASE, item_code=ITEM, item_version=3,
                             region_code="320102000000", channel=Channel.window, applicant=applicant),
        "acc": CaseAccepted(
            occurred_at=sh(9, 30, 9, 10), case_no=CASE, item_code=ITEM, item_version=3, item_name="食品经营许可",
            item_type="01", department="行政审批局", region_code="320102000000", channel=Channel.window,
            applicant=applicant, legal_limit=wd(20), promised_limit=wd(10), case_type="2",
            received_at=sh(9, 30, 9), promised_due_date="2025-10-22", clerk=CLERK, receipt_no=f"SL{CASE}",
            process=[ProcessStep(code="review", name="审查", role="reviewer"),
                     ProcessStep(code="decide", name="决定", role="approver")],
        ),
        "fee": FeeCharged(occurred_at=sh(9, 30, 9, 20), case_no=CASE, amount_fen=5000, fee_item="工本费",
                          receipt_no="PJ-0001", actor=CLERK),
        "s1": StepStarted(occurred_at=sh(9, 30, 9, 10), case_no=CASE, step_code="review", step_name="审查",
                          task_id="T1", role="reviewer"),
        "c1": StepCompleted(occurred_at=sh(10, 9, 10), case_no=CASE, step_code="review", step_name="审查",
                            task_id="T1", actor=CLERK, opinion="符合条件"),
        "s2": StepStarted(occurred_at=sh(10, 9, 10), case_no=CASE, step_code="decide", step_name="决定",
                          task_id="T2", role="approver"),
        "susp": CaseSuspended(occurred_at=sh(10, 10, 9), case_no=CASE, suspension_id="S1",
                              reason=SuspensionReason.expert_review, expected_days=5, actor=CLERK),
        "res": CaseResumed(occurred_at=sh(10, 13, 9), case_no=CASE, suspension_id="S1", result="专家评审通过"),
        "c2": StepCompleted(occurred_at=sh(10, 14, 16), case_no=CASE, step_code="decide", step_name="决定",
                            task_id="T2", actor=CLERK, opinion="准予许可", outcome="approve"),
        "dec": CaseDecided(occurred_at=sh(10, 14, 16), case_no=CASE, decision=Decision.approve, actor=CLERK),
        "done": CaseCompleted(occurred_at=sh(10, 14, 16), case_no=CASE, item_code=ITEM, item_version=3,
                              item_name="食品经营许可", region_code="320102000000", result="approve"),
        "cert": CertificateIssued(occurred_at=sh(10, 15, 10), case_no=CASE, certificate_no="JY13201020000001",
                                  verification_code="V1", content_sha256="0" * 64, actor=CLERK),
        "deliv": CaseDelivered(occurred_at=sh(10, 16, 10), case_no=CASE, method=DeliveryMethod.window,
                               receiver=NAME),
    }


def recorded(payloads: Mapping[str, EventPayload], lag: Mapping[str, timedelta] | None = None) -> list[Recorded]:
    """Each event recorded a minute after it happened unless `lag` says otherwise."""
    lag = lag or {}
    return [Recorded(k, p, p.occurred_at + lag.get(k, timedelta(minutes=1))) for k, p in payloads.items()]


def detect(events: list[Recorded], now: datetime = NOW, fees: Mapping[str, int | None] | None = FEES,
           policy: AnomalyPolicy = AnomalyPolicy()) -> list[Anomaly]:
    return detect_case_anomalies(events, case_subject(events), CAL, now, policy, fees=fees)


def change(key: str, **update: object) -> Callable[[dict[str, EventPayload]], None]:
    def apply(p: dict[str, EventPayload]) -> None:
        p[key] = p[key].model_copy(update=update)
    return apply


def drop(*keys: str) -> Callable[[dict[str, EventPayload]], None]:
    def apply(p: dict[str, EventPayload]) -> None:
        for k in keys:
            del p[k]
    return apply


def add(key: str, payload: EventPayload) -> Callable[[dict[str, EventPayload]], None]:
    def apply(p: dict[str, EventPayload]) -> None:
        p[key] = payload
    return apply


def notice(at: datetime, stage: str, codes: list[str], no: str) -> SupplementRequested:
    return SupplementRequested(occurred_at=at, case_no=CASE, stage=stage, notice_no=no, actor=CLERK,
                               missing=[MissingMaterial(code=c, name=f"材料{c}", reason="缺少") for c in codes])


@dataclass
class Row:
    rule: str
    edits: list[Callable[[dict[str, EventPayload]], None]]
    key: str | None  # None: a near miss, the rule must not fire
    evidence: dict[str, str] = field(default_factory=dict)
    lag: dict[str, timedelta] = field(default_factory=dict)
    now: datetime = NOW
    fees: Mapping[str, int | None] | None = None


ROWS: dict[str, Row] = {
    # 事后补录
    "backfilled two hours late": Row(
        "backfilled_record", [], "c1", {
            "event_id": "c1", "event_type": "zwfw.case.step_completed.v1",
            "occurred_at": "2025-10-09T10:00:00+08:00", "recorded_at": "2025-10-09T12:00:00+08:00",
            "gap": "2小时0分", "gap_seconds": "7200"},
        lag={"c1": timedelta(hours=2)}),
    "backfilled exactly at the tolerance": Row("backfilled_record", [], None, lag={"c1": timedelta(hours=1)}),
    # 事件时间晚于记录时间
    "occurred ten minutes after recorded": Row(
        "future_time", [], "fee", {"event_id": "fee", "occurred_at": "2025-09-30T09:20:00+08:00",
                                   "recorded_at": "2025-09-30T09:10:00+08:00", "ahead": "10分"},
        lag={"fee": -timedelta(minutes=10)}),
    "clock skew within tolerance": Row("future_time", [], None, lag={"fee": -timedelta(minutes=5)}),
    # 跳过审查环节
    "decision without any step": Row(
        "step_skipped", [drop("s1", "c1", "s2", "c2")], "dec",
        {"event_id": "dec", "steps_completed_before": "无", "missing_steps": "review,decide"}),
    "decision without the pinned review step": Row(
        "step_skipped", [drop("c1")], "dec", {"steps_completed_before": "decide", "missing_steps": "review"}),
    # 未受理即办结
    "completion without acceptance": Row(
        "completed_without_acceptance", [drop("acc")], "done",
        {"event_id": "done", "completed_at": "2025-10-14T16:00:00+08:00", "accepted_at": "无受理记录"}),
    # 未登记办件的事件: neither received nor accepted; raised once, at the first event in time order
    "events of a case never received nor accepted": Row(
        "event_for_unknown_case", [drop("recv", "acc")], "s1",
        {"event_id": "s1", "event_type": "zwfw.case.step_started.v1", "occurred_at": "2025-09-30T09:10:00+08:00",
         "events_without_case": "11"}),
    "a case received but not yet accepted is known": Row("event_for_unknown_case", [drop("acc")], None),
    # 环节缺少开始记录 / 环节顺序颠倒
    "step completed without its start": Row(
        "step_start_missing", [drop("s1")], "c1", {"task_id": "T1", "step_code": "review"}),
    "step completed before it started": Row(
        "step_out_of_order", [change("s1", occurred_at=sh(10, 9, 11))], "T1",
        {"started_event_id": "s1", "completed_event_id": "c1", "started_at": "2025-10-09T11:00:00+08:00",
         "completed_at": "2025-10-09T10:00:00+08:00"}),
    # 违反一次性告知
    "review notice asks for a new material": Row(
        "supplement_not_one_time",
        [add("n1", notice(sh(9, 30, 9, 5), "acceptance", ["M1"], "BZ1")),
         add("n2", notice(sh(10, 10, 10), "review", ["M1", "M2"], "BZ2"))],
        "n2", {"stage": "review", "notice_no": "BZ2", "first_event_id": "n1", "first_notice_no": "BZ1",
               "first_material_codes": "M1", "new_material_codes": "M2"}),
    "second notice repeats the first": Row(
        "supplement_not_one_time",
        [add("n1", notice(sh(9, 30, 9, 5), "acceptance", ["M1", "M2"], "BZ1")),
         add("n2", notice(sh(10, 10, 10), "review", ["M2"], "BZ2"))], None),
    # 受理超期（视为受理）: received Tue Sep 23; Sep 24, 25, 26, Sun 28 (调休上班), 29 → due 24:00 Sep 29
    "accepted after the fifth working day": Row(
        "acceptance_late",
        [change("recv", occurred_at=sh(9, 23, 9)), change("acc", received_at=sh(9, 23, 9))], "acc",
        {"event_id": "acc", "received_at": "2025-09-23T09:00:00+08:00", "received_source": "recv",
         "accepted_at": "2025-09-30T09:10:00+08:00", "due_at": "2025-09-30T00:00:00+08:00",
         "working_days_used": "6", "deemed_accepted_on": "2025-09-23", "provisional": "false"}),
    # 视为受理: acceptance sent it when the period ran out, dated at the receipt; the decision nobody made is late.
    "deemed accepted when the fifth working day passed": Row(
        "acceptance_late",
        [change("recv", occurred_at=sh(9, 23, 9)),
         change("acc", received_at=sh(9, 23, 9), occurred_at=sh(9, 23, 9), deemed=True)], "acc",
        {"accepted_at": "2025-09-30T09:00:00+08:00", "due_at": "2025-09-30T00:00:00+08:00", "deemed": "true",
         "working_days_used": "6", "deemed_accepted_on": "2025-09-23"},
        lag={"acc": timedelta(days=7)}),
    "accepted on the fifth working day": Row(
        "acceptance_late",
        [change("recv", occurred_at=sh(9, 24, 9)), change("acc", received_at=sh(9, 24, 9))], None),
    "notice in time, accepted within 5 days of the supplement": Row(
        "acceptance_late",
        [change("recv", occurred_at=sh(9, 1, 9)), change("acc", received_at=sh(9, 1, 9)),
         add("n1", notice(sh(9, 2, 9), "acceptance", ["M1"], "BZ1")),
         add("sup", SupplementSupplied(occurred_at=sh(9, 26, 9), case_no=CASE, stage="acceptance"))], None),
    # 免费事项收费 / 超标准收费
    "fee on a free item": Row(
        "fee_on_free_item", [], "fee",
        {"item_code": ITEM, "amount_fen": "5000", "standard_fen": "免费", "receipt_no": "PJ-0001"},
        fees={ITEM: None}),
    "fee above the standard": Row(
        "fee_above_standard", [], "fee", {"amount_fen": "5000", "standard_fen": "3000"}, fees={ITEM: 3000}),
    "item without a known standard": Row("fee_above_standard", [], None, fees={"OTHER": 0}),
    # 暂停超过告知期限: suspended Fri Oct 10, 5 days told → 24:00 Wed Oct 15
    "resumed after the notified days": Row(
        "suspension_overrun", [change("res", occurred_at=sh(10, 17, 9))], "S1",
        {"event_id": "susp", "reason": "expert_review", "expected_days": "5",
         "notified_end": "2025-10-16T00:00:00+08:00", "resumed_event_id": "res",
         "resumed_at": "2025-10-17T09:00:00+08:00", "overrun": "1天9小时0分"}),
    "still suspended past the notified days": Row(
        "suspension_overrun", [drop("res", "c2", "dec", "done", "cert", "deliv")], "S1",
        {"resumed_at": "尚未恢复", "as_of": "2025-10-20T09:00:00+08:00"}),
    "resumed on the last notified day": Row(
        "suspension_overrun", [change("res", occurred_at=sh(10, 15, 23, 59))], None),
    # 送达超期: approved Tue Oct 14; Oct 15–17, 20–24, 27, 28 → due 24:00 Oct 28
    "licence delivered after ten working days": Row(
        "delivery_late", [change("deliv", occurred_at=sh(10, 30, 10))], "dec",
        {"event_id": "dec", "due_at": "2025-10-29T00:00:00+08:00", "served_by": "delivered",
         "served_event_id": "deliv", "working_days_used": "12"}),
    "nothing served and now past the limit": Row(
        "delivery_late", [drop("cert", "deliv")], "dec",
        {"served_by": "无送达或制证记录", "as_of": "2025-11-03T09:00:00+08:00"}, now=sh(11, 3, 9)),
    "certificate in time without a delivery record": Row("delivery_late", [drop("deliv")], None, now=sh(12, 1)),
    # 不予许可未说明理由
    "refusal with blank reasons": Row(
        "refusal_without_reasons", [change("dec", decision=Decision.deny, reasons="  ")], "dec",
        {"decision": "deny", "remedy_notice_given": "no"}),
    "refusal with reasons": Row(
        "refusal_without_reasons", [change("dec", decision=Decision.deny, reasons="不符合第十条")], None),
    # 承诺件办结过快
    "promise item completed a minute after acceptance": Row(
        "completed_implausibly_fast", [change("done", occurred_at=sh(9, 30, 9, 11))], "done",
        {"accepted_event_id": "acc", "case_type": "2", "elapsed": "1分", "threshold": "2分"}),
    "immediate item completed at once": Row(
        "completed_implausibly_fast",
        [change("acc", case_type="1"), change("done", occurred_at=sh(9, 30, 9, 11))], None),
    # contradictions from the clock builder
    "resume without a suspension": Row(
        "resume_without_suspension", [add("r9", CaseResumed(occurred_at=sh(10, 14, 9), case_no=CASE,
                                                            suspension_id="S9"))],
        "r9", {"event_id": "r9", "event_type": "zwfw.case.resumed.v1", "detail": "恢复计时 S9 但没有对应的暂停"}),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_rule_table(name: str) -> None:
    row = ROWS[name]
    payloads = clean()
    for edit in row.edits:
        edit(payloads)
    found = [a for a in detect(recorded(payloads, row.lag), now=row.now, fees=row.fees or FEES)
             if a.rule == row.rule]
    if row.key is None:
        assert found == []
        return
    assert [a.key for a in found] == [row.key]
    anomaly = found[0]
    assert anomaly.subject_no == CASE and anomaly.title
    assert {k: anomaly.evidence.get(k) for k in row.evidence} == row.evidence


@pytest.mark.parametrize("rule", sorted({row.rule for row in ROWS.values()}))
def test_rule_does_not_fire_on_the_clean_path(rule: str) -> None:
    assert [a for a in detect(recorded(clean())) if a.rule == rule] == []


def test_a_clean_realistic_case_yields_no_anomaly() -> None:
    events = recorded(clean())
    assert case_subject(events).contradictions == []
    assert detect(events) == []
    assert detect(events, fees=None) == []


def test_titles_are_chinese() -> None:
    assert {ROWS[n].rule for n in ROWS} >= {"backfilled_record", "acceptance_late", "delivery_late"}
    payloads = clean()
    payloads["dec"] = payloads["dec"].model_copy(update={"decision": Decision.deny, "reasons": ""})
    (found,) = [a for a in detect(recorded(payloads)) if a.rule == "refusal_without_reasons"]
    assert found.title == "不予许可未说明理由"


def _everything_wrong() -> list[Recorded]:
    payloads = clean()
    for row in ROWS.values():
        # Rows that need their own recording lag (beyond the two set below) are not combined here.
        own_lag = set(row.lag or {}) - {"c1", "fee"}
        if row.key is not None and not own_lag and row.rule not in (
                "completed_without_acceptance", "step_start_missing", "event_for_unknown_case"):
            for edit in row.edits:
                with contextlib.suppress(KeyError):  # rows that drop what another row edits
                    edit(payloads)
    return recorded(payloads, {"c1": timedelta(hours=3), "fee": -timedelta(hours=1)})


def test_no_personal_data_in_any_anomaly() -> None:
    events = _everything_wrong()
    found = detect(events, now=sh(12, 1), fees={ITEM: None})
    assert len({a.rule for a in found}) >= 8
    for anomaly in found:
        text = " ".join([anomaly.key, anomaly.title, *anomaly.evidence, *anomaly.evidence.values()])
        for secret in (NAME, ID_NUMBER, "13800000000"):
            assert secret not in text, (anomaly.rule, secret)


def test_each_occurrence_once_and_independent_of_delivery_order() -> None:
    payloads = clean()
    del payloads["acc"]  # the rule and the clock builder's contradiction both see it: raised once
    events = recorded(payloads)
    found = detect(events)
    assert [a.rule for a in found].count("completed_without_acceptance") == 1
    identities = [(a.subject_no, a.rule, a.key) for a in found]
    assert len(identities) == len(set(identities))
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    assert detect(shuffled) == found


def test_policy_thresholds_are_settings() -> None:
    events = recorded(clean(), {"c1": timedelta(minutes=30)})
    strict = AnomalyPolicy(backfill_tolerance=timedelta(minutes=10))
    assert [a.key for a in detect(events, policy=strict) if a.rule == "backfilled_record"] == ["c1"]
    assert detect(events) == []
