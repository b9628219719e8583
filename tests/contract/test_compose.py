"""docker-compose.yml is the production stack; it is not run here, so these checks keep it honest."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import GatewaySettings
from services.common.settings import DEV_INTERNAL_SECRET

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("acceptance", "approval", "disclosure", "monitoring")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def env(compose: dict[str, Any], name: str) -> dict[str, str]:
    return {k: str(v) for k, v in compose["services"][name]["environment"].items()}


def test_every_part_is_in_the_stack(compose: dict[str, Any]) -> None:
    assert {*SERVICES, "gateway", "kafka", "kafka-topics", "postgres", "otel-collector"} <= set(compose["services"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_database_and_runs_its_own_module(compose: dict[str, Any], service: str) -> None:
    variables = env(compose, service)
    url = variables[f"{service.upper()}_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and url.endswith(f"@postgres/{service}")
    assert f"CREATE DATABASE {service} OWNER {service};" in (ROOT / "infra/postgres/init.sql").read_text()
    module = compose["services"][service]["build"]["args"]["APP_MODULE"]
    assert module == f"services.{service}.main:app"
    assert (ROOT / "services" / service / "main.py").exists()
    assert variables["ZWFW_ENV"] == "production"
    secret = variables["ZWFW_INTERNAL_SECRET"]
    assert secret != DEV_INTERNAL_SECRET and secret.startswith("${")  # from the host's environment
    assert variables["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "readyz" in str(compose["services"][service]["healthcheck"]["test"])


def test_gateway_variables_match_its_settings(compose: dict[str, Any]) -> None:
    fields = {f"GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
    gateway_vars = {k for k in env(compose, "gateway") if k.startswith("GATEWAY_")}
    assert gateway_vars <= fields, gateway_vars - fields
    for service in SERVICES:
        assert env(compose, "gateway")[f"GATEWAY_{service.upper()}_URL"] == f"http://{service}:8000"
    # Its own database (accounts, keys, the audit log), as each service has its own; production is switched on.
    url = env(compose, "gateway")["GATEWAY_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://gateway:${") and url.endswith("@postgres/gateway")
    assert "CREATE DATABASE gateway OWNER gateway;" in (ROOT / "infra/postgres/init.sql").read_text()
    assert env(compose, "gateway")["GATEWAY_ENV"] == "production"
    assert all(p.startswith("127.0.0.1:") for p in compose["services"]["gateway"]["ports"])


def test_kafka_image_matches_the_broker_the_tests_run() -> None:
    pom = (ROOT / "infra/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version
    compose_text = (ROOT / "docker-compose.yml").read_text()
    assert f"apache/kafka:{version.group(1)}" in compose_text


def test_dockerfile_copies_what_exists() -> None:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:  # COPY src… dest
                assert (ROOT / source).exists(), source
