"""Which paths take the proxied lane (gateway.lane): every /api/ path but the gateway's own endpoints there."""

from __future__ import annotations

import pytest

from gateway.lane import is_proxied


@pytest.mark.parametrize(("path", "proxied"), [
    ("/api/v1/applications", True),
    ("/api/v1/catalogue/items/X/guide", True),
    ("/api/", True),
    ("/api/v1/auth/login", False),
    ("/api/v1/auth/logout", False),
    ("/api/v1/audit/verify", False),
    ("/api/v1/authx", True),  # a prefix is a whole segment: /api/v1/auth/ with its slash
    ("/oauth/token", False),
    ("/.well-known/jwks.json", False),
    ("/openapi.json", False),
    ("/healthz", False),
    ("/apiv1/applications", False),
])
def test_only_backend_paths_take_the_proxied_lane(path: str, proxied: bool) -> None:
    assert is_proxied(path) is proxied
