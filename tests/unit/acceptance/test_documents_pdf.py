"""The documents as PDF (documents/pdf.py): the HTML laid out by WeasyPrint with a CJK font from Debian's
packages, embedded as a subset; nothing fetched; a clear error where the system libraries are missing.

Not skipped where Pango or the font is missing: `make unit` / `make test` install them first
(`make system-packages`), and a machine that cannot make these PDFs should fail here, not at the window."""

from __future__ import annotations

import io
import re
import struct
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from services.acceptance.api.document_routes import content_disposition
from services.acceptance.documents import TITLES, DocumentKind, PdfUnavailable, case_view, render, render_pdf
from services.acceptance.documents.pdf import html_to_pdf
from tests.unit.acceptance.test_documents import CASE_NO, COMPANY, EVIL, _evil_row, row, text_of

# The CJK families of the templates' font-family list, as they appear in a PDF's BaseFont (spaces dropped).
CJK_FONTS = ("wenquanyi", "notoserifcjk", "notosanscjk", "sourcehan", "arpluming", "simsun")
A4 = (595.28, 841.89)  # points


def _embedded_fonts(reader: PdfReader) -> dict[str, Any]:
    """BaseFont name → the descendant font's descriptor, for every font any page uses."""
    fonts: dict[str, Any] = {}
    for page in reader.pages:
        for ref in page["/Resources"].get("/Font", {}).values():
            font = ref.get_object()
            descendants = [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]
            for descendant in descendants:
                fonts[str(font["/BaseFont"])] = descendant["/FontDescriptor"].get_object()
    return fonts


def pdf_facts(pdf: bytes) -> tuple[str, dict[str, Any]]:
    """The PDF's text with all white space removed (the title is letter-spaced), and its embedded fonts;
    fails unless every font is one of the CJK fonts, embedded (FontFile2/3) as a subset (`ABCDEF+Name`)."""
    assert pdf.startswith(b"%PDF-"), pdf[:20]
    reader = PdfReader(io.BytesIO(pdf))
    fonts = _embedded_fonts(reader)
    assert fonts, "no font in the PDF"
    for name, descriptor in fonts.items():
        prefix, _, family = name.lstrip("/").partition("+")
        assert re.fullmatch(r"[A-Z]{6}", prefix), f"{name}: not a subset"
        assert any(cjk in re.sub(r"[-_ ]", "", family).lower() for cjk in CJK_FONTS), f"{name}: not a CJK font"
        assert "/FontFile2" in descriptor or "/FontFile3" in descriptor, f"{name}: not embedded"
    text = "".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", "", text), fonts


def test_receipt_as_pdf_carries_its_text_in_an_embedded_cjk_font() -> None:
    view = case_view(row("accepted"))
    pdf = render_pdf(view, DocumentKind.receipt)
    text, fonts = pdf_facts(pdf)
    for shown in ("受理凭证", f"文书编号：SL{CASE_NO}", CASE_NO, "欧阳小明", "食品经营许可", "经营者身份证明",
                  "2026年12月2日", "1101**********002X", "区行政审批局印章"):
        assert shown in text, shown
    assert "11010519491231002X" not in text  # masked on the PDF as on the page
    reader = PdfReader(io.BytesIO(pdf))
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width, 1), round(height, 1)) == (round(A4[0], 1), round(A4[1], 1))  # @page size: A4
    assert str(reader.metadata.title).startswith("受理凭证")  # from <title>
    # A subset: the whole font (wqy-microhei alone is 5 MB) would not fit.
    assert len(pdf) < 300_000, len(pdf)
    assert len(fonts) <= 2  # regular and bold of one family


def test_supplement_notice_as_pdf_lists_every_missing_material() -> None:
    text, _ = pdf_facts(render_pdf(case_view(row("supplement_requested", applicant=COMPANY)),
                                   DocumentKind.supplement_notice))
    for shown in ("补正材料一次性告知书", f"BZ{CASE_NO}", CASE_NO, "南京某某餐饮有限公司", "经营者身份证明",
                  "原件需1份，已交0份", "经营场所证明", "健康证明", "共3项"):
        assert shown in text, shown


def test_every_kind_renders_from_the_same_source() -> None:
    """All six documents; the PDF's text is the HTML's, down to a value printed as text, not markup."""
    view = case_view(_evil_row("completed"))
    for kind in DocumentKind:
        html = render(view, kind)
        assert EVIL in text_of(html)
        text, _ = pdf_facts(render_pdf(view, kind))
        assert TITLES[kind] in text and EVIL.replace(" ", "") in text, kind


def _png(path: Path) -> None:
    """A 1×1 red PNG, written by hand."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def test_nothing_is_fetched(tmp_path: Path) -> None:
    """A file: image next to the text is not loaded: the renderer opens no file and no URL."""
    image = tmp_path / "red.png"
    _png(image)
    html = f'<html><body><p>受理</p><img src="{image.as_uri()}" width="50" height="50"></body></html>'
    pdf = html_to_pdf(html)
    reader = PdfReader(io.BytesIO(pdf))
    xobjects = reader.pages[0]["/Resources"].get("/XObject", {})
    assert not any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.values()), xobjects


def test_renders_from_several_threads_at_once() -> None:
    view = case_view(row("accepted"))
    with ThreadPoolExecutor(4) as pool:
        pdfs = list(pool.map(lambda _: render_pdf(view, DocumentKind.receipt), range(4)))
    assert all(CASE_NO in pdf_facts(pdf)[0] for pdf in pdfs)


def test_without_weasyprint_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint now raises ImportError
    with pytest.raises(PdfUnavailable):
        render_pdf(case_view(row("accepted")), DocumentKind.receipt)


def test_filename_is_ascii() -> None:
    assert content_disposition(f"SL{CASE_NO}") == f'inline; filename="SL{CASE_NO}.pdf"'
    # A promise's own reference may be anything the applicant wrote.
    value = content_disposition('容缺 "7"/2026')
    assert value.startswith('inline; filename="____7__2026.pdf"; filename*=UTF-8\'\'')
    assert value.isascii() and "%E5%AE%B9" in value  # 容, percent-encoded
