"""The printable documents of each acceptance outcome (受理凭证, 一次性告知书, 不予受理决定书 …)."""

from __future__ import annotations

from fastapi import APIRouter

document_router = APIRouter()
