"""Acceptance service entry point: `uvicorn services.acceptance.main:app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.acceptance.adapters.tables import messaging
from services.acceptance.api.document_routes import document_router
from services.acceptance.api.intake_routes import deemed_acceptance_sweep, intake_router
from services.acceptance.api.material_routes import material_router
from services.acceptance.api.progress_routes import progress_router
from services.acceptance.api.routes import router
from services.acceptance.config import AcceptanceSettings
from services.acceptance.consumers import CONSUMERS
from services.common.runtime import ServiceSpec, create_service_app


def create_app() -> FastAPI:
    settings = AcceptanceSettings()
    return create_service_app(ServiceSpec(
        name="acceptance",
        title="受理 Acceptance",
        description="Checks applications against the item's materials: receipt, one-time notice or refusal.",
        database_url=settings.database_url,
        migrations_dir=Path(__file__).parent / "migrations",
        tables=messaging,
        # Fixed paths (files, progress) before router's /{case_no}.
        routers=[material_router, progress_router, intake_router, document_router, router],
        consumers=CONSUMERS,
        background=[deemed_acceptance_sweep],
    ))


app = create_app()
