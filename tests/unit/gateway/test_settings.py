"""Production is one switch: ZWFW_ENV=production makes the gateway refuse the development token secret too."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings


@pytest.mark.parametrize("variable", ["ZWFW_ENV", "GATEWAY_ENV"])
def test_production_refuses_the_development_token_secret(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_DEV_TOKEN_SECRET", raising=False)
    monkeypatch.setenv(variable, "production")
    with pytest.raises(ValidationError, match="GATEWAY_DEV_TOKEN_SECRET"):
        GatewaySettings()
    monkeypatch.setenv("GATEWAY_DEV_TOKEN_SECRET", "short")
    with pytest.raises(ValidationError):
        GatewaySettings()
    monkeypatch.setenv("GATEWAY_DEV_TOKEN_SECRET", "a-production-secret-of-enough-length-0123456789")
    assert GatewaySettings().env == "production"


def test_development_keeps_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("ZWFW_ENV", "GATEWAY_ENV", "GATEWAY_DEV_TOKEN_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    assert GatewaySettings().env == "development"
