"""Approval service entry point: `uvicorn services.approval.main:app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.approval.adapters.tables import messaging
from services.approval.api.routes import router
from services.approval.config import ApprovalSettings
from services.approval.consumers import CONSUMERS
from services.common.runtime import ServiceSpec, create_service_app


def create_app() -> FastAPI:
    settings = ApprovalSettings()
    return create_service_app(ServiceSpec(
        name="approval",
        title="审批 Approval",
        description="Works an accepted case through its steps (审查, 审核, 决定) to a decision and completion.",
        database_url=settings.database_url,
        migrations_dir=Path(__file__).parent / "migrations",
        tables=messaging,
        routers=[router],
        consumers=CONSUMERS,
    ))


app = create_app()
