"""Printable documents (文书) of the acceptance outcomes, in Chinese: data in, HTML text out, no I/O.

`case_view(row)` reads a stored case; `applicable_kinds(view)` says which documents it has, `earlier_views`
the ones issued before its current one;
`render(view, kind)` lays one out for A4 printing; `render_pdf(view, kind)` is the same page as PDF (the one
part that needs system libraries: Pango and a CJK font, see pdf.py).
"""

from services.acceptance.documents.model import (
    CaseView,
    applicable_kinds,
    case_view,
    chinese_date,
    chinese_time,
    earlier_views,
)
from services.acceptance.documents.pdf import PdfUnavailable, render_pdf
from services.acceptance.documents.templates import render
from services.acceptance.domain.documents import TITLES, DocumentKind

__all__ = [
    "TITLES",
    "CaseView",
    "DocumentKind",
    "PdfUnavailable",
    "applicable_kinds",
    "case_view",
    "chinese_date",
    "chinese_time",
    "earlier_views",
    "render",
    "render_pdf",
]
