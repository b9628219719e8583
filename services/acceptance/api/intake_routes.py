"""Applications received but not yet decided (online, or left at a centre), supplements and fees."""

from __future__ import annotations

from fastapi import APIRouter

intake_router = APIRouter()
