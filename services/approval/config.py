"""Approval settings (prefix APPROVAL_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApprovalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPROVAL_", extra="ignore")

    database_url: str = "sqlite:///var/approval.db"
