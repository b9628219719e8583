from __future__ import annotations

from datetime import date

import pytest

from services.acceptance.domain.identifiers import resident_id_problem, uscc_problem
from services.acceptance.domain.model import SubmittedMaterial, case_number, missing_materials
from services.common.contracts.catalogue import MaterialSpec

TODAY = date(2026, 11, 25)


def test_resident_id_checks() -> None:
    assert resident_id_problem("11010519491231002X", TODAY) is None
    assert "校验码" in (resident_id_problem("110105194912310021", TODAY) or "")
    assert "出生日期" in (resident_id_problem("110105194902300020", TODAY) or "")
    assert resident_id_problem("11010519491231002", TODAY) is not None


@pytest.mark.parametrize("code", ["91110000600037341L"])
def test_uscc_valid(code: str) -> None:
    assert uscc_problem(code) is None


def test_uscc_invalid() -> None:
    assert uscc_problem("91110000600037341A") is not None
    assert uscc_problem("9111000060003734IL") is not None  # I is not in the alphabet


def test_every_missing_material_is_listed_at_once() -> None:
    specs = [
        MaterialSpec(code="M01", name="申请书", originals=1, copies=0),
        MaterialSpec(code="M02", name="身份证", originals=1, copies=1),
        MaterialSpec(code="M03", name="场所证明", originals=0, copies=1),
        MaterialSpec(code="M04", name="委托书", required=False),
    ]
    got = missing_materials(specs, [SubmittedMaterial("M02", 1, 0)])
    assert [(s.code, s.reason) for s in got] == [
        ("M01", "未提交"), ("M02", "复印件需1份，已交0份"), ("M03", "未提交"),
    ]


def test_case_number_is_readable() -> None:
    assert case_number("320102", "20261125", 42) == "320102-20261125-00042"
