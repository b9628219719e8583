"""Monitoring settings (prefix MONITORING_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MonitoringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MONITORING_", extra="ignore")

    database_url: str = "sqlite:///var/monitoring.db"
    # Levels differ between localities (domain.md §6): warning when this many working days, or this share
    # of the promised limit, remain — whichever comes first.
    warning_working_days: float = Field(default=1.0, ge=0)
    warning_share: float = Field(default=0.2, ge=0, le=1)
