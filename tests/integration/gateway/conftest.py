"""The gateway built in-process over a fresh gateway database with a real signing key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.config import GatewaySettings
from gateway.identity.clock import utc_now
from gateway.identity.service import Identity
from gateway.identity.tokens import issue_access_token
from gateway.main import MIGRATIONS
from services.common.db import upgrade_database
from services.common.principal import Principal

Mint = Callable[[Principal], dict[str, str]]


@pytest.fixture
def identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Identity]:
    """GATEWAY_DATABASE_URL → a migrated temp database with an active key; the app built after it shares both."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path}/gateway.db")
    settings = GatewaySettings()
    upgrade_database(settings.database_url, MIGRATIONS)
    identity = Identity.from_settings(settings)
    identity.keys.ensure_active()
    try:
        yield identity
    finally:
        identity.engine.dispose()


@pytest.fixture
def mint(identity: Identity) -> Mint:
    """An Authorization header with an access token for `principal`, signed by the database's active key."""

    def header(principal: Principal) -> dict[str, str]:
        token = issue_access_token(identity.keys, principal, issuer=identity.settings.token_issuer,
                                   ttl_seconds=identity.settings.access_token_ttl_seconds, now=utc_now())
        return {"Authorization": f"Bearer {token}"}

    return header
