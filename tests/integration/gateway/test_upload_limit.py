"""The gateway's body limits: 1 MiB everywhere, a larger one for material file uploads only.

No backend listens behind this gateway, so a body the gateway lets through ends in 503 (backend unavailable)
and one it refuses in 413 before any forwarding."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.identity.service import Identity
from services.common.principal import Principal, PrincipalKind, Role
from tests.integration.gateway.conftest import Mint

UPLOAD_LIMIT = 3 * 1_048_576
CLERK = Principal(kind=PrincipalKind.staff, subject="u-clerk", role=Role.window_clerk, region_code="320102000000")


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, identity: Identity) -> Iterator[TestClient]:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GATEWAY_ACCEPTANCE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("GATEWAY_UPLOAD_MAX_BODY_BYTES", str(UPLOAD_LIMIT))
    from gateway.main import create_app

    with TestClient(create_app()) as client:
        yield client


def test_only_the_upload_path_takes_bodies_over_one_mebibyte(gateway: TestClient, mint: Mint) -> None:
    two_mib = b"x" * (2 * 1_048_576)
    upload_headers = mint(CLERK) | {"Content-Type": "multipart/form-data; boundary=b"}

    passed = gateway.post("/api/v1/applications/files", content=two_mib, headers=upload_headers)
    assert passed.status_code == 503 and passed.json()["type"].endswith("/backend-unavailable"), passed.text

    for method, path in (("POST", "/api/v1/applications"), ("PUT", "/api/v1/applications/files"),
                         ("POST", "/api/v1/applications/files/extra")):
        refused = gateway.request(method, path, content=two_mib, headers=upload_headers)
        assert refused.status_code == 413, (method, path, refused.text)
        assert refused.json()["type"].endswith("/body-too-large")

    too_big = gateway.post("/api/v1/applications/files", content=b"x" * (UPLOAD_LIMIT + 1), headers=upload_headers)
    assert too_big.status_code == 413 and str(UPLOAD_LIMIT) in too_big.json()["detail"], too_big.text
