"""Disclosure settings (prefix DISCLOSURE_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class DisclosureSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISCLOSURE_", extra="ignore")

    database_url: str = "sqlite:///var/disclosure.db"
