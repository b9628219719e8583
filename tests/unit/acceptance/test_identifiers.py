"""公民身份号码 (GB 11643-1999) and 统一社会信用代码 (GB 32100-2015): valid numbers, each kind of invalid one,
and the property that a single changed character is always caught.

Every number here is made up: check characters are computed, none belongs to a real person or organisation
except the standard's own published examples from domain.md."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.acceptance.api.schemas import AgentIn, ApplicantIn
from services.acceptance.domain.identifiers import (
    PROVINCE_CODES,
    USCC_CATEGORIES,
    USCC_CHARS,
    normalise_resident_id,
    organisation_code_check_char,
    resident_id_check_char,
    resident_id_problem,
    uscc_check_char,
    uscc_problem,
)

TODAY = date(2026, 11, 25)


def resident_id(region: str, born: date, sequence: str) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    return first17 + resident_id_check_char(first17)


def uscc(authority: str, category: str, region: str, organisation_body: str) -> str:
    organisation = organisation_body + organisation_code_check_char(organisation_body)
    first17 = f"{authority}{category}{region}{organisation}"
    return first17 + uscc_check_char(first17)


# Made-up numbers, built with the check characters computed above; the expected digits are spelled out once
# so the computation itself is checked against hand-worked values.
MADE_UP_IDS = ["320102199003071239", "320102200111114561", "44030520000229007X", "650102190001010016"]
MADE_UP_CODES = ["91320102MA1XY2C304", "52110000MJ0000018W", "Y1320102000000000C", "N2320115M00000019P",
                 "A1320102000000019X", "11100000000013127D"]


def test_made_up_numbers_were_computed_as_the_standards_say() -> None:
    assert resident_id("320102", date(1990, 3, 7), "123") == "320102199003071239"
    assert resident_id("320102", date(2001, 11, 11), "456") == "320102200111114561"
    assert resident_id("440305", date(2000, 2, 29), "007") == "44030520000229007X"  # a leap day
    assert uscc("9", "1", "320102", "MA1XY2C3") == "91320102MA1XY2C304"
    # GB 11714 worked by hand: 6·3 + 3·5 + 7·8 + 3·4 + 4·2 = 109, 109 mod 11 = 10, 11 − 10 = 1.
    assert organisation_code_check_char("60003734") == "1"


@pytest.mark.parametrize("number", ["11010519491231002X", *MADE_UP_IDS])
def test_valid_resident_ids(number: str) -> None:
    assert resident_id_problem(number, TODAY) is None


@pytest.mark.parametrize("code", ["91110000600037341L", "91350100M000100Y43", *MADE_UP_CODES])
def test_valid_credit_codes(code: str) -> None:
    assert uscc_problem(code) is None


def test_lower_case_x_is_normalised_not_refused() -> None:
    assert normalise_resident_id(" 11010519491231002x ") == "11010519491231002X"
    assert resident_id_problem(normalise_resident_id("11010519491231002x"), TODAY) is None
    assert resident_id_problem("11010519491231002x", TODAY) is not None  # only after normalising


@pytest.mark.parametrize(("number", "why"), [
    ("1101051949123100", "18位"),  # too short
    ("11010519491231002XX", "18位"),
    ("11010519491231002Y", "18位"),
    ("1101051949123I002X", "18位"),
    ("１１０１０５１９４９１２３１００２X", "18位"),  # full-width digits
    (resident_id("990102", date(1990, 3, 7), "123"), "省级行政区划代码"),
    (resident_id("000000", date(1990, 3, 7), "123"), "省级行政区划代码"),
    ("320102199002300011", "不是有效日期"),  # 30 February
    ("320102199013010011", "不是有效日期"),
    ("320102200102290011", "不是有效日期"),  # 2001 is no leap year
    (resident_id("320102", TODAY + timedelta(days=1), "123"), "晚于今天"),
    (resident_id("320102", date(1899, 12, 31), "123"), "早于1900年"),
    ("320102199003071238", "校验码"),
    ("11010519491231002", "18位"),
])
def test_invalid_resident_ids_say_why(number: str, why: str) -> None:
    problem = resident_id_problem(number, TODAY)
    assert problem is not None and why in problem, problem


def test_born_today_is_valid() -> None:
    assert resident_id_problem(resident_id("320102", TODAY, "001"), TODAY) is None


@pytest.mark.parametrize(("code", "why"), [
    ("9111000060003734", "18位"),
    ("91110000600037341l", "18位"),  # lower case is refused by the check (the API upper-cases first)
    ("9111000060003734IL", "18位"),
    ("9O110000600037341L", "18位"),
    (uscc("B", "1", "320102", "MA1XY2C3"), "登记管理部门代码"),
    (uscc("9", "4", "320102", "MA1XY2C3"), "机构类别代码"),
    (uscc("9", "9", "320102", "MA1XY2C3"), "工商登记管理部门的机构类别代码"),  # 工商 has no 9
    (uscc("Y", "2", "320102", "MA1XY2C3"), "机构类别代码"),  # 其他 uses 1 only
    (uscc("9", "1", "990102", "MA1XY2C3"), "行政区划代码"),
    (uscc("9", "1", "3201A2", "MA1XY2C3"), "行政区划代码"),
    ("91320102MA1XY2C31" + uscc_check_char("91320102MA1XY2C31"), "组织机构代码校验码"),
    ("91320102MA1XY2C30A", "统一社会信用代码校验码不正确"),
])
def test_invalid_credit_codes_say_why(code: str, why: str) -> None:
    problem = uscc_problem(code)
    assert problem is not None and why in problem, problem


def test_every_authority_and_category_of_the_standard_is_accepted() -> None:
    for authority, categories in USCC_CATEGORIES.items():
        for category in categories:
            assert uscc_problem(uscc(authority, category, "320102", "MA1XY2C3")) is None, (authority, category)
    assert len(PROVINCE_CODES) == 34 and {"71", "81", "82"} <= PROVINCE_CODES.keys()


DIGITS = "0123456789"
# Six-digit region codes under a real province (the city and county digits are not checked).
regions = st.builds(lambda p, rest: p + rest, st.sampled_from(sorted(PROVINCE_CODES)),
                    st.text(alphabet=DIGITS, min_size=4, max_size=4))
# Valid numbers drawn at random: any province, birth day from 1900 to TODAY, sequence, check computed.
resident_ids = st.builds(
    resident_id,
    regions,
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.text(alphabet=DIGITS, min_size=3, max_size=3),
)
credit_codes = st.sampled_from([(a, c) for a, cs in USCC_CATEGORIES.items() for c in cs]).flatmap(
    lambda ac: st.builds(
        uscc, st.just(ac[0]), st.just(ac[1]),
        regions,
        st.text(alphabet=USCC_CHARS, min_size=8, max_size=8),
    ))


@given(resident_ids)
def test_generated_resident_ids_are_valid(number: str) -> None:
    assert resident_id_problem(number, TODAY) is None


@given(resident_ids, st.integers(0, 17), st.integers(1, 10))
def test_a_resident_id_with_one_character_changed_is_refused(number: str, position: int, shift: int) -> None:
    alphabet = "0123456789X" if position == 17 else "0123456789"
    changed = alphabet[(alphabet.index(number[position]) + shift) % len(alphabet)]
    if changed == number[position]:  # shift of a whole turn on the 10-digit positions
        changed = alphabet[(alphabet.index(number[position]) + 1) % len(alphabet)]
    altered = number[:position] + changed + number[position + 1:]
    assert altered != number
    assert resident_id_problem(altered, TODAY) is not None


@given(credit_codes)
def test_generated_credit_codes_are_valid(code: str) -> None:
    assert uscc_problem(code) is None


@given(credit_codes, st.integers(0, 17), st.integers(1, len(USCC_CHARS) - 1))
def test_a_credit_code_with_one_character_changed_is_refused(code: str, position: int, shift: int) -> None:
    changed = USCC_CHARS[(USCC_CHARS.index(code[position]) + shift) % len(USCC_CHARS)]
    altered = code[:position] + changed + code[position + 1:]
    assert altered != code
    assert uscc_problem(altered) is not None


def _errors(model: type[ApplicantIn] | type[AgentIn], **data: str) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["type"], e["msg"]) for e in caught.value.errors()]


def test_the_api_bodies_check_and_normalise_identities_of_applicants_and_agents() -> None:
    person = ApplicantIn(applicant_type="1", name="测试甲", id_type="resident_id", id_number="44030520000229007x")
    assert person.id_number == "44030520000229007X"
    company = ApplicantIn(applicant_type="2", name="测试公司", id_type="uscc", id_number="91320102ma1xy2c304")
    assert company.id_number == "91320102MA1XY2C304"
    assert AgentIn(name="代办员", id_number="320102199003071239").id_number == "320102199003071239"

    [(field, code, message)] = _errors(ApplicantIn, applicant_type="1", name="甲", id_type="resident_id",
                                       id_number="320102199003071238")
    assert (field, code) == ("id_number", "resident_id") and "校验码" in message
    [(field, code, message)] = _errors(ApplicantIn, applicant_type="2", name="乙", id_type="uscc",
                                       id_number="91320102MA1XY2C30A")
    assert (field, code) == ("id_number", "uscc") and "校验码" in message
    [(field, _, message)] = _errors(ApplicantIn, applicant_type="2", name="乙", id_type="resident_id",
                                    id_number="320102199003071239")
    assert field == "id_type" and "自然人" in message
    [(field, code, message)] = _errors(AgentIn, name="代办员", id_number="990102199003071239")
    assert (field, code) == ("id_number", "resident_id") and "行政区划" in message
