"""The material file store: type sniffing by content, disguised files, safe names, and the store's promise
that only complete, accepted files are ever published (on a temporary directory)."""

from __future__ import annotations

import hashlib
import io
import os
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.acceptance.adapters.file_store import (
    JPEG,
    MAX_NAME_CHARS,
    OFD,
    OFD_XML_MAX_BYTES,
    PDF,
    PNG,
    FileRefused,
    FileStore,
    contradiction,
    is_ofd,
    safe_display_name,
    sniff,
)

PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64) + b"\xff\xd9"
OFD_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" '
           b'Version="1.0" DocType="OFD"><ofd:DocBody/></ofd:OFD>')


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


OFD_BYTES = zip_bytes({"OFD.xml": OFD_XML, "Doc_0/Document.xml": b"<ofd:Document/>"})


def test_types_are_sniffed_from_the_first_bytes() -> None:
    assert sniff(PDF_BYTES[:8]) == PDF
    assert sniff(PNG_BYTES[:8]) == PNG
    assert sniff(JPEG_BYTES[:8]) == JPEG
    assert sniff(OFD_BYTES[:8]) == OFD  # a candidate: is_ofd decides
    for other in (b"", b"GIF89a", b"MZ\x90\x00", b"<html>", b"\x89PNG\r\n", b" %PDF-1.7", b"PK\x05\x06"):
        assert sniff(other) is None, other


def test_an_ofd_is_a_zip_with_ofd_xml_at_its_root(tmp_path: Path) -> None:
    def check(content: bytes) -> bool:
        path = tmp_path / "candidate"
        path.write_bytes(content)
        return is_ofd(path)

    assert check(OFD_BYTES)
    assert check(zip_bytes({"OFD.xml": b"<OFD Version='1.0'></OFD>"}))  # no namespace prefix
    assert not check(zip_bytes({"word/document.xml": b"<w:document/>"}))  # a .docx, say
    assert not check(zip_bytes({"Doc/OFD.xml": OFD_XML}))  # not at the root
    assert not check(zip_bytes({"OFD.xml": b"<?xml version='1.0'?><html/>"}))  # not an OFD root element
    assert not check(OFD_BYTES[: len(OFD_BYTES) // 2])  # truncated: no central directory
    assert not check(b"PK\x03\x04" + os.urandom(200))
    # A bomb: a megabyte and more of zeros deflates to a few kilobytes, and is refused without inflating it all.
    bomb = zip_bytes({"OFD.xml": b"<ofd:OFD>" + bytes(OFD_XML_MAX_BYTES)})
    assert len(bomb) < 10_000 and not check(bomb)


@pytest.mark.parametrize(("media_type", "declared", "name", "why"), [
    (PDF, "application/pdf", "营业执照.pdf", None),
    (PDF, "Application/PDF; charset=binary", "营业执照.PDF", None),
    (PDF, "application/octet-stream", "scan", None),
    (PDF, None, "张三.身份证", None),  # no extension to contradict
    (JPEG, "image/jpg", "photo.jpeg", None),
    (OFD, "application/zip", "发票.ofd", None),
    (PNG, "application/pdf", "x.png", "声明的类型"),
    (PNG, "image/png", "x.pdf", "扩展名 .pdf"),
    (PDF, "text/plain", "x.pdf", "声明的类型"),
    (PDF, "application/pdf", "evil.pdf.exe", "扩展名 .exe"),
    (OFD, "application/ofd", "发票.zip", "扩展名 .zip"),
])
def test_a_declared_type_or_extension_must_not_contradict_the_content(
        media_type: str, declared: str | None, name: str, why: str | None) -> None:
    problem = contradiction(media_type, declared, name)
    assert (problem is None) if why is None else (problem is not None and why in problem), problem


@pytest.mark.parametrize(("raw", "safe"), [
    ("营业执照（副本）.pdf", "营业执照（副本）.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\x\\y.pdf", "y.pdf"),
    ("\\\\server\\share\\张三.jpg", "张三.jpg"),
    ("evil.pdf\x00.exe", "evil.pdf.exe"),
    ("a\x01b\x7fc\nd\r.png", "abcd.png"),
    ("\u202efdp.exe", "fdp.exe"),  # right-to-left override made it read "exe.pdf"
    ("what?<is>:this|*\".pdf", "whatisthis.pdf"),
    ("  ..hidden.pdf. ", "hidden.pdf"),
    ("a\u3000\u3000b.pdf", "a b.pdf"),  # ideographic spaces collapse
    ("CON.pdf", "_CON.pdf"),
    ("nul", "_nul"),
    ("e\u0301.pdf", "é.pdf"),  # NFC
    ("..", ""),
    ("/", ""),
    ("\x00\x00", ""),
])
def test_display_names_are_made_safe(raw: str, safe: str) -> None:
    assert safe_display_name(raw) == safe


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = safe_display_name("很" * 300 + ".pdf")
    assert len(name) == MAX_NAME_CHARS and name.endswith("很.pdf")
    assert len(safe_display_name("x" * 500)) == MAX_NAME_CHARS


@given(st.text(max_size=400))
def test_no_name_escapes_its_directory_or_carries_control_characters(raw: str) -> None:
    name = safe_display_name(raw)
    assert len(name) <= MAX_NAME_CHARS
    assert not {"/", "\\", "\x00"} & set(name)
    assert name not in (".", "..") and not name.startswith(".")
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in name)
    assert safe_display_name(name) == name  # already safe: unchanged


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_complete_file_is_published_under_its_hash_once(tmp_path: Path) -> None:
    store = FileStore(tmp_path, max_bytes=1_000)
    with store.pending() as upload:
        for i in range(0, len(PDF_BYTES), 7):  # in small chunks, as a network delivers it
            upload.write(PDF_BYTES[i:i + 7])
        stored = upload.complete("application/pdf", "a.pdf")
        assert upload.publish(stored.sha256) is True
    assert stored.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    assert (stored.size, stored.media_type) == (len(PDF_BYTES), PDF)
    path = tmp_path / stored.sha256[:2] / stored.sha256[2:4] / stored.sha256
    assert store.path_for(stored.sha256) == path and path.read_bytes() == PDF_BYTES
    assert stored_files(tmp_path) == [path]  # the temporary file is gone

    with store.pending() as again:
        again.write(PDF_BYTES)
        assert again.complete(None, "b.pdf") == stored
        assert again.publish(stored.sha256) is False  # already there: not replaced
    assert stored_files(tmp_path) == [path]


@pytest.mark.parametrize(("content", "declared", "name", "status", "slug"), [
    (b"", None, "a.pdf", 422, "empty-file"),
    (b"plain text, not a scan", "application/pdf", "a.pdf", 415, "unsupported-file-type"),
    (zip_bytes({"word/document.xml": b"<x/>"}), None, "a.ofd", 415, "unsupported-file-type"),
    (PNG_BYTES, None, "a.pdf", 415, "disguised-file"),
    (PDF_BYTES, "image/png", "a", 415, "disguised-file"),
    (bytes(1_001), None, "a.pdf", 413, "file-too-large"),
])
def test_refused_files_leave_nothing(tmp_path: Path, content: bytes, declared: str | None, name: str,
                                     status: int, slug: str) -> None:
    store = FileStore(tmp_path, max_bytes=1_000)
    with pytest.raises(FileRefused) as refused, store.pending() as upload:
        upload.write(content[:600])
        upload.write(content[600:])
        upload.complete(declared, name)
    assert (refused.value.status, refused.value.slug) == (status, slug)
    assert stored_files(tmp_path) == []


def test_an_interrupted_upload_leaves_nothing_and_a_failed_record_takes_its_file_back(tmp_path: Path) -> None:
    store = FileStore(tmp_path, max_bytes=10_000)
    with pytest.raises(ConnectionError), store.pending() as upload:
        upload.write(PDF_BYTES[:10])
        raise ConnectionError("client went away")
    assert stored_files(tmp_path) == []

    with store.pending() as upload:
        upload.write(OFD_BYTES)
        stored = upload.complete("application/ofd", "发票.ofd")
        assert stored.media_type == OFD
        assert upload.publish(stored.sha256) and store.exists(stored.sha256)
        upload.unpublish()  # the database refused the row
    assert stored_files(tmp_path) == []


def test_temporary_files_of_a_killed_process_are_swept(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    stale, fresh = tmp_path / "tmp" / "old.part", tmp_path / "tmp" / "new.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (0, 0))
    FileStore(tmp_path, max_bytes=10)
    assert not stale.exists() and fresh.exists()  # a fresh one may belong to an upload in progress
