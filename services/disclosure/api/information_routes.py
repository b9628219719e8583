"""Information disclosure (政府信息公开): the proactive directory (主动公开目录), requests (依申请公开)
and the annual report."""

from __future__ import annotations

from fastapi import APIRouter

information_router = APIRouter()
