"""Production is one switch: ZWFW_ENV (or GATEWAY_ENV) makes the gateway a production gateway; identity settings
have safe defaults (gateway/identity refuses demo identities at start-up in production)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings


@pytest.mark.parametrize("variable", ["ZWFW_ENV", "GATEWAY_ENV"])
def test_either_variable_switches_to_production(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for other in ("ZWFW_ENV", "GATEWAY_ENV"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(variable, "production")
    assert GatewaySettings().env == "production"


def test_development_keeps_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("ZWFW_ENV", "GATEWAY_ENV", "GATEWAY_ACCESS_TOKEN_TTL_SECONDS"):
        monkeypatch.delenv(variable, raising=False)
    settings = GatewaySettings()
    assert settings.env == "development"
    assert settings.access_token_ttl_seconds == 15 * 60 and settings.refresh_token_ttl_seconds == 8 * 3600
    assert (settings.lockout_threshold, settings.lockout_minutes) == (5, 15)


def test_a_token_lifetime_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ACCESS_TOKEN_TTL_SECONDS", "0")
    with pytest.raises(ValidationError):
        GatewaySettings()
