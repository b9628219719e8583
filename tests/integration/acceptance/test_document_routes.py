"""The printable documents over real HTTP, a real SQLite file and the session broker: an application is
submitted through the API, then its receipt, notice or refusal is fetched as HTML."""

# ruff: noqa: F811 (the imported fixture is a parameter of the tests)

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from services.common.principal import Role
from tests.conftest import principal_headers
from tests.integration.acceptance.test_acceptance_api import (  # noqa: F401 (the fixture)
    CLERK,
    COMPLETE,
    COUNTY,
    PERSON,
    Acceptance,
    _assert_problem,
    acceptance,
)
from tests.unit.acceptance.test_documents import text_of

pytestmark = pytest.mark.kafka

OTHER_COUNTY = principal_headers(Role.window_clerk, "320104000000", subject="u-far", name="外区窗口")
APPROVER = principal_headers(Role.approver, COUNTY, subject="u-approver", name="审查员")


def _document(svc: Acceptance, case_no: str, kind: str, headers: dict[str, str] = CLERK) -> Any:
    return svc.client.get(f"/api/v1/applications/{case_no}/documents/{kind}", headers=headers)


def _html(response: Any) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"  # personal data: no cached copies
    assert response.text.startswith("<!DOCTYPE html>")
    return text_of(response.text)


def _chinese(iso_day: str) -> str:
    day = date.fromisoformat(iso_day)
    return f"{day.year}年{day.month}月{day.day}日"


def _submitted(svc: Acceptance, **changes: Any) -> dict[str, Any]:
    response = svc.submit(svc.application(**changes))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_receipt_of_an_accepted_case(acceptance: Acceptance) -> None:
    body = _submitted(acceptance, applicant=PERSON)
    case_no = body["case_no"]
    text = _html(_document(acceptance, case_no, "receipt"))
    for shown in ("受理凭证", f"文书编号：{body['document_no']}", case_no, "食品经营许可", "欧阳小明",
                  "1101**********002X", "申请书", "经营者身份证明", "经营场所证明",
                  _chinese(body["promised_due_date"]), "/api/v1/applications/progress", "窗口甲",
                  "县级政务服务中心综合窗口", "区行政审批局印章"):
        assert shown in text, shown
    assert "11010519491231002X" not in text

    # A notice was never issued for this case: 404 naming the documents it has.
    problem = _assert_problem(_document(acceptance, case_no, "supplement-notice"), 404)
    assert problem["type"].endswith("/document-not-applicable")
    assert problem["applicable_kinds"] == ["receipt"] and "受理凭证" in problem["detail"]
    problem = _assert_problem(_document(acceptance, case_no, "no-such-document"), 404)
    assert problem["applicable_kinds"] == ["receipt"]


def test_notice_lists_everything_missing(acceptance: Acceptance) -> None:
    body = _submitted(acceptance, materials=[{"code": "M01", "originals": 1},
                                             {"code": "M02", "originals": 0, "copies": 0}])
    case_no = body["case_no"]
    text = _html(_document(acceptance, case_no, "supplement-notice"))
    for shown in ("补正材料一次性告知书", body["document_no"], "经营者身份证明",
                  "原件需1份，已交0份；复印件需1份，已交0份", "经营场所证明", "未提交", "共 2 项",
                  "第三十二条第一款第（四）项", "南京某某餐饮有限公司", "91110000600037341L"):
        assert shown in text, shown
    problem = _assert_problem(_document(acceptance, case_no, "receipt"), 404)
    assert problem["applicable_kinds"] == ["supplement-notice"]


def test_refusal_names_reason_agency_and_remedies(acceptance: Acceptance) -> None:
    refusal = {"reason": "该事项不属于本机关职权范围",
               "legal_basis": "《中华人民共和国行政许可法》第三十二条第一款第二项",
               "competent_agency": "南京市市场监督管理局"}
    body = _submitted(acceptance, refusal=refusal, applicant=PERSON)
    text = _html(_document(acceptance, body["case_no"], "refusal"))
    for shown in ("不予受理决定书", f"BY{body['case_no']}", *refusal.values(), "11010519491231002X",
                  "六十日内", "行政复议", "六个月内", "行政诉讼"):
        assert shown in text, shown


def test_correction_and_deferral_documents(acceptance: Acceptance) -> None:
    corrections = [{"field": "申请书·经营场所", "before": "玄武区中山路1号", "after": "秦淮区中山路1号"}]
    body = _submitted(acceptance, corrections=corrections)
    problem = _assert_problem(_document(acceptance, body["case_no"], "refusal"), 404)
    assert problem["applicable_kinds"] == ["receipt", "correction"]
    text = _html(_document(acceptance, body["case_no"], "correction"))
    assert "玄武区中山路1号" in text and "秦淮区中山路1号" in text

    due = date.today() + timedelta(days=7)
    body = _submitted(acceptance, materials=COMPLETE[:2],  # M04 经营场所证明 promised
                      deferral={"materials": ["M04"], "due_date": due.isoformat(), "promise_ref": "CN-0042"})
    assert body["outcome"] == "deferred", body
    text = _html(_document(acceptance, body["case_no"], "deferral-promise"))
    assert "容缺受理承诺书" in text and "CN-0042" in text and "经营场所证明" in text
    assert f"{_chinese(due.isoformat())}前" in text


def test_escaped_over_http(acceptance: Acceptance) -> None:
    evil = "<script>alert(1)</script>南京某某"
    body = _submitted(acceptance, refusal={"reason": evil, "competent_agency": evil})
    response = _document(acceptance, body["case_no"], "refusal")
    assert evil in _html(response) and "<script" not in response.text


def test_only_clerks_of_the_case_region(acceptance: Acceptance) -> None:
    case_no = _submitted(acceptance)["case_no"]
    problem = _assert_problem(_document(acceptance, case_no, "receipt", OTHER_COUNTY), 404)
    assert problem["type"].endswith("/case-not-found")  # as for a case that does not exist
    problem = _assert_problem(_document(acceptance, "320102001-20000101-99999", "receipt"), 404)
    assert problem["type"].endswith("/case-not-found")
    _assert_problem(_document(acceptance, case_no, "receipt", APPROVER), 403)
