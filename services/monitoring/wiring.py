"""Builds the supervision service once per process from the settings (the one place that wires it)."""

from __future__ import annotations

from services.common.runtime import Runtime
from services.monitoring.calendar_admin import load_calendar
from services.monitoring.config import MonitoringSettings
from services.monitoring.domain.anomalies import detect_case_anomalies
from services.monitoring.domain.clocks import WarningPolicy
from services.monitoring.domain.policies import PolicyRule, PolicyTable
from services.monitoring.subject_log_cache import SubjectLogCache
from services.monitoring.supervision import SupervisionService


def policy_table(settings: MonitoringSettings) -> PolicyTable:
    default = WarningPolicy(settings.warning_working_days, settings.warning_share)
    rules = tuple(
        PolicyRule(r.item_type, r.region_prefix, WarningPolicy(r.working_days, r.share))
        for r in settings.warning_rules
    )
    return PolicyTable(default, rules)




def supervision_of(runtime: Runtime) -> SupervisionService:
    """Created on first use, on the event loop: by the consumers' factory or the background job."""
    service: SupervisionService | None = runtime.extras.get("supervision")
    if service is None:
        # The loaded calendar years first, so no clock is computed on a calendar about to change.
        with runtime.read_session() as session:
            runtime.calendar = load_calendar(session)
        settings = MonitoringSettings()
        service = SupervisionService(runtime, policy_table(settings), detect_case_anomalies,
                                     SubjectLogCache(settings.subject_log_cache))
        runtime.extras["supervision"] = service
    return service
