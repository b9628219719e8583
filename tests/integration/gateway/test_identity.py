"""Identity at the gateway over HTTP, on a real SQLite gateway database: logins and lock-out, client credentials,
refresh rotation and reuse, logout, every kind of bad token, key rotation, production's refusal of demo accounts.

The identity code's clock is injected (lock-out periods, issue times, key ages move without sleeping). No backend
listens behind this gateway: a proxied request whose token the gateway accepts ends in 503 (backend unavailable),
one it refuses in 401 before any forwarding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.identity import cli
from gateway.identity.accounts import add_client, add_staff_account, set_active
from gateway.identity.seed import seed_demo
from gateway.identity.service import DemoIdentitiesInProduction, Identity
from gateway.identity.tokens import AUDIENCE
from gateway.main import create_app
from gateway.store.tables import staff_account
from services.common.principal import Role

COUNTY = "320102000000"
PASSWORD = "right-password-1"
SECRET = "client-secret-1"
# Proxied, and open to the clerk and the machine client of the county (application.read): 503 once authenticated
# (nobody listens), 401 when refused.
PROTECTED = "/api/v1/applications/320102000000-20261125-00001"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(identity: Identity) -> None:
    now = datetime.now(UTC)
    add_staff_account(identity.engine, identity.passwords, username="clerk", password=PASSWORD, name="王晓梅",
                      role=Role.window_clerk, department="区政务服务中心", region_code=COUNTY, now=now)
    add_client(identity.engine, identity.passwords, client_id="county-system", secret=SECRET, name="区系统",
               role=Role.platform, region_code=COUNTY, now=now)


@pytest.fixture
def make_gateway(
    monkeypatch: pytest.MonkeyPatch, identity: Identity, clock: Clock,
) -> Iterator[Callable[[], TestClient]]:
    for service in ("ACCEPTANCE", "APPROVAL", "DISCLOSURE", "MONITORING"):
        monkeypatch.setenv(f"GATEWAY_{service}_URL", f"http://127.0.0.1:{_dead_port()}")
    monkeypatch.setenv("GATEWAY_KEY_RELOAD_SECONDS", "0")  # sign with a rotated key at once
    opened: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(create_app(clock), raise_server_exceptions=True)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def gateway(make_gateway: Callable[[], TestClient], accounts: None) -> TestClient:
    return make_gateway()


def login(gateway: TestClient, username: str = "clerk", password: str = PASSWORD) -> Any:
    return gateway.post("/api/v1/auth/login", json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def accepted(gateway: TestClient, token: str) -> bool:
    status = gateway.get(PROTECTED, headers=bearer(token)).status_code
    assert status in (401, 503), status
    return status == 503


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# ---- staff login -------------------------------------------------------------------------------------------

def test_login_gives_a_short_eddsa_token_and_a_refresh_token(gateway: TestClient, identity: Identity) -> None:
    r = login(gateway)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert r.headers["cache-control"] == "no-store"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"] == identity.keys.signing_key().kid
    got = claims(body["access_token"])
    assert got["exp"] - got["iat"] == 900 and got["aud"] == AUDIENCE and got["iss"] == "zwfw-gateway"
    assert {k: got[k] for k in ("kind", "subject", "sub", "role", "department", "region_code", "name")} == {
        "kind": "staff", "subject": "clerk", "sub": "clerk", "role": "window_clerk", "department": "区政务服务中心",
        "region_code": COUNTY, "name": "王晓梅"}
    assert accepted(gateway, body["access_token"])


def test_wrong_password_unknown_user_and_inactive_account_get_one_answer(
    gateway: TestClient, identity: Identity,
) -> None:
    wrong = login(gateway, password="wrong")
    unknown = login(gateway, username="nobody-here")
    set_active(identity.engine, "clerk", False)
    inactive = login(gateway)
    for r in (wrong, unknown, inactive):
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert r.json() == wrong.json()
    assert wrong.json()["type"].endswith("/invalid-credentials")


class CountingHasher(PasswordHasher):
    """argon2-cffi's own hasher, counting its checks: timing would tell the same on a quiet machine only."""

    checks = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        CountingHasher.checks += 1
        return super().verify(hash, password)


def test_an_unknown_or_locked_user_costs_one_argon2_check_as_a_wrong_password_does(gateway: TestClient) -> None:
    passwords = gateway.app.state.identity.passwords  # type: ignore[attr-defined]
    passwords.hasher = CountingHasher()

    def checks(username: str, password: str = "wrong") -> int:
        before = CountingHasher.checks
        assert login(gateway, username=username, password=password).status_code == 401
        return CountingHasher.checks - before

    assert checks("clerk") == 1
    assert checks("nobody-here") == 1
    for _ in range(4):
        checks("clerk")
    assert checks("clerk", PASSWORD) == 1  # locked: refused, after the same work


def test_lock_out_after_five_failures_until_the_period_ends(
    gateway: TestClient, make_gateway: Callable[[], TestClient], identity: Identity, clock: Clock,
) -> None:
    for _ in range(4):
        assert login(gateway, password="wrong").status_code == 401
    assert login(gateway).status_code == 200  # a success resets the count
    for _ in range(5):
        assert login(gateway, password="wrong").status_code == 401
    locked = login(gateway)
    assert locked.status_code == 401 and locked.json() == login(gateway, password="wrong").json()
    with identity.engine.connect() as conn:
        row = conn.execute(select(staff_account).where(staff_account.c.username == "clerk")).one()
    assert row.locked_until == clock.now + timedelta(minutes=15)

    restarted = make_gateway()  # the lock is in the database: another gateway process sees it
    clock.advance(minutes=14, seconds=59)
    assert login(restarted).status_code == 401
    clock.advance(seconds=1)
    assert login(restarted).status_code == 200


def test_the_login_names_who_tried_for_the_audit(gateway: TestClient) -> None:
    seen: list[Any] = []
    app = gateway.app
    inner = app.middleware_stack
    assert inner is not None

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)
        await inner(scope, receive, send)

    app.middleware_stack = spy  # type: ignore[assignment]
    login(gateway, username="someone", password="x")
    gateway.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("county-system", "x"))
    assert [s.get("zwfw.audit_subject") for s in seen] == ["someone", "county-system"]


# ---- machine clients --------------------------------------------------------------------------------------

def test_client_credentials_by_basic_or_body(gateway: TestClient) -> None:
    by_basic = gateway.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers=basic("county-system", SECRET))
    by_body = gateway.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "county-system",
                                                 "client_secret": SECRET})
    for r in (by_basic, by_body):
        assert r.status_code == 200, r.text
        assert "refresh_token" not in r.json() and r.headers["cache-control"] == "no-store"
        got = claims(r.json()["access_token"])
        assert (got["kind"], got["role"], got["region_code"]) == ("machine", "platform", COUNTY)
        assert accepted(gateway, r.json()["access_token"])


def test_token_endpoint_errors_have_the_rfc_6749_shape(gateway: TestClient) -> None:
    bad = gateway.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("county-system", "x"))
    unknown = gateway.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "nobody",
                                                 "client_secret": "x"})
    garbled = gateway.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": "Basic é%%not-base64".encode("latin-1")})
    for r in (bad, unknown, garbled):
        assert r.status_code == 401 and r.headers["content-type"] == "application/json"
        assert r.json()["error"] == "invalid_client" and r.json()["status"] == 401
        assert r.headers["www-authenticate"].startswith("Basic")
    both = gateway.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "county-system",
                                              "client_secret": SECRET}, headers=basic("county-system", SECRET))
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")
    missing = gateway.post("/oauth/token", data={})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    other = gateway.post("/oauth/token", data={"grant_type": "authorization_code", "code": "x"})
    assert (other.status_code, other.json()["error"]) == (400, "unsupported_grant_type")


def test_a_client_is_locked_out_as_staff_are(gateway: TestClient, clock: Clock) -> None:
    def token(secret: str) -> int:
        return int(gateway.post("/oauth/token", data={"grant_type": "client_credentials"},
                                headers=basic("county-system", secret)).status_code)

    assert [token("wrong") for _ in range(5)] == [401] * 5
    assert token(SECRET) == 401
    clock.advance(minutes=15)
    assert token(SECRET) == 200


# ---- refresh and logout ------------------------------------------------------------------------------------

def refresh(gateway: TestClient, token: str) -> Any:
    return gateway.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token})


def test_refresh_rotates_and_a_reused_token_revokes_the_family(gateway: TestClient) -> None:
    first = login(gateway).json()
    second = refresh(gateway, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert claims(second.json()["access_token"])["sid"] == claims(first["access_token"])["sid"]
    assert accepted(gateway, second.json()["access_token"])

    reused = refresh(gateway, first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    # The thief's use revoked the family: the token the clerk holds now is dead too, a new login is needed.
    assert refresh(gateway, second.json()["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(gateway, "never-issued").json()["error"] == "invalid_grant"
    assert refresh(gateway, login(gateway).json()["refresh_token"]).status_code == 200


def test_refresh_reads_the_account_again(gateway: TestClient, identity: Identity) -> None:
    tokens = login(gateway).json()
    with identity.engine.begin() as conn:
        conn.execute(staff_account.update().where(staff_account.c.username == "clerk")
                     .values(role="approver", region_code="320102001000"))
    renewed = refresh(gateway, tokens["refresh_token"]).json()
    assert (claims(renewed["access_token"])["role"], claims(renewed["access_token"])["region_code"]) == (
        "approver", "320102001000")
    set_active(identity.engine, "clerk", False)
    assert refresh(gateway, renewed["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_ends_with_the_working_day(gateway: TestClient, clock: Clock) -> None:
    tokens = login(gateway).json()
    clock.advance(hours=7)
    tokens = refresh(gateway, tokens["refresh_token"]).json()
    clock.advance(hours=1)  # eight hours after the login, however often it was refreshed
    assert refresh(gateway, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_logout_revokes_this_login_only(gateway: TestClient) -> None:
    laptop, phone = login(gateway).json(), login(gateway).json()
    assert gateway.post("/api/v1/auth/logout").status_code == 401
    r = gateway.post("/api/v1/auth/logout", headers=bearer(laptop["access_token"]))
    assert r.status_code == 204
    assert refresh(gateway, laptop["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(gateway, phone["refresh_token"]).status_code == 200


# ---- tokens the gateway refuses ------------------------------------------------------------------------------

def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _forge(payload: dict[str, Any], key: Any, algorithm: str, kid: str) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def test_tampered_expired_foreign_and_confused_tokens_are_refused(
    gateway: TestClient, identity: Identity, clock: Clock,
) -> None:
    token = login(gateway).json()["access_token"]
    kid = jwt.get_unverified_header(token)["kid"]
    head, payload, signature = token.split(".")
    raised = claims(token) | {"role": "operations", "region_code": ""}
    tampered = ".".join([head, _b64(json.dumps(raised).encode()), signature])

    clock.advance(minutes=-20)  # issued 20 minutes ago for 15
    expired = login(gateway).json()["access_token"]
    clock.advance(minutes=20)

    good = claims(token)
    other_key = _forge(good, Ed25519PrivateKey.generate(), "EdDSA", kid)  # right kid, wrong key
    public_pem = identity.keys.signing_key().public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # Algorithm confusion: HS256 with the public key as the HMAC secret (PyJWT refuses to make one, so by hand).
    hs_head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    mac = hmac.new(public_pem, f"{hs_head}.{payload}".encode(), hashlib.sha256).digest()
    hs256 = f"{hs_head}.{payload}.{_b64(mac)}"
    unsigned = ".".join([_b64(json.dumps({"alg": "none", "kid": kid}).encode()), payload, ""])
    for bad in (tampered, expired, other_key, hs256, unsigned, token[:-4] + "AAAA"):
        r = gateway.get(PROTECTED, headers=bearer(bad))
        assert r.status_code == 401 and r.json()["type"].endswith("/invalid-token"), (bad, r.text)
    assert accepted(gateway, token)


# ---- keys ----------------------------------------------------------------------------------------------------

def test_rotation_keeps_old_tokens_valid_and_publishes_both_keys(
    gateway: TestClient, identity: Identity, clock: Clock, capsys: pytest.CaptureFixture[str],
) -> None:
    old = login(gateway).json()["access_token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    assert [k["kid"] for k in gateway.get("/.well-known/jwks.json").json()["keys"]] == [old_kid]

    assert cli.main(["--database-url", identity.settings.database_url, "keys", "rotate"]) == 0
    new_kid = capsys.readouterr().out.split()[-1]
    new = login(gateway).json()["access_token"]
    assert jwt.get_unverified_header(new)["kid"] == new_kid != old_kid
    assert accepted(gateway, old) and accepted(gateway, new)
    jwks = gateway.get("/.well-known/jwks.json")
    assert jwks.headers["content-type"] == "application/jwk-set+json"
    keys = jwks.json()["keys"]
    assert [k["kid"] for k in keys] == [new_kid, old_kid]  # the active key first
    assert all(set(k) == {"kty", "crv", "x", "kid", "alg", "use"} for k in keys)  # public parts only
    public = jwt.PyJWK(keys[1]).key
    assert jwt.decode(old, public, algorithms=["EdDSA"], audience=AUDIENCE)["sub"] == "clerk"

    # Once every token the old key signed has expired it leaves the JWKS, pruned or not. (The command retired it at
    # the real time, a few seconds after this test's clock started: a minute of margin.)
    clock.advance(minutes=16)
    assert [k["kid"] for k in gateway.get("/.well-known/jwks.json").json()["keys"]] == [new_kid]
    assert Identity.from_settings(identity.settings, clock=clock).keys.prune() == [old_kid]


# ---- production ----------------------------------------------------------------------------------------------

def test_production_refuses_to_start_with_demo_identities(
    make_gateway: Callable[[], TestClient], identity: Identity, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert len(seed_demo(identity.engine)) > 10
    assert seed_demo(identity.engine) == []  # idempotent
    monkeypatch.setenv("ZWFW_ENV", "production")
    monkeypatch.setenv("ZWFW_INTERNAL_SECRET", "a-production-internal-secret-0123456789abcdef")
    with pytest.raises(DemoIdentitiesInProduction, match="county-clerk"):
        make_gateway()
    assert cli.main(["--database-url", identity.settings.database_url, "accounts", "deactivate-demo"]) == 0
    assert "deactivated" in capsys.readouterr().out
    gateway = make_gateway()
    assert gateway.get("/.well-known/jwks.json").status_code == 200
    assert login(gateway, "county-clerk", "demo-county-clerk-2026").status_code == 401


# ---- the command and the documents -------------------------------------------------------------------------------

def test_an_account_added_by_the_command_can_log_in(
    gateway: TestClient, identity: Identity, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-new-password-1\n"))
    args = ["--database-url", identity.settings.database_url, "accounts", "add", "head02", "--name", "刘芳",
            "--role", "department_head", "--department", "区行政审批局", "--region", COUNTY, "--password-stdin"]
    assert cli.main(args) == 0
    assert cli.main(args) == 1  # exists already
    assert "refused" in capsys.readouterr().err
    r = login(gateway, "head02", "a-new-password-1")
    assert r.status_code == 200 and claims(r.json()["access_token"])["role"] == "department_head"


def test_the_aggregated_openapi_documents_the_identity_endpoints(gateway: TestClient) -> None:
    doc = gateway.get("/openapi.json").json()
    for path, method in (("/api/v1/auth/login", "post"), ("/oauth/token", "post"), ("/api/v1/auth/logout", "post"),
                         ("/.well-known/jwks.json", "get")):
        assert method in doc["paths"][path], path
    assert doc["paths"]["/api/v1/auth/login"]["post"]["security"] == []
    assert doc["paths"]["/api/v1/auth/logout"]["post"]["security"] == [{"bearer": []}]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert set(schemes["oauth2"]["flows"]) == {"clientCredentials", "password"}
    assert "LoginRequest" in doc["components"]["schemas"]
