"""The printable documents as PDF over real HTTP, a real SQLite file and the session broker: an application is
submitted through the API, then its receipt or 一次性告知书 is fetched with ?format=pdf and read back."""

# ruff: noqa: F811 (the imported fixture is a parameter of the tests)

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.acceptance.test_acceptance_api import (  # noqa: F401 (the fixture)
    CLERK,
    PERSON,
    Acceptance,
    _assert_problem,
    acceptance,
)
from tests.integration.acceptance.test_document_routes import OTHER_COUNTY, _document, _html, _submitted
from tests.unit.acceptance.test_documents_pdf import pdf_facts

pytestmark = pytest.mark.kafka
PATH = "/api/v1/applications/{case_no}/documents/{kind}"


def _pdf(svc: Acceptance, case_no: str, kind: str, document_no: str) -> str:
    response = svc.client.get(PATH.format(case_no=case_no, kind=kind), params={"format": "pdf"}, headers=CLERK)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"  # personal data: no cached copies
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == f'inline; filename="{document_no}.pdf"'
    assert response.content.startswith(b"%PDF-")
    text, _ = pdf_facts(response.content)  # fails unless the fonts are the CJK font, embedded as subsets
    return text


def test_receipt_as_pdf(acceptance: Acceptance) -> None:
    body = _submitted(acceptance, applicant=PERSON)
    case_no, document_no = body["case_no"], body["document_no"]
    text = _pdf(acceptance, case_no, "receipt", document_no)
    for shown in ("受理凭证", f"文书编号：{document_no}", case_no, "欧阳小明", "食品经营许可", "1101**********002X",
                  "区行政审批局印章"):
        assert shown in text, shown
    assert "11010519491231002X" not in text

    # The default and ?format=html are the page as before; Accept does not choose the format (one URL, one body).
    for params, headers in (({}, CLERK), ({"format": "html"}, CLERK), ({}, CLERK | {"Accept": "application/pdf"})):
        response = acceptance.client.get(PATH.format(case_no=case_no, kind="receipt"), params=params,
                                         headers=headers)
        assert "受理凭证" in _html(response)

    # A document the case does not have is 404 in either format.
    problem = _assert_problem(acceptance.client.get(PATH.format(case_no=case_no, kind="supplement-notice"),
                                                    params={"format": "pdf"}, headers=CLERK), 404)
    assert problem["applicable_kinds"] == ["receipt"]


def test_supplement_notice_as_pdf(acceptance: Acceptance) -> None:
    body = _submitted(acceptance, materials=[{"code": "M01", "originals": 1},
                                             {"code": "M02", "originals": 0, "copies": 0}])
    assert body["outcome"] == "supplement_requested", body
    text = _pdf(acceptance, body["case_no"], "supplement-notice", body["document_no"])
    for shown in ("补正材料一次性告知书", body["case_no"], body["document_no"], "南京某某餐饮有限公司",
                  "经营者身份证明", "经营场所证明", "共2项", "第三十二条第一款第（四）项"):
        assert shown in text, shown


def test_unknown_format_is_a_problem(acceptance: Acceptance) -> None:
    case_no = _submitted(acceptance)["case_no"]
    for unknown in ("docx", "PDF", ""):
        response = acceptance.client.get(PATH.format(case_no=case_no, kind="receipt"), params={"format": unknown},
                                         headers=CLERK)
        problem = _assert_problem(response, 422)
        assert problem["type"].endswith("/unknown-document-format"), problem
        assert problem["format"] == unknown and problem["formats"] == ["html", "pdf"]


def test_openapi_names_both_formats(acceptance: Acceptance) -> None:
    operation: dict[str, Any] = acceptance.client.get("/openapi.json").json()["paths"][
        "/api/v1/applications/{case_no}/documents/{kind}"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"text/html", "application/pdf"}
    assert "422" in operation["responses"]
    (format_param,) = (p for p in operation["parameters"] if p["name"] == "format")
    assert format_param["in"] == "query" and format_param["schema"]["enum"] == ["html", "pdf"]


def test_other_region_gets_no_pdf(acceptance: Acceptance) -> None:
    case_no = _submitted(acceptance)["case_no"]
    problem = _assert_problem(_document(acceptance, case_no, "receipt?format=pdf", OTHER_COUNTY), 404)
    assert problem["type"].endswith("/case-not-found")
