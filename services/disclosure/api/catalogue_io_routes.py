"""Catalogue import and export (JSON, xlsx) and each item's flow chart (SVG, BPMN 2.0)."""

from __future__ import annotations

from fastapi import APIRouter

catalogue_io_router = APIRouter()
