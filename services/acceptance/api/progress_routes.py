"""What an applicant may ask without logging in (办件进度查询), and withdrawal before a decision."""

from __future__ import annotations

from fastapi import APIRouter

progress_router = APIRouter()
