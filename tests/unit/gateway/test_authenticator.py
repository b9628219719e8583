"""The gateway remembers the bearer tokens it has verified: never an invalid one, never past its expiry."""

from __future__ import annotations

import time

import jwt
import pytest

from gateway import auth
from gateway.auth import PUBLIC, Authenticator, issue_dev_token
from services.common.principal import Principal, PrincipalKind, Role, verify_principal
from services.common.problems import Problem

SECRET = "token-secret-for-tests-0123456789abcdef"
INTERNAL = "internal-secret-for-tests-0123456789abcdef"
CLERK = Principal(kind=PrincipalKind.staff, subject="u-clerk", role=Role.window_clerk, region_code="320102000000")


def _problem(authenticator: Authenticator, authorization: str) -> Problem:
    with pytest.raises(Problem) as caught:
        authenticator.authenticate(authorization)
    return caught.value


def test_a_valid_token_gives_the_principal_signed_for_the_services() -> None:
    authenticator = Authenticator(SECRET, INTERNAL)
    bearer = f"Bearer {issue_dev_token(CLERK, SECRET)}"
    first = authenticator.authenticate(bearer)
    assert first is not None and first[0] == CLERK
    assert verify_principal(first[1], INTERNAL) == CLERK
    assert authenticator.authenticate(bearer) == first  # remembered: the same principal, the same signature
    assert authenticator.authenticate(None) is None and authenticator.authenticate("") is None


def test_invalid_credentials_are_refused_every_time_and_never_remembered() -> None:
    authenticator = Authenticator(SECRET, INTERNAL)
    forged = issue_dev_token(CLERK, "another-secret-0123456789abcdef-0123456789")
    wrong_audience = jwt.encode(CLERK.model_dump(mode="json") | {"aud": "x", "exp": int(time.time()) + 60},
                                SECRET, algorithm="HS256")
    for _ in range(2):
        assert _problem(authenticator, f"Bearer {forged}").slug == "invalid-token"
        assert _problem(authenticator, f"Bearer {wrong_audience}").slug == "invalid-token"
        assert _problem(authenticator, "Basic abc").slug == "unauthenticated"
        assert _problem(authenticator, "Bearer ").slug == "unauthenticated"
    assert authenticator._verified == {}


def test_a_remembered_token_expires_when_its_exp_passes() -> None:
    authenticator = Authenticator(SECRET, INTERNAL)
    bearer = f"Bearer {issue_dev_token(CLERK, SECRET, ttl_seconds=1)}"
    assert authenticator.authenticate(bearer) is not None
    assert len(authenticator._verified) == 1
    time.sleep(2.05)
    assert _problem(authenticator, bearer).slug == "invalid-token"
    assert authenticator._verified == {}


def test_the_signed_principal_is_renewed_before_the_services_would_refuse_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    authenticator = Authenticator(SECRET, INTERNAL, resign_after=10)
    bearer = f"Bearer {issue_dev_token(CLERK, SECRET)}"
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


def test_the_memory_is_bounded() -> None:
    authenticator = Authenticator(SECRET, INTERNAL, max_tokens=3)
    for subject in range(7):
        principal = CLERK.model_copy(update={"subject": f"u-{subject}"})
        assert authenticator.authenticate(f"Bearer {issue_dev_token(principal, SECRET)}") is not None
        assert len(authenticator._verified) <= 3


def test_a_token_without_an_expiry_or_issue_time_is_refused() -> None:
    authenticator = Authenticator(SECRET, INTERNAL)
    now = int(time.time())
    claims = CLERK.model_dump(mode="json") | {"aud": "zwfw-gateway"}
    never_expires = jwt.encode(claims | {"iat": now}, SECRET, algorithm="HS256")
    no_issue_time = jwt.encode(claims | {"exp": now + 60}, SECRET, algorithm="HS256")
    for token in (never_expires, no_issue_time):
        assert _problem(authenticator, f"Bearer {token}").slug == "invalid-token"
    assert authenticator._verified == {}
