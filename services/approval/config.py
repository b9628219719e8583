"""Approval settings (prefix APPROVAL_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApprovalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPROVAL_", extra="ignore")

    database_url: str = "sqlite:///var/approval.db"
    # AB岗 (职位代理): absent colleague's user id → their named deputy's, as JSON in APPROVAL_DEPUTIES.
    deputies: dict[str, str] = {}
    # Idempotency-Key records are kept this long, and expired ones deleted at most this often (as acceptance).
    idempotency_retention_hours: float = 24.0
    idempotency_cleanup_seconds: float = 600.0
