"""Gateway settings (prefix GATEWAY_)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN_SECRET = "dev-token-secret-change-me-0123456789abcdef"


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    acceptance_url: str = "http://127.0.0.1:8001"
    approval_url: str = "http://127.0.0.1:8002"
    disclosure_url: str = "http://127.0.0.1:8003"
    monitoring_url: str = "http://127.0.0.1:8004"
    # The gateway's own data (gateway/store): accounts, clients, refresh tokens, signing keys, the audit log.
    database_url: str = "sqlite:///var/gateway.db"
    # Development tokens until the security issue brings asymmetric keys and real logins.
    dev_token_secret: str = DEV_TOKEN_SECRET
    # The platform's ZWFW_ENV too: production is one switch for every process, not one per process to forget.
    env: str = Field(default="development", validation_alias=AliasChoices("GATEWAY_ENV", "ZWFW_ENV"))
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 15.0
    max_body_bytes: int = 1_048_576
    # Material file uploads only (UPLOAD_PATHS): acceptance's 20 MiB file limit plus room for multipart framing.
    upload_max_body_bytes: int = 21 * 1_048_576

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> GatewaySettings:
        if self.env == "production" and (self.dev_token_secret == DEV_TOKEN_SECRET or len(self.dev_token_secret) < 32):
            raise ValueError("GATEWAY_DEV_TOKEN_SECRET must be set in production (32 characters or more); the "
                             "development default is refused")
        return self

    def backends(self) -> dict[str, str]:
        return {
            "acceptance": self.acceptance_url,
            "approval": self.approval_url,
            "disclosure": self.disclosure_url,
            "monitoring": self.monitoring_url,
        }
