"""Monitoring service entry point: `uvicorn services.monitoring.main:app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.common.runtime import Runtime, ServiceSpec, create_service_app
from services.monitoring.adapters.tables import messaging
from services.monitoring.api.calendar_routes import router as calendar_router
from services.monitoring.api.complaint_routes import complaint_router, rating_router
from services.monitoring.api.routes import router
from services.monitoring.config import MonitoringSettings
from services.monitoring.consumers import CONSUMERS
from services.monitoring.wiring import supervision_of


async def run_timers(runtime: Runtime) -> None:
    """Arms every open clock's next timer from the database, then fires timers as they fall due."""
    await supervision_of(runtime).run()


async def watch_calendar(runtime: Runtime) -> None:
    """A year loaded through another instance reaches this one within half a minute."""
    await supervision_of(runtime).watch_calendar(MonitoringSettings().calendar_watch_seconds)


async def recompute_after_calendar_load(runtime: Runtime, years: list[int]) -> None:
    """A loaded year replaces provisional answers: rebuild the clocks it may move, their timers with them."""
    if years:
        await supervision_of(runtime).recompute(provisional_only=False)


def create_app() -> FastAPI:
    settings = MonitoringSettings()
    app = create_service_app(ServiceSpec(
        name="monitoring",
        title="电子监察 Monitoring",
        description="Clocks for cases, disclosure requests, complaints and ratings; alerts at the instant "
                    "each level falls due; anomaly rules; statistics.",
        database_url=settings.database_url,
        migrations_dir=Path(__file__).parent / "migrations",
        tables=messaging,
        routers=[router, calendar_router, complaint_router, rating_router],
        consumers=CONSUMERS,
        background=[run_timers, watch_calendar],
    ))
    app.state.on_calendar_loaded = recompute_after_calendar_load
    return app


app = create_app()
