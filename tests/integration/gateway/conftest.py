"""The gateway built in-process over a fresh gateway database (identity, audit log) with a real signing key.

Every test of this package gets its own database under tmp_path (autouse), so no test writes `var/gateway.db`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from fastapi import FastAPI

from gateway.config import GatewaySettings
from gateway.identity.clock import utc_now
from gateway.identity.service import Identity
from gateway.identity.tokens import issue_access_token
from gateway.main import MIGRATIONS
from gateway.proxy import ProxyEndpoint
from services.common.db import upgrade_database
from services.common.principal import Principal

Mint = Callable[[Principal], dict[str, str]]
_running: list[Identity] = []  # the identity of the test being run (BearerFor signs with its key)


@pytest.fixture(autouse=True)
def identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Identity]:
    """GATEWAY_DATABASE_URL → a migrated temp database with an active key; the app built after it shares both."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path}/gateway.db")
    settings = GatewaySettings()
    upgrade_database(settings.database_url, MIGRATIONS)
    identity = Identity.from_settings(settings)
    identity.keys.ensure_active()
    _running.append(identity)
    try:
        yield identity
    finally:
        _running.remove(identity)
        identity.engine.dispose()


@pytest.fixture
def gateway_database(identity: Identity) -> str:
    return identity.settings.database_url


def _bearer(identity: Identity, principal: Principal) -> dict[str, str]:
    token = issue_access_token(identity.keys, principal, issuer=identity.settings.token_issuer,
                               ttl_seconds=identity.settings.access_token_ttl_seconds, now=utc_now())
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def mint(identity: Identity) -> Mint:
    """An Authorization header with an access token for `principal`, signed by the database's active key."""
    return lambda principal: _bearer(identity, principal)


class BearerFor(Mapping[str, str]):
    """The Authorization header of `principal`, signed by the running test's key when it is read, so a module can
    name its callers once (`CLERK = BearerFor(...)`) while every test has a database and key of its own."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def _header(self) -> dict[str, str]:
        assert _running, "BearerFor is read outside a gateway test"
        return _bearer(_running[-1], self.principal)

    def __getitem__(self, name: str) -> str:
        return self._header()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(("Authorization",))

    def __len__(self) -> int:
        return 1

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return list(self._header().items())

    def __or__(self, other: Mapping[str, str]) -> dict[str, str]:
        return self._header() | dict(other)

    def __ror__(self, other: Mapping[str, str]) -> dict[str, str]:
        return dict(other) | self._header()


def without_authorization(app: FastAPI) -> FastAPI:
    """The proxy without its role and region check (gateway/authorization.py, tested on its own and end to end):
    for tests of the door's mechanics on paths no service serves."""
    for route in app.router.routes:
        endpoint = getattr(route, "app", None)
        if isinstance(endpoint, ProxyEndpoint):
            endpoint.authorize = None
    return app
