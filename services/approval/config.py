"""Approval settings (prefix APPROVAL_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApprovalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPROVAL_", extra="ignore")

    database_url: str = "sqlite:///var/approval.db"
    # AB岗 (职位代理): absent colleague's user id → their named deputy's, as JSON in APPROVAL_DEPUTIES.
    deputies: dict[str, str] = {}
