"""Acceptance settings (prefix ACCEPTANCE_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class AcceptanceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACCEPTANCE_", extra="ignore")

    database_url: str = "sqlite:///var/acceptance.db"
    # Idempotency-Key records are kept this long; after it the key may be used again (docs/decisions.md 28).
    idempotency_retention_hours: float = 24.0
    # Expired records are deleted at most this often, after a keyed request, in a transaction of their own.
    idempotency_cleanup_seconds: float = 600.0
    # 办件进度查询 without login: limits' notation. The failure limit is per case number, so guessing the
    # six characters of one case is slow whatever address the guesses come from.
    progress_limit_per_address: str = "10/minute"
    progress_failures_per_case: str = "5/hour"
    # "memory://" counts per process; several replicas share counts through e.g. "redis://host:6379".
    progress_limit_storage: str = "memory://"
    # Material files (申请材料), stored by content hash; see adapters/file_store.py.
    file_store: str = "var/acceptance-files"
    file_max_bytes: int = 20 * 1_048_576
    # AB岗 (职位代理): absent clerk's user id → their named deputy's user id, as JSON in
    # ACCEPTANCE_DEPUTIES, e.g. {"u-clerk-a": "u-clerk-b"}. Only the configured deputy may act for them.
    deputies: dict[str, str] = {}
    # How often received cases are checked for the end of their 5 working days (视为受理, Art. 32(4)). The
    # period ends at midnight, so a minute late is a minute of a case shown as waiting that is accepted.
    intake_sweep_seconds: float = 30.0
