"""Settings of the door itself (prefix GATEWAY_): rate limits, circuit breakers, the audit writer.

Kept apart from gateway.config (identity's settings) so the two can change independently; both read GATEWAY_*.
Rate limits use the `limits` library's notation: "600/minute", several joined by ";" ("20/minute;200/hour").
"""

from __future__ import annotations

from limits import parse_many
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DoorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    ratelimit_enabled: bool = True
    # "memory://" counts in this process. Several gateway instances need one shared store, so that a client
    # does not get N times its limit: an asynchronous one such as "async+redis://host:6379/0" (needs the redis
    # client installed). A synchronous network store would block the event loop and is refused.
    ratelimit_storage_uri: str = "memory://"
    # Anonymous callers, per client address: the public catalogue, results, progress query, disclosure requests.
    # A township hall's citizens may share one NAT address, hence not tight.
    ratelimit_public: str = "600/minute"
    # Authenticated staff and machine clients, per principal (kind and subject).
    ratelimit_client: str = "6000/minute"
    # Writes to the identity endpoints (/api/v1/auth/*, /oauth/token), per address: guessing passwords or client
    # secrets. The accounts' own lock-out is the second line.
    ratelimit_identity: str = "30/minute;300/hour"
    # How often the in-process counters past their window are dropped (memory only: an expired counter is never
    # counted, whenever it is swept).
    ratelimit_sweep_seconds: float = 10.0

    # Circuit breaker per backend: opens after this many consecutive transport failures (refused or dropped
    # connections, timeouts), stays open this long, then lets a probe through (half-open).
    breaker_threshold: int = 5
    breaker_open_seconds: float = 30.0
    # Retry-After on a 503 when a backend cannot be reached and its breaker is still closed.
    unavailable_retry_after_seconds: int = 5

    # Audit entries written in one transaction at most (group commit).
    audit_max_batch: int = 500

    @field_validator("ratelimit_public", "ratelimit_client", "ratelimit_identity")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_many(value)  # a typo fails at start, not at the first request
        return value

    @field_validator("ratelimit_storage_uri")
    @classmethod
    def _non_blocking(cls, value: str) -> str:
        if value != "memory://" and not value.startswith("async+"):
            raise ValueError("GATEWAY_RATELIMIT_STORAGE_URI: 'memory://' or an async+… storage "
                             "(a synchronous network store would block the event loop)")
        return value
