"""The region tree (province → village) and the catalogue's full-text search (筛选与检索)."""

from __future__ import annotations

from fastapi import APIRouter

regions_router = APIRouter()
