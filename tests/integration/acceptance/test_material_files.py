"""Material file uploads over real HTTP, on a real SQLite file and store directory, with the session broker.

Bodies are built by hand so the tests control every byte a client may send: raw file names (NUL, paths,
GBK), declared part types, extra fields, a body cut off before its closing boundary.
"""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.principal import Role
from tests.conftest import principal_headers

pytestmark = pytest.mark.kafka

FILES = "/api/v1/applications/files"
COUNTY = "320102000000"
CLERK = principal_headers(Role.window_clerk, COUNTY, subject="u-clerk", name="窗口甲")
MAX_BYTES = 64 * 1024  # the store's limit in these tests: big enough for real framing, small to exceed
CJK = re.compile(r"[\u4e00-\u9fff]")


def pdf(marker: str) -> bytes:
    return b"%PDF-1.7\n% " + marker.encode() + b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"


def ofd(marker: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", b'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd='
                                    b'"http://www.ofdspec.org/2016" Version="1.0" DocType="OFD"/>')
        archive.writestr("Doc_0/Document.xml", marker.encode())
    return buffer.getvalue()


PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def multipart(content: bytes, filename: bytes | None = "营业执照.pdf".encode(), part_type: bytes | None = None,
              field: bytes = b"file", before: bytes = b"", complete: bool = True) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body with one part (plus `before`, raw earlier parts) and its Content-Type."""
    boundary = f"zwfw-{uuid.uuid4().hex}".encode()
    disposition = b'form-data; name="' + field + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    head = b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n"
    if part_type is not None:
        head += b"Content-Type: " + part_type + b"\r\n"
    body = before.replace(b"{boundary}", boundary) + head + b"\r\n" + content + b"\r\n--" + boundary
    body += b"--\r\n" if complete else b""
    return body, {"content-type": f"multipart/form-data; boundary={boundary.decode()}"}


@dataclass
class Files:
    client: TestClient
    db: Path
    store: Path

    def upload(self, content: bytes, headers: dict[str, str] | None = None, **options: Any) -> Any:
        body, content_type = multipart(content, **options)
        return self.client.post(FILES, content=body, headers=(CLERK if headers is None else headers) | content_type)

    def rows(self) -> tuple[int, int]:
        with sqlite3.connect(self.db) as conn:
            return (conn.execute("SELECT count(*) FROM material_file").fetchone()[0],
                    conn.execute("SELECT count(*) FROM material_file_name").fetchone()[0])

    def stored(self) -> list[Path]:
        """Every file under the store, temporary ones included."""
        return sorted(p for p in self.store.rglob("*") if p.is_file())


@pytest.fixture
def files(service_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Files]:
    from services.acceptance.main import create_app

    store = service_env / "acceptance-files"
    monkeypatch.setenv("ACCEPTANCE_FILE_STORE", str(store))
    monkeypatch.setenv("ACCEPTANCE_FILE_MAX_BYTES", str(MAX_BYTES))
    with TestClient(create_app()) as client:
        yield Files(client, service_env / "acceptance.db", store)


def _assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem = response.json()
    assert problem["status"] == status and problem["type"].endswith(f"/{slug}"), problem
    assert CJK.search(problem["detail"]), problem
    return problem


def test_a_file_is_stored_once_by_its_hash_and_its_metadata_read_back(files: Files) -> None:
    content = pdf(uuid.uuid4().hex)
    sha256 = hashlib.sha256(content).hexdigest()
    before = datetime.now(UTC)
    first = files.upload(content, part_type=b"application/pdf")
    assert first.status_code == 201, first.text
    assert first.json() == {"sha256": sha256, "size": len(content), "media_type": "application/pdf",
                            "name": "营业执照.pdf"}
    assert first.headers["location"] == f"{FILES}/{sha256}"
    on_disk = files.store / sha256[:2] / sha256[2:4] / sha256
    assert on_disk.read_bytes() == content
    assert files.stored() == [on_disk]  # no temporary file left
    assert files.rows() == (1, 1)

    # The same content under another name, from the platform: stored once, 200, the new name recorded.
    platform = principal_headers(Role.platform, "320000000000", subject="c-province")
    again = files.upload(content, headers=platform, filename="副本.PDF".encode(), part_type=None)
    assert again.status_code == 200, again.text
    assert again.json() == first.json() | {"name": "副本.PDF"}
    assert files.stored() == [on_disk] and files.rows() == (1, 2)

    info = files.client.get(f"{FILES}/{sha256}", headers=principal_headers(Role.approver, COUNTY))
    assert info.status_code == 200, info.text
    body = info.json()
    assert {k: body[k] for k in ("sha256", "size", "media_type")} == {k: first.json()[k] for k in
                                                                      ("sha256", "size", "media_type")}
    uploaded_at = datetime.fromisoformat(body["uploaded_at"])
    assert before - timedelta(seconds=1) <= uploaded_at <= datetime.now(UTC) + timedelta(seconds=1)
    # The county's approver sees the county clerk's name; the province-level upload is beyond the county.
    assert body["name"] == "营业执照.pdf"
    assert files.client.get(f"{FILES}/{sha256}", headers=platform).json()["name"] == "副本.PDF"


def test_each_accepted_type_by_content_whatever_the_client_declares(files: Files) -> None:
    marker = uuid.uuid4().bytes * 4
    cases = [
        (PNG_HEAD + marker, "证件照.png", b"image/png", "image/png"),
        (JPEG_HEAD + marker, "现场照片.JPG", b"application/octet-stream", "image/jpeg"),
        (ofd(marker.hex()), "电子发票.ofd", b"application/ofd", "application/ofd"),
        (pdf(marker.hex()), "C:\\Users\\张三\\Desktop\\申请书.pdf", None, "application/pdf"),
        (pdf(marker.hex() + "2"), "../../etc/passwd", b"application/pdf", "application/pdf"),
        (pdf(marker.hex() + "3"), "身份证\x00复印件.pdf", b"application/pdf", "application/pdf"),
    ]
    names = []
    for content, name, declared, media_type in cases:
        response = files.upload(content, filename=name.encode(), part_type=declared)
        assert response.status_code == 201, (name, response.text)
        assert response.json()["media_type"] == media_type, name
        names.append(response.json()["name"])
    assert names[3:] == ["申请书.pdf", "passwd", "身份证复印件.pdf"]
    # A name in GBK, as older Chinese Windows clients send it, is read as such.
    gbk = files.upload(pdf(marker.hex() + "4"), filename="委托书.pdf".encode("gbk"))
    assert gbk.status_code == 201 and gbk.json()["name"] == "委托书.pdf", gbk.text


def test_refused_uploads_leave_no_file_and_no_row(files: Files) -> None:
    assert files.upload(pdf("first")).status_code == 201  # something a faulty write could disturb
    marker = uuid.uuid4().hex.encode()
    zip_not_ofd = io.BytesIO()
    with zipfile.ZipFile(zip_not_ofd, "w") as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
    other_field = b'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
    refusals: list[tuple[str, dict[str, Any], int, str]] = [
        ("too large, found while streaming", {"content": b"%PDF-1.7\n" + bytes(MAX_BYTES)}, 413, "file-too-large"),
        ("plain text", {"content": b"just words " + marker, "filename": b"a.pdf"}, 415, "unsupported-file-type"),
        ("an executable named .pdf", {"content": b"MZ\x90\x00" + marker}, 415, "unsupported-file-type"),
        ("a zip that is no OFD", {"content": zip_not_ofd.getvalue(), "filename": b"x.ofd"}, 415,
         "unsupported-file-type"),
        ("a PNG named .pdf", {"content": PNG_HEAD + marker, "filename": b"scan.pdf"}, 415, "disguised-file"),
        ("a PDF declared as a PNG", {"content": pdf("x"), "filename": b"scan", "part_type": b"image/png"}, 415,
         "disguised-file"),
        ("a PDF whose NUL hid .exe", {"content": pdf("y"), "filename": b"scan.pdf\x00.exe"}, 415, "disguised-file"),
        ("an empty file", {"content": b""}, 422, "empty-file"),
        ("a name that is only a path", {"content": pdf("z"), "filename": b"../.."}, 422, "file-name"),
        ("no file name", {"content": pdf("z"), "filename": None}, 422, "file-name"),
        ("another field name", {"content": pdf("z"), "field": b"upload"}, 422, "unexpected-field"),
        ("an extra field", {"content": pdf("z"), "before": other_field}, 422, "unexpected-field"),
        ("cut off before the end", {"content": pdf("z"), "complete": False}, 422, "invalid-multipart"),
    ]
    for what, options, status, slug in refusals:
        before = (files.rows(), files.stored())
        problem = _assert_problem(files.upload(**options), status, slug)
        assert (files.rows(), files.stored()) == before, (what, problem)

    before = (files.rows(), files.stored())
    declared_huge = files.client.post(FILES, content=b"x", headers=CLERK | {
        "content-type": "multipart/form-data; boundary=b", "content-length": str(10 * MAX_BYTES)})
    _assert_problem(declared_huge, 413, "file-too-large")  # refused before reading the body
    _assert_problem(files.client.post(FILES, json={"file": "JVBERi0="}, headers=CLERK), 415, "multipart-required")
    body, content_type = multipart(pdf("w"))
    _assert_problem(files.client.post(FILES, content=body, headers=principal_headers(Role.approver, COUNTY)
                                      | content_type), 403, "forbidden")
    _assert_problem(files.client.post(FILES, content=body, headers=content_type), 401, "unauthenticated")
    assert (files.rows(), files.stored()) == before


def test_metadata_is_for_staff_within_the_uploaders_region(files: Files) -> None:
    content = pdf(uuid.uuid4().hex)
    sha256 = files.upload(content).json()["sha256"]
    township_clerk = principal_headers(Role.window_clerk, "320102001000")  # inside the county, not the uploader's
    other_county = principal_headers(Role.window_clerk, "320104000000")
    assert files.client.get(f"{FILES}/{sha256}", headers=CLERK).status_code == 200
    _assert_problem(files.client.get(f"{FILES}/{sha256}", headers=township_clerk), 404, "file-not-found")
    _assert_problem(files.client.get(f"{FILES}/{sha256}", headers=other_county), 404, "file-not-found")
    _assert_problem(files.client.get(f"{FILES}/{'0' * 64}", headers=CLERK), 404, "file-not-found")
    _assert_problem(files.client.get(f"{FILES}/{sha256.upper()}", headers=CLERK), 422, "validation-error")
    _assert_problem(files.client.get(f"{FILES}/{sha256}",
                                     headers=principal_headers(Role.catalogue_admin, COUNTY)), 403, "forbidden")


def test_the_same_new_content_uploaded_at_once_is_stored_once(files: Files) -> None:
    content = pdf(uuid.uuid4().hex)
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda i: files.upload(content, filename=f"第{i}份.pdf".encode()), range(6)))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201], [r.text for r in responses]
    assert len({r.json()["sha256"] for r in responses}) == 1
    assert files.rows() == (1, 6)
    assert len(files.stored()) == 1


def test_staff_of_the_region_download_the_content_as_received(files: Files) -> None:
    content = pdf(uuid.uuid4().hex)
    sha256 = files.upload(content, part_type=b"application/pdf").json()["sha256"]
    approver = principal_headers(Role.approver, COUNTY)
    response = files.client.get(f"{FILES}/{sha256}/content", headers=approver)
    assert response.status_code == 200, response.text
    assert response.content == content and response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "filename*=utf-8''%e8%90%a5%e4%b8%9a" in disposition.lower()
    assert response.headers["x-content-type-options"] == "nosniff" and "sandbox" in response.headers[
        "content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    # As for the metadata: another region, another role or an unknown hash learn nothing.
    other_county = principal_headers(Role.window_clerk, "320104000000")
    _assert_problem(files.client.get(f"{FILES}/{sha256}/content", headers=other_county), 404, "file-not-found")
    _assert_problem(files.client.get(f"{FILES}/{'0' * 64}/content", headers=approver), 404, "file-not-found")
    _assert_problem(files.client.get(f"{FILES}/{sha256}/content",
                                     headers=principal_headers(Role.catalogue_admin, COUNTY)), 403, "forbidden")
