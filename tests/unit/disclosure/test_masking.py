"""Applicants are masked before disclosure keeps anything about them (domain.md §5)."""

from __future__ import annotations

import pytest

from services.common.contracts.payloads import Applicant
from services.disclosure.domain.masking import (
    UNKNOWN,
    MaskedApplicant,
    mask_applicant,
    mask_id_number,
    mask_name,
    mask_phone,
)


@pytest.mark.parametrize(("raw", "masked"), [
    ("张三", "张*"),
    ("张小三", "张*三"),
    ("欧阳小明", "欧**明"),
    ("买买提·艾力", "买****力"),
    ("王", "*"),
    (" 李四 ", "李*"),
])
def test_name_keeps_first_and_last_character(raw: str, masked: str) -> None:
    assert mask_name(raw) == masked


def test_resident_id_keeps_first_four_and_last_four() -> None:
    assert mask_id_number("32010219900101123X") == "3201**********123X"
    assert mask_id_number("32010219900101123x") == "3201**********123X"


def test_short_numbers_are_hidden_entirely() -> None:
    assert mask_id_number("12345678") == "********"
    assert mask_phone("1234567") == "*******"


def test_phone_keeps_first_three_and_last_four() -> None:
    assert mask_phone("13812345678") == "138****5678"


def test_natural_person_is_masked_everywhere() -> None:
    applicant = Applicant(applicant_type="1", name="张小三", id_type="resident_id", id_number="11010519491231002X",
                          phone="13812345678")
    masked = mask_applicant(applicant)
    assert masked == MaskedApplicant("1", "张*三", "1101**********002X", "138****5678")
    assert "11010519491231002X" not in repr(masked)


def test_organisation_keeps_name_and_credit_code() -> None:
    applicant = Applicant(applicant_type="2", name="南京某某科技有限公司", id_type="uscc",
                          id_number="91110000600037341L", phone="02584001234")
    masked = mask_applicant(applicant)
    assert masked.name == "南京某某科技有限公司"
    assert masked.id_number == "91110000600037341L"
    assert masked.phone == "025****1234"


def test_unknown_applicant_shows_a_dash() -> None:
    assert MaskedApplicant.unknown().name == UNKNOWN == "—"
