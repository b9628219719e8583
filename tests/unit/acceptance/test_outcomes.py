"""The outcomes of Art. 32 (domain/outcomes.py): plain functions, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.acceptance.domain.model import SubmittedMaterial
from services.acceptance.domain.outcomes import (
    Correction,
    Deferral,
    Outcome,
    OutcomeRefused,
    Refusal,
    check_fee,
    check_imported_times,
    check_supplement,
    decide,
    outcome_texts,
)
from services.common.contracts.catalogue import MaterialSpec

SPECS = [
    MaterialSpec(code="M01", name="申请书", originals=1, copies=0),
    MaterialSpec(code="M02", name="经营者身份证明", originals=1, copies=1),
    MaterialSpec(code="M03", name="委托书", required=False, originals=1, copies=0),
    MaterialSpec(code="M04", name="经营场所证明", originals=0, copies=1),
]
COMPLETE = [SubmittedMaterial("M01", 1, 0), SubmittedMaterial("M02", 1, 1), SubmittedMaterial("M04", 0, 1)]
TODAY = date(2026, 11, 25)


def test_complete_materials_are_accepted_and_an_instant_item_is_completed() -> None:
    assert decide(SPECS, COMPLETE, "2", TODAY).outcome is Outcome.accepted
    assert decide(SPECS, COMPLETE, "1", TODAY).outcome is Outcome.completed


def test_incomplete_materials_get_a_notice_of_everything_missing() -> None:
    decision = decide(SPECS, COMPLETE[:1], "1", TODAY)
    assert decision.outcome is Outcome.supplement_requested
    assert [s.code for s in decision.missing] == ["M02", "M04"]


def test_refusal_wins_whatever_the_materials_and_cannot_be_mixed() -> None:
    assert decide(SPECS, [], "2", TODAY, refusal=Refusal("不属于本机关职权")).outcome is Outcome.rejected
    with pytest.raises(OutcomeRefused) as caught:
        decide(SPECS, COMPLETE, "2", TODAY, refusal=Refusal("x"), corrections=[Correction("地址", "a", "b")])
    assert caught.value.code == "outcome-conflict"


def test_a_correction_on_complete_materials_is_recorded_as_corrected_but_not_on_incomplete_ones() -> None:
    fix = [Correction("申请书·地址", "玄武区", "秦淮区")]
    assert decide(SPECS, COMPLETE, "2", TODAY, corrections=fix).outcome is Outcome.corrected
    assert decide(SPECS, COMPLETE[:2], "2", TODAY, corrections=fix).outcome is Outcome.supplement_requested


def test_deferral_accepts_when_only_the_listed_minor_materials_are_missing() -> None:
    deferral = Deferral(("M04",), TODAY + timedelta(days=10), "CN-1")
    decision = decide(SPECS, COMPLETE[:2], "2", TODAY, deferral=deferral)
    assert decision.outcome is Outcome.deferred
    assert [s.code for s in decision.deferred] == ["M04"] and decision.accepts


def test_deferral_with_something_else_missing_is_a_notice_listing_everything() -> None:
    deferral = Deferral(("M04",), TODAY + timedelta(days=10))
    decision = decide(SPECS, COMPLETE[:1], "2", TODAY, deferral=deferral)
    assert decision.outcome is Outcome.supplement_requested
    assert [s.code for s in decision.missing] == ["M02", "M04"]


@pytest.mark.parametrize(("codes", "due_in", "code"), [
    (("M01",), 5, "deferral-not-allowed"),  # the application form itself
    (("M02", "M04"), 5, "deferral-invalid"),  # M02 is there: nothing to defer
    (("M03",), 5, "deferral-invalid"),  # conditional, not required
    (("M99",), 5, "deferral-invalid"),
    (("M04", "M04"), 5, "deferral-invalid"),
    (("M04",), 0, "deferral-due-date"),
    (("M04",), 31, "deferral-due-date"),
])
def test_deferral_rules(codes: tuple[str, ...], due_in: int, code: str) -> None:
    with pytest.raises(OutcomeRefused) as caught:
        decide(SPECS, COMPLETE[:2], "2", TODAY, deferral=Deferral(codes, TODAY + timedelta(days=due_in)))
    assert caught.value.code == code


def test_deferral_of_every_required_material_is_refused() -> None:
    specs = [MaterialSpec(code="A", name="营业执照复印件"), MaterialSpec(code="B", name="场所证明")]
    with pytest.raises(OutcomeRefused) as caught:
        decide(specs, [], "2", TODAY, deferral=Deferral(("A", "B"), TODAY + timedelta(days=3)))
    assert caught.value.code == "deferral-not-allowed"


def test_a_supplement_may_bring_only_what_the_notice_listed() -> None:
    assert check_supplement(["M02", "M04"], ["M04"]) == []
    assert check_supplement(["M02"], ["M02", "M03", "M01"]) == ["M03", "M01"]


def test_imported_times_are_checked() -> None:
    now = datetime(2026, 11, 25, 8, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert check_imported_times(now - 2 * hour, now - hour, now) is None
    assert check_imported_times(now - hour, None, now) is None
    assert check_imported_times(now + hour, None, now) == "收件时间晚于当前时间"
    assert check_imported_times(now - hour, now + hour, now) == "受理时间晚于当前时间"
    assert check_imported_times(now - hour, now - 2 * hour, now) == "受理时间早于收件时间"


def test_fees_only_for_charging_items_and_never_above_the_standard() -> None:
    assert check_fee(True, 1000, 1000) is None
    assert check_fee(True, None, 500) is None  # a standard without a fixed amount: the clerk's figure
    assert "不收费" in (check_fee(False, None, 100) or "")
    assert "高于" in (check_fee(True, 1000, 1001) or "")
    assert check_fee(True, 1000, 0) is not None


def test_texts_name_the_refusal_basis_and_the_competent_agency() -> None:
    record = {"case_no": "C1", "missing": [], "refusal": {"reason": "不属于本机关职权范围",
                                                         "legal_basis": "《行政许可法》第三十二条",
                                                         "competent_agency": "市市场监督管理局"}}
    body = outcome_texts(Outcome.rejected, "食品经营许可", record)["body"]
    assert "不属于本机关职权范围" in body and "第三十二条" in body and "市市场监督管理局" in body


def test_deferred_materials_brought_do_not_move_the_public_progress() -> None:
    from services.acceptance.handlers import ProgressStatus, progress_target
    from services.common.contracts.case import SupplementSupplied

    at = datetime(2026, 11, 25, tzinfo=UTC)
    assert progress_target(SupplementSupplied(occurred_at=at, case_no="C", stage="deferred")) is None
    assert progress_target(SupplementSupplied(occurred_at=at, case_no="C", stage="review")) is ProgressStatus.in_review
