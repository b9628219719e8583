"""Settings every service shares, read from the environment (pydantic-settings).

Defaults make `make run` work on a fresh machine; `ZWFW_ENV=production` refuses the development secret.
"""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_INTERNAL_SECRET = "dev-internal-secret-change-me-0123456789abcdef"


class PlatformSettings(BaseSettings):
    """Read from unprefixed variables, as the same values are shared by every process of the platform."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    zwfw_env: str = "development"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Lets tests and parallel environments share one broker without seeing each other's events.
    zwfw_topic_prefix: str = ""
    # Signs the identity the gateway forwards to services, so a service reached directly refuses the call.
    zwfw_internal_secret: str = DEV_INTERNAL_SECRET
    # Relay and consumer tuning.
    zwfw_outbox_sweep_seconds: float = 1.0
    zwfw_outbox_relay_enabled: bool = True
    # Allocations between young-generation collections (Python's default is 700). A consumer batch allocates
    # hundreds of thousands of short-lived objects; at the default the collector took a quarter of
    # monitoring's ingest time (docs/decisions.md). 0 keeps Python's default.
    zwfw_gc_gen0_threshold: int = 50_000

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> PlatformSettings:
        if self.zwfw_env == "production" and self.zwfw_internal_secret == DEV_INTERNAL_SECRET:
            raise ValueError("ZWFW_INTERNAL_SECRET must be set in production; the development secret is refused")
        return self


def service_database_url(service: str, explicit: str | None) -> str:
    """Each service owns one database; by default a SQLite file under var/."""
    return explicit or f"sqlite:///var/{service}.db"
