"""Acceptance settings (prefix ACCEPTANCE_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class AcceptanceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACCEPTANCE_", extra="ignore")

    database_url: str = "sqlite:///var/acceptance.db"
