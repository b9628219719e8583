"""Gateway settings (prefix GATEWAY_)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    acceptance_url: str = "http://127.0.0.1:8001"
    approval_url: str = "http://127.0.0.1:8002"
    disclosure_url: str = "http://127.0.0.1:8003"
    monitoring_url: str = "http://127.0.0.1:8004"
    # The gateway's own data (gateway/store): accounts, clients, refresh tokens, signing keys, the audit log.
    database_url: str = "sqlite:///var/gateway.db"
    # The platform's ZWFW_ENV too: production is one switch for every process, not one per process to forget.
    # In production the gateway refuses to start while a demo account or demo client is active (gateway.identity).
    env: str = Field(default="development", validation_alias=AliasChoices("GATEWAY_ENV", "ZWFW_ENV"))
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 15.0
    # How long an idle pooled connection to a backend is kept: below uvicorn's keep-alive (5 s), so the gateway never
    # reuses a connection the backend is closing. A POST on such a connection fails (ClientOSError) and is not
    # retried — it may have been applied — so the race showed as a 502 under load.
    backend_keepalive_seconds: float = 4.0
    max_body_bytes: int = 1_048_576
    # Material file uploads only (UPLOAD_PATHS): acceptance's 20 MiB file limit plus room for multipart framing.
    upload_max_body_bytes: int = 21 * 1_048_576

    # ---- identity (gateway/identity) ----
    # Short: an access token cannot be taken back, so its lifetime is the window a stolen one stays useful.
    access_token_ttl_seconds: int = Field(default=15 * 60, gt=0)
    # A working day: a clerk logs in once in the morning; the refresh token rotates on every use.
    refresh_token_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    token_issuer: str = "zwfw-gateway"
    # Consecutive failed logins (staff) or client authentications (machines) before a lock, and its length.
    lockout_threshold: int = Field(default=5, gt=0)
    lockout_minutes: float = Field(default=15.0, gt=0)
    # How soon a gateway process signs with a key another process (or `keys rotate`) activated.
    key_reload_seconds: float = Field(default=30.0, ge=0)

    def backends(self) -> dict[str, str]:
        return {
            "acceptance": self.acceptance_url,
            "approval": self.approval_url,
            "disclosure": self.disclosure_url,
            "monitoring": self.monitoring_url,
        }
