"""Complaint numbers and state machine, rating rules (domain.md §7): pure logic, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.monitoring.domain.complaints import (
    CONTENT_MAX,
    ActionNotAllowed,
    ComplaintAction,
    ComplaintState,
    allowed_actions,
    complaint_number,
    text_problem,
    transition,
)
from services.monitoring.domain.ratings import (
    RatingLevel,
    id_suffix_digest,
    is_bad,
    rating_text_problem,
)


def test_complaint_numbers_carry_the_region_scope_the_day_and_a_sequence() -> None:
    assert complaint_number("320102000000", "20261125", 42) == "TS320102-20261125-00042"
    assert complaint_number("320102001000", "20261125", 1) == "TS320102001-20261125-00001"  # a township
    assert complaint_number("320102001001", "20261125", 1) == "TS320102001001-20261125-00001"  # a village
    assert complaint_number("320000000000", "20261125", 7) == "TS320000-20261125-00007"  # at least 6 digits
    assert complaint_number("320102000000", "20261125", 123456) == "TS320102-20261125-123456"
    with pytest.raises(ValueError):
        complaint_number("320102000000", "2026-11-25", 1)
    with pytest.raises(ValueError):
        complaint_number("320102000000", "20261125", 0)


def test_received_is_transferred_then_answered() -> None:
    state = transition(ComplaintState.received, ComplaintAction.transfer)
    assert state is ComplaintState.transferred
    assert transition(state, ComplaintAction.answer) is ComplaintState.answered


def test_received_may_be_refused_instead() -> None:
    assert transition(ComplaintState.received, ComplaintAction.not_accept) is ComplaintState.not_accepted


@pytest.mark.parametrize(("state", "action", "allowed"), [
    (ComplaintState.received, ComplaintAction.answer, [ComplaintAction.transfer, ComplaintAction.not_accept]),
    (ComplaintState.transferred, ComplaintAction.transfer, [ComplaintAction.answer]),
    (ComplaintState.transferred, ComplaintAction.not_accept, [ComplaintAction.answer]),
    (ComplaintState.answered, ComplaintAction.answer, []),
    (ComplaintState.not_accepted, ComplaintAction.transfer, []),
])
def test_an_act_the_state_does_not_allow_names_what_it_allows(
        state: ComplaintState, action: ComplaintAction, allowed: list[ComplaintAction]) -> None:
    with pytest.raises(ActionNotAllowed) as caught:
        transition(state, action)
    assert caught.value.allowed == allowed
    assert caught.value.state is state
    assert "可执行的操作" in str(caught.value)


@given(st.lists(st.sampled_from(list(ComplaintAction)), max_size=6))
def test_every_sequence_of_acts_stays_on_the_machine(actions: list[ComplaintAction]) -> None:
    state = ComplaintState.received
    for action in actions:
        if action in allowed_actions(state):
            state = transition(state, action)
        else:
            with pytest.raises(ActionNotAllowed):
                transition(state, action)
    # An end state is reached only by its own act, and nothing leaves an end state.
    if state in (ComplaintState.answered, ComplaintState.not_accepted):
        assert allowed_actions(state) == []


def test_text_rules() -> None:
    assert text_problem("投诉内容", "窗口人员态度恶劣", CONTENT_MAX) is None
    assert text_problem("投诉内容", "   ", CONTENT_MAX) == "投诉内容不能为空"
    assert text_problem("投诉内容", "", CONTENT_MAX, required=False) is None
    assert "最多 2000 个字符" in (text_problem("投诉内容", "字" * 2001, CONTENT_MAX) or "")
    assert text_problem("投诉内容", "  " + "字" * 2000 + "  ", CONTENT_MAX) is None  # the ends are trimmed
    assert "控制字符" in (text_problem("投诉内容", "a\x00b", CONTENT_MAX) or "")
    assert "控制字符" in (text_problem("投诉内容", "a\ud800b", CONTENT_MAX) or "")
    assert text_problem("投诉内容", "第一行\n第二行\t完", CONTENT_MAX) is None
    # Markup is text like any other: it is stored and returned as JSON, never rendered.
    assert text_problem("投诉内容", "<script>alert(1)</script>", CONTENT_MAX) is None


def test_four_and_five_are_bad_ratings() -> None:
    assert [is_bad(level) for level in RatingLevel] == [False, False, False, True, True]


def test_a_bad_rating_must_say_why_a_good_one_need_not() -> None:
    assert rating_text_problem(1, "") is None
    assert rating_text_problem(3, "") is None
    assert "差评" in (rating_text_problem(4, "") or "")
    assert "差评" in (rating_text_problem(5, " 慢 ") or "")
    assert rating_text_problem(5, "太慢") is None
    assert "最多 500" in (rating_text_problem(2, "好" * 501) or "")


def test_the_id_suffix_digest_matches_the_whole_number_and_its_tail_in_either_case() -> None:
    whole = id_suffix_digest("320102-20261125-00001", "11010519491231002X")
    assert whole == id_suffix_digest("320102-20261125-00001", "31002x")
    assert whole != id_suffix_digest("320102-20261125-00002", "31002X")  # salted with the case
    assert whole != id_suffix_digest("320102-20261125-00001", "31002Y")
