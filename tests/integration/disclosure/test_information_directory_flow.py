"""主动公开目录 and the annual report over real HTTP on a real SQLite file (the service started against the
session broker): categories, publish / amend / withdraw, revisions, attachments with their hash, search,
region scoping, and the report as JSON and printable HTML."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.principal import PrincipalKind, Role
from services.common.workdays import SHANGHAI
from tests.conftest import principal_headers

pytestmark = pytest.mark.kafka

REGION = "320102000000"
BODY = "玄武区人民政府办公室"
OFFICER = principal_headers(Role.disclosure_officer, REGION, subject="officer-1")
OTHER_COUNTY = principal_headers(Role.disclosure_officer, "320104000000", subject="officer-2")
ADMIN = principal_headers(Role.catalogue_admin, REGION)
PUBLIC = principal_headers(Role.public, "", kind=PrincipalKind.public, subject="anonymous")
API = "/api/v1/information"
PDF = "%PDF-1.4\n% 玄武区政府信息公开测试附件\n".encode()


def _document(**changes: Any) -> dict[str, Any]:
    body = {"region_code": REGION, "category_code": "0101", "title": "关于印发玄武区老旧小区改造实施办法的通知",
            "issuing_body": BODY, "document_number": "玄政办发〔2026〕3号", "issue_date": "2026-03-02",
            "valid_from": "2026-03-02", "kind": "normative", "body_text": "第一条 为推进老旧小区改造……"}
    return body | changes


def _problem(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/" + slug), response.json()


def test_directory_and_annual_report(service_env: Path) -> None:
    from services.disclosure.main import create_app

    with TestClient(create_app()) as client:
        for category in ({"code": "01", "name": "政策文件"},
                         {"code": "0101", "name": "规范性文件", "parent_code": "01"},
                         {"code": "02", "name": "财政信息"}):
            created = client.post(f"{API}/categories", headers=OFFICER, json={"region_code": REGION} | category)
            assert created.status_code == 201, created.text
        _problem(client.post(f"{API}/categories", headers=OFFICER,
                             json={"region_code": REGION, "code": "01", "name": "x"}), 409, "category-exists")
        _problem(client.post(f"{API}/categories", headers=OFFICER,
                             json={"region_code": REGION, "code": "03", "name": "x", "parent_code": "99"}),
                 422, "parent-not-found")
        _problem(client.post(f"{API}/categories", headers=PUBLIC,
                             json={"region_code": REGION, "code": "04", "name": "x"}), 401, "unauthenticated")
        tree = client.get(f"{API}/categories", headers=PUBLIC, params={"region_code": REGION}).json()["items"]
        assert [c["path"] for c in tree] == [["政策文件"], ["政策文件", "规范性文件"], ["财政信息"]]

        # ---- publish, with an attachment whose hash the service computes and checks ----
        _problem(client.post(f"{API}/documents", headers=ADMIN, json=_document()), 403, "forbidden")
        _problem(client.post(f"{API}/documents", headers=OTHER_COUNTY, json=_document()), 403, "region-out-of-scope")
        _problem(client.post(f"{API}/documents", headers=OFFICER, json=_document(unknown=1)), 422, "validation-error")
        _problem(client.post(f"{API}/documents", headers=OFFICER, json=_document(title="x" * 301)),
                 422, "validation-error")
        attachment = {"filename": "实施办法.pdf", "media_type": "application/pdf",
                      "content_base64": base64.b64encode(PDF).decode()}
        _problem(client.post(f"{API}/documents", headers=OFFICER,
                             json=_document(attachment=attachment | {"sha256": "0" * 64})),
                 422, "attachment-hash-mismatch")
        published = client.post(f"{API}/documents", headers=OFFICER, json=_document(attachment=attachment))
        assert published.status_code == 201, published.text
        doc = published.json()
        doc_id = doc["doc_id"]
        assert doc["attachment"]["sha256"] == hashlib.sha256(PDF).hexdigest()
        assert doc["category_path"] == ["政策文件", "规范性文件"] and doc["validity_label"] == "有效"
        download = client.get(doc["attachment"]["url"], headers=PUBLIC)
        assert download.status_code == 200 and download.content == PDF
        assert download.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
        other = client.post(f"{API}/documents", headers=OFFICER, json=_document(
            category_code="02", title="2026年玄武区财政预算", document_number="", kind="other",
            body_text="一般公共预算收入……"))
        assert other.status_code == 201, other.text

        # ---- amend: a new revision with its reason; the first stays readable ----
        _problem(client.post(f"{API}/documents/{doc_id}/amend", headers=OTHER_COUNTY,
                             json={"reason": "x", "content": _document(title="y") | {"region_code": None}}),
                 422, "validation-error")
        repeal = _document(validity="repealed", title="关于废止玄武区老旧小区改造实施办法的通知")
        content = {k: v for k, v in repeal.items() if k != "region_code"}
        _problem(client.post(f"{API}/documents/{doc_id}/amend", headers=OTHER_COUNTY,
                             json={"reason": "废止", "content": content}), 404, "document-not-found")
        amended = client.post(f"{API}/documents/{doc_id}/amend", headers=OFFICER,
                              json={"reason": "依据新规定废止", "content": content})
        assert amended.status_code == 200, amended.text
        assert (amended.json()["revision"], amended.json()["validity_label"]) == (2, "废止")
        first = client.get(f"{API}/documents/{doc_id}/revisions/1", headers=PUBLIC).json()
        assert first["title"] == "关于印发玄武区老旧小区改造实施办法的通知" and first["current_revision"] == 2
        assert [r["reason"] for r in first["revisions"]] == ["", "依据新规定废止"]

        # ---- search: title, 文号 and body; category subtree; issuing body; period; validity ----
        def search(**params: Any) -> list[str]:
            response = client.get(f"{API}/search", headers=PUBLIC, params=params)
            assert response.status_code == 200, response.text
            return [i["doc_id"] for i in response.json()["items"]]

        today = datetime.now(SHANGHAI).date().isoformat()
        assert search(q="玄政办发〔2026〕3号") == [doc_id]
        assert search(q="一般公共预算") == [other.json()["doc_id"]]
        assert search(category_code="01", region_code=REGION) == [doc_id]
        assert search(issuing_body="玄武区人民政府", **{"from": today, "to": today}) == [other.json()["doc_id"], doc_id]
        assert search(**{"from": "2020-01-01", "to": "2020-12-31"}) == []
        assert search(validity="repealed") == [doc_id]
        assert search(region_code="320104000000") == []
        _problem(client.get(f"{API}/search", headers=PUBLIC, params={"from": today, "to": "2020-01-01"}),
                 400, "bad-date-range")

        # ---- withdraw: off every public list; the officer still sees it ----
        _problem(client.post(f"{API}/documents/{doc_id}/withdraw", headers=OFFICER, json={}), 422, "validation-error")
        withdrawn = client.post(f"{API}/documents/{doc_id}/withdraw", headers=OFFICER, json={"reason": "重复发布"})
        assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
        _problem(client.post(f"{API}/documents/{doc_id}/withdraw", headers=OFFICER, json={"reason": "再次"}),
                 409, "document-withdrawn")
        assert doc_id not in search(q="玄武区")
        assert doc_id not in [i["doc_id"] for i in client.get(f"{API}/documents", headers=PUBLIC).json()["items"]]
        _problem(client.get(f"{API}/documents/{doc_id}", headers=PUBLIC), 404, "document-not-found")
        _problem(client.get(doc["attachment"]["url"], headers=PUBLIC), 404, "document-not-found")
        assert client.get(f"{API}/documents/{doc_id}", headers=OFFICER).json()["withdraw_reason"] == "重复发布"

        # ---- the annual report: JSON and a printable page ----
        year = datetime.now(SHANGHAI).year
        params = {"region_code": REGION, "agency": BODY}
        report = client.get(f"{API}/annual-reports/{year}", headers=PUBLIC, params=params)
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["title"] == f"{BODY}{year}年政府信息公开工作年度报告"
        assert body["proactive"]["documents_published"] == 2
        assert body["review_and_litigation"]["no_data"] is True
        page = client.get(f"{API}/annual-reports/{year}/html", headers=PUBLIC, params=params)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "三、收到和处理政府信息公开申请情况" in page.text and "行政复议" in page.text
        _problem(client.get(f"{API}/annual-reports/{year}", headers=PUBLIC, params={"region_code": REGION}),
                 422, "validation-error")
