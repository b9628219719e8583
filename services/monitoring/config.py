"""Monitoring settings (prefix MONITORING_)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WarningRule(BaseModel):
    """A locality's own threshold for an item type (or "*") in a region and below."""

    item_type: str = "*"
    region_prefix: str = ""
    working_days: float = Field(default=1.0, ge=0)
    share: float = Field(default=0.2, ge=0, le=1)


class MonitoringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MONITORING_", extra="ignore")

    database_url: str = "sqlite:///var/monitoring.db"
    # Levels differ between localities (domain.md §6): warning when this many working days, or this share
    # of the promised limit, remain — whichever comes first.
    warning_working_days: float = Field(default=1.0, ge=0)
    warning_share: float = Field(default=0.2, ge=0, le=1)
    # e.g. MONITORING_WARNING_RULES='[{"item_type": "01", "region_prefix": "3201", "working_days": 2}]'
    warning_rules: list[WarningRule] = Field(default_factory=list)
    # How often an instance looks for a calendar year loaded through another instance.
    calendar_watch_seconds: float = Field(default=30.0, gt=0)
    # Subjects whose validated logs the consumer keeps in memory (least recently used leave first); 0 turns the
    # cache off. It catches the events a case gets in quick succession (a step completed, the next started);
    # each cached event costs about 2 KB, so 20,000 subjects of 4 events held ~170 MB for a 10 % faster ingest
    # (docs/benchmarks.md).
    subject_log_cache: int = Field(default=2_000, ge=0)
    # The public complaint and rating submissions (services/monitoring/complaints.py). Idempotency-Key records
    # are kept this long and deleted at most this often (docs/decisions.md 28).
    idempotency_retention_hours: float = Field(default=24.0, gt=0)
    idempotency_cleanup_seconds: float = Field(default=600.0, gt=0)
    # Wrong guesses, in limits' notation: of a complaint's query code per complaint number, of an applicant's id
    # suffix per case number. Counted per process with "memory://"; replicas share them through e.g. redis://.
    complaint_code_failures: str = "10/hour"
    rating_failures_per_case: str = "5/hour"
    public_limit_storage: str = "memory://"
