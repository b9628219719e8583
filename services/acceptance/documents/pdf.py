"""The documents as PDF: the HTML of `templates.render`, laid out by WeasyPrint, fonts embedded as subsets.

One source for both formats: the PDF is the print stylesheet (`@page` A4) of the same HTML, so a change to a
template changes both. Text goes through Pango and fontconfig, which pick the first family of the template's
list that is installed (on Debian: fonts-wqy-microhei, see `make system-packages`); the glyphs used are embedded,
so the file prints the same on a machine without that font.

CPU-bound (about 0.1 s for a receipt with HarfBuzz's subsetter, over a second without it): call it off the event
loop. WeasyPrint is imported on first use, so a service on a machine without Pango still starts and answers
everything else; only the PDF then fails, with `PdfUnavailable`.
"""

from __future__ import annotations

import threading
from typing import Any

from services.acceptance.documents.model import CaseView
from services.acceptance.documents.templates import render
from services.acceptance.domain.documents import DocumentKind

PDF = "application/pdf"

# WeasyPrint promises no thread safety (Pango, fontconfig and cffi underneath; crashes under concurrent use have
# been reported): renders are short, so one at a time per process costs little and rules that out.
_LOCK = threading.Lock()


class PdfUnavailable(RuntimeError):
    """WeasyPrint or the system libraries under it (Pango, HarfBuzz, fontconfig) are not installed."""


def _weasyprint() -> Any:
    try:
        import weasyprint  # here, not at the top: it loads Pango through cffi, needed only for a PDF
    except (ImportError, OSError) as exc:  # OSError: the Python package is there, libpango is not
        raise PdfUnavailable(f"WeasyPrint cannot load: {exc}") from exc
    return weasyprint


def html_to_pdf(html: str) -> bytes:
    """The HTML laid out on its `@page` boxes: PDF bytes, fonts embedded as subsets, tagged for screen readers.

    Nothing is fetched: the templates carry their stylesheet inline and name no image, and a fetcher that allows
    no protocol makes sure a value from a case can never make the renderer open a file or a URL.
    """
    weasyprint = _weasyprint()
    with _LOCK:
        document = weasyprint.HTML(string=html, url_fetcher=weasyprint.urls.URLFetcher(allowed_protocols=()))
        pdf: bytes = document.write_pdf(pdf_tags=True)
    return pdf


def render_pdf(view: CaseView, kind: DocumentKind) -> bytes:
    """The document as PDF; the caller checks that the kind applies, as for `render`."""
    return html_to_pdf(render(view, kind))
