"""Material files (申请材料): uploaded before or with an application, kept by content hash."""

from __future__ import annotations

from fastapi import APIRouter

material_router = APIRouter()
