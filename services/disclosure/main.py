"""Disclosure service entry point: `uvicorn services.disclosure.main:app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.common.runtime import ServiceSpec, create_service_app
from services.disclosure.adapters.tables import messaging
from services.disclosure.api.catalogue_io_routes import catalogue_io_router
from services.disclosure.api.information_routes import information_router
from services.disclosure.api.region_routes import regions_router
from services.disclosure.api.routes import catalogue_router, results_router
from services.disclosure.config import DisclosureSettings
from services.disclosure.consumers import CONSUMERS


def create_app() -> FastAPI:
    settings = DisclosureSettings()
    return create_service_app(ServiceSpec(
        name="disclosure",
        title="公开 Disclosure",
        description="The item catalogue (实施清单) with immutable published versions, and the public results "
                    "of completed cases (办件结果公示) with applicants masked.",
        database_url=settings.database_url,
        migrations_dir=Path(__file__).parent / "migrations",
        tables=messaging,
        # The fixed catalogue paths (search, import, export) before catalogue_router's /items/{item_code}.
        routers=[regions_router, catalogue_io_router, catalogue_router, results_router, information_router],
        consumers=CONSUMERS,
    ))


app = create_app()
