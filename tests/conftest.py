"""Shared fixtures: one real Kafka broker per test session, identities as the gateway would sign them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.principal import PRINCIPAL_HEADER, Principal, PrincipalKind, Role, sign_principal
from services.common.settings import DEV_INTERNAL_SECRET

# The test process builds apps in-process (setup_telemetry, which instruments httpx) and exports nothing, so it
# would default to not recording (services.common.telemetry.default_sampler) and send `traceparent` with the
# sampled flag off: the e2e platform, which does export, honours that and records nothing of the traces the e2e
# tests read back. The test process records as a caller whose traces are wanted.
os.environ.setdefault("OTEL_TRACES_SAMPLER", "parentbased_always_on")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Starts the broker from the Maven-fetched jars; yields its bootstrap address."""
    from tools.kafka_broker import KafkaBroker

    existing = os.environ.get("ZWFW_TEST_KAFKA")
    if existing:  # lets a developer point tests at a broker already running
        yield existing
        return
    broker = KafkaBroker(data_dir=tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """Each test gets its own topics and consumer groups on the shared broker."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def service_env(kafka_broker: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Points a service created in this process at the session broker and a fresh database directory."""
    from services.common.messaging.admin import ensure_topics

    asyncio.run(ensure_topics(kafka_broker, topic_prefix))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("ZWFW_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("ZWFW_OUTBOX_SWEEP_SECONDS", "0.2")
    for service in ("acceptance", "approval", "disclosure", "monitoring"):
        monkeypatch.setenv(f"{service.upper()}_DATABASE_URL", f"sqlite:///{tmp_path}/{service}.db")
    return tmp_path


def principal_headers(
    role: Role, region_code: str = "320102000000", department: str = "行政审批局", subject: str = "u-test",
    kind: PrincipalKind = PrincipalKind.staff, name: str = "测试用户",
) -> dict[str, str]:
    """The identity header the gateway adds; tests that call a service directly use it."""
    principal = Principal(kind=kind, subject=subject, name=name, role=role, department=department,
                          region_code=region_code)
    # Modules build these once at import; an hour outlives the whole session (the gateway signs for 60 s).
    return {PRINCIPAL_HEADER: sign_principal(principal, DEV_INTERNAL_SECRET, ttl_seconds=3600)}


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Polls `probe` until it returns something truthy; fails naming what never came."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
