"""Printable documents (文书) of the acceptance outcomes, in Chinese: data in, HTML text out, no I/O.

`case_view(row)` reads a stored case; `applicable_kinds(view)` says which documents it has;
`render(view, kind)` lays one out for A4 printing.
"""

from services.acceptance.documents.model import (
    CaseView,
    applicable_kinds,
    case_view,
    chinese_date,
    chinese_time,
)
from services.acceptance.documents.templates import render
from services.acceptance.domain.documents import TITLES, DocumentKind

__all__ = [
    "TITLES",
    "CaseView",
    "DocumentKind",
    "applicable_kinds",
    "case_view",
    "chinese_date",
    "chinese_time",
    "render",
]
