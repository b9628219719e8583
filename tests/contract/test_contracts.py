"""The event contracts: CloudEvents binary round trip over Kafka's shape, tolerance and strictness."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.common.contracts import REGISTRY, Envelope, MalformedEvent, UnknownEventType, parse_payload
from services.common.contracts.case import CaseAccepted, CaseCompleted, Channel
from services.common.contracts.payloads import Actor, Applicant, LimitUnit, TimeLimit
from services.common.contracts.topics import DLQ_SUFFIX, Topic, all_topic_names

NOW = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)


def accepted() -> CaseAccepted:
    return CaseAccepted(
        occurred_at=NOW, case_no="320102-20261125-00001", item_code="3201020001", item_version=2,
        item_name="个体工商户设立登记", item_type="01", department="区市场监管局", region_code="320102000000",
        channel=Channel.window,
        applicant=Applicant(applicant_type="1", name="张小三", id_type="resident_id", id_number="11010519491231002X"),
        legal_limit=TimeLimit(value=15, unit=LimitUnit.working_days),
        promised_limit=TimeLimit(value=3, unit=LimitUnit.working_days),
        received_at=NOW, promised_due_date="2026-11-30", clerk=Actor(user_id="clerk01"), receipt_no="SL1",
    )


def test_round_trip_through_kafka_binary_mode() -> None:
    payload = accepted()
    envelope = Envelope.wrap(payload, source="/zwfw/acceptance")
    key, value, headers = envelope.to_kafka()

    names = dict(headers)
    assert key == b"320102-20261125-00001"  # keyed by case number: one case, one partition
    assert names["ce_type"] == b"zwfw.case.accepted.v1"
    assert names["ce_specversion"] == b"1.0"
    assert names["ce_subject"] == key
    assert names["content-type"] == b"application/json"
    assert json.loads(value)["case_no"] == payload.case_no  # binary mode: the body is the data alone

    back = Envelope.from_kafka(key, value, headers)
    assert back.id == envelope.id
    assert back.recorded_at == envelope.recorded_at
    assert parse_payload(back) == payload


def test_unknown_fields_are_ignored() -> None:
    envelope = Envelope.wrap(accepted(), source="/test")
    key, value, headers = envelope.to_kafka()
    data = json.loads(value) | {"added_by_a_newer_producer": {"x": 1}}
    back = Envelope.from_kafka(key, json.dumps(data).encode(), headers)
    assert parse_payload(back).case_no == "320102-20261125-00001"


def test_missing_required_field_is_malformed() -> None:
    envelope = Envelope.wrap(accepted(), source="/test")
    key, value, headers = envelope.to_kafka()
    data = json.loads(value)
    del data["legal_limit"]
    with pytest.raises(MalformedEvent, match="legal_limit"):
        parse_payload(Envelope.from_kafka(key, json.dumps(data).encode(), headers))


@pytest.mark.parametrize("value, headers", [
    (b"not json", None),
    (b"{}", []),
    (b"[1, 2]", None),
])
def test_unreadable_messages_are_malformed(value: bytes, headers: list | None) -> None:
    _, _, good_headers = Envelope.wrap(accepted(), source="/test").to_kafka()
    with pytest.raises(MalformedEvent):
        Envelope.from_kafka(b"k", value, good_headers if headers is None else headers)


def test_unknown_type_is_not_malformed() -> None:
    envelope = Envelope(type="zwfw.case.teleported.v9", source="/future", subject="c1", data={"x": 1})
    key, value, headers = envelope.to_kafka()
    with pytest.raises(UnknownEventType):
        parse_payload(Envelope.from_kafka(key, value, headers))


def test_every_type_is_versioned_and_routed_to_a_known_topic() -> None:
    assert len(REGISTRY) >= 30
    for event_type, model in REGISTRY.items():
        assert event_type.startswith("zwfw.") and event_type.rsplit(".", 1)[1].startswith("v"), event_type
        assert model.topic in Topic
    lifecycle = {t.split(".")[2] for t in REGISTRY if t.startswith("zwfw.case.")}
    assert {"received", "accepted", "supplement_requested", "supplement_supplied", "rejected", "step_started",
            "step_completed", "joint_review_requested", "joint_review_answered", "suspended", "resumed",
            "extended", "decided", "certificate_issued", "delivered", "completed", "withdrawn",
            "fee_charged"} <= lifecycle


def test_every_topic_has_a_dead_letter_twin() -> None:
    names = all_topic_names("p.")
    for topic in Topic:
        assert f"p.{topic.value}" in names and f"p.{topic.value}{DLQ_SUFFIX}" in names
    assert names["p.zwfw.catalogue"][1] is True  # compacted


def test_occurred_at_must_carry_a_time_zone() -> None:
    with pytest.raises(ValueError):
        CaseCompleted(occurred_at=datetime(2026, 11, 25), case_no="c", item_code="i", item_name="n",
                      region_code="320102000000", result="approve")


def test_ids_too_wide_for_the_inbox_are_malformed() -> None:
    """Dead-lettered at once rather than failing every retry of their batch on the inbox insert."""
    from services.common.messaging.consumer import _check_fits

    _check_fits(Envelope(type="zwfw.case.withdrawn.v1", source="/t", subject="c", data={}, id="x" * 64), b"c")
    with pytest.raises(MalformedEvent):
        _check_fits(Envelope(type="zwfw.case.withdrawn.v1", source="/t", subject="c", data={}, id="x" * 65), b"c")
    with pytest.raises(MalformedEvent):
        _check_fits(Envelope(type="zwfw.case.withdrawn.v1", source="/t", subject="c", data={}), b"k" * 201)


def test_the_process_as_bpmn_is_optional_and_fits_a_kafka_message() -> None:
    """Events from before the field read as without BPMN; a large item's BPMN, carried on both the catalogue
    and the case event, stays far below the 1 MiB a message may have (aiokafka's max_request_size and the
    broker's message.max.bytes, both left at their defaults)."""
    from services.common.contracts.catalogue import ItemVersionPublished, ProcessStep
    from services.disclosure.domain.bpmn import render_bpmn
    from services.disclosure.domain.catalogue import ItemDefinition

    older = Envelope.wrap(accepted(), source="/test")
    key, value, headers = older.to_kafka()
    data = json.loads(value)
    del data["process_bpmn"]
    assert parse_payload(Envelope.from_kafka(key, json.dumps(data).encode(), headers)).process_bpmn == ""

    # Ten steps, two of them joint with six departments each: more than any item in the demo catalogue.
    steps = [ProcessStep(code=f"s{n}", name=f"第{n}环节审查", role="approver",
                         limit=TimeLimit(value=5, unit=LimitUnit.working_days, note="含现场核查与专家评审"),
                         departments=[f"玄武区第{k}委办局" for k in range(6)] if n in (3, 7) else [])
             for n in range(10)]
    item = ItemDefinition(item_code="320102000000-01-9999", name="大型联合审批事项", item_type="01",
                          department="玄武区行政审批局", region_code="320102000000", joint=True,
                          legal_limit=TimeLimit(value=45, unit=LimitUnit.working_days),
                          promised_limit=TimeLimit(value=20, unit=LimitUnit.working_days), process=steps)
    bpmn = render_bpmn(item, 1)
    for payload in (ItemVersionPublished(occurred_at=NOW, version=1, process_bpmn=bpmn, **item.model_dump()),
                    accepted().model_copy(update={"process": steps, "process_bpmn": bpmn})):
        key, value, headers = Envelope.wrap(payload, source="/test").to_kafka()
        size = len(key) + len(value) + sum(len(k) + len(v) for k, v in headers)
        assert size < 100_000, size
        assert parse_payload(Envelope.from_kafka(key, value, headers)).process_bpmn == bpmn
