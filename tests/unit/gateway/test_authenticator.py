"""The gateway remembers the bearer tokens it has verified: never an invalid one, never past its expiry.

Keys come from a real (temporary SQLite) gateway database, as the running gateway reads them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from gateway import auth
from gateway.auth import PUBLIC, Authenticator
from gateway.identity.keys import KeyRing
from gateway.identity.tokens import AUDIENCE, issue_access_token
from gateway.main import MIGRATIONS
from services.common.db import make_engine, upgrade_database
from services.common.principal import Principal, PrincipalKind, Role, verify_principal
from services.common.problems import Problem

ISSUER = "zwfw-gateway"
INTERNAL = "internal-secret-for-tests-0123456789abcdef"
CLERK = Principal(kind=PrincipalKind.staff, subject="u-clerk", role=Role.window_clerk, region_code="320102000000")


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyRing]:
    url = f"sqlite:///{tmp_path}/gateway.db"
    upgrade_database(url, MIGRATIONS)
    engine = make_engine(url)
    ring = KeyRing(engine, published_for=timedelta(minutes=16))
    ring.ensure_active()
    yield ring
    engine.dispose()


def _token(keys: KeyRing, principal: Principal = CLERK, ttl: int = 900, now: datetime | None = None) -> str:
    return issue_access_token(keys, principal, issuer=ISSUER, ttl_seconds=ttl, now=now or datetime.now(UTC))


def _problem(authenticator: Authenticator, authorization: str) -> Problem:
    with pytest.raises(Problem) as caught:
        authenticator.authenticate(authorization)
    return caught.value


def test_a_valid_token_gives_the_principal_signed_for_the_services(keys: KeyRing) -> None:
    authenticator = Authenticator(keys, ISSUER, INTERNAL)
    bearer = f"Bearer {_token(keys)}"
    first = authenticator.authenticate(bearer)
    assert first is not None and first[0] == CLERK
    assert verify_principal(first[1], INTERNAL) == CLERK
    assert authenticator.authenticate(bearer) == first  # remembered: the same principal, the same signature
    assert authenticator.authenticate(None) is None and authenticator.authenticate("") is None


def test_invalid_credentials_are_refused_every_time_and_never_remembered(keys: KeyRing) -> None:
    authenticator = Authenticator(keys, ISSUER, INTERNAL)
    key = keys.signing_key()
    now = int(time.time())
    claims = CLERK.model_dump(mode="json") | {"sub": CLERK.subject, "iss": ISSUER, "iat": now, "exp": now + 60}
    wrong_audience = jwt.encode(claims | {"aud": "x"}, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
    wrong_issuer = jwt.encode(claims | {"aud": AUDIENCE, "iss": "x"}, key.private_key, algorithm="EdDSA",
                              headers={"kid": key.kid})
    for _ in range(2):
        for token in (wrong_audience, wrong_issuer, "not-a-jwt"):
            assert _problem(authenticator, f"Bearer {token}").slug == "invalid-token"
        assert _problem(authenticator, "Basic abc").slug == "unauthenticated"
        assert _problem(authenticator, "Bearer ").slug == "unauthenticated"
    assert authenticator._verified == {}


def test_a_remembered_token_expires_when_its_exp_passes(keys: KeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
    authenticator = Authenticator(keys, ISSUER, INTERNAL)
    bearer = f"Bearer {_token(keys, ttl=60)}"
    assert authenticator.authenticate(bearer) is not None
    assert len(authenticator._verified) == 1
    wall = time.time()
    monkeypatch.setattr(auth.time, "time", lambda: wall + 70)  # the memory's own expiry check
    monkeypatch.setattr(jwt.api_jwt, "datetime", _Shifted(70))  # PyJWT (its leeway is 5 s)'s, when it verifies again
    assert _problem(authenticator, bearer).slug == "invalid-token"
    assert authenticator._verified == {}


class _Shifted:
    """PyJWT reads the time as datetime.now(tz=timezone.utc); this moves it forward."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def now(self, tz: object = None) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.seconds)

    def __getattr__(self, name: str) -> object:
        return getattr(datetime, name)


def test_the_signed_principal_is_renewed_before_the_services_would_refuse_it(
    keys: KeyRing, monkeypatch: pytest.MonkeyPatch,
) -> None:
    authenticator = Authenticator(keys, ISSUER, INTERNAL, resign_after=10)
    bearer = f"Bearer {_token(keys)}"
    caller = authenticator.authenticate(bearer)
    public = authenticator.public()
    assert caller is not None and public[0] is PUBLIC
    start, wall = time.monotonic(), time.time()
    monkeypatch.setattr(auth.time, "monotonic", lambda: start + 11)
    monkeypatch.setattr("services.common.principal.time.time", lambda: wall + 11)
    renewed = authenticator.authenticate(bearer)
    assert renewed is not None and renewed[1] != caller[1]
    assert jwt.decode(renewed[1], options={"verify_signature": False})["exp"] >= int(wall) + 11 + 60
    assert authenticator.public()[1] != public[1]


def test_the_memory_is_bounded(keys: KeyRing) -> None:
    authenticator = Authenticator(keys, ISSUER, INTERNAL, max_tokens=3)
    for subject in range(7):
        principal = CLERK.model_copy(update={"subject": f"u-{subject}"})
        assert authenticator.authenticate(f"Bearer {_token(keys, principal)}") is not None
        assert len(authenticator._verified) <= 3


def test_a_token_without_an_expiry_or_issue_time_is_refused(keys: KeyRing) -> None:
    authenticator = Authenticator(keys, ISSUER, INTERNAL)
    key = keys.signing_key()
    now = int(time.time())
    claims = CLERK.model_dump(mode="json") | {"aud": AUDIENCE, "iss": ISSUER, "sub": CLERK.subject}
    never_expires = jwt.encode(claims | {"iat": now}, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
    no_issue_time = jwt.encode(claims | {"exp": now + 60}, key.private_key, algorithm="EdDSA",
                               headers={"kid": key.kid})
    for token in (never_expires, no_issue_time):
        assert _problem(authenticator, f"Bearer {token}").slug == "invalid-token"
    assert authenticator._verified == {}
