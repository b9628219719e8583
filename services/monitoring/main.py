"""Monitoring service entry point: `uvicorn services.monitoring.main:app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.common.runtime import ServiceSpec, create_service_app
from services.monitoring.adapters.tables import messaging
from services.monitoring.api.routes import router
from services.monitoring.config import MonitoringSettings
from services.monitoring.consumers import CONSUMERS
from services.monitoring.domain.clock import WarningPolicy


def create_app() -> FastAPI:
    settings = MonitoringSettings()
    app = create_service_app(ServiceSpec(
        name="monitoring",
        title="电子监察 Monitoring",
        description="Keeps a clock per case against its promised and legal limits; warns, flags and rates.",
        database_url=settings.database_url,
        migrations_dir=Path(__file__).parent / "migrations",
        tables=messaging,
        routers=[router],
        consumers=CONSUMERS,
    ))
    app.state.warning_policy = WarningPolicy(settings.warning_working_days, settings.warning_share)
    return app


app = create_app()
