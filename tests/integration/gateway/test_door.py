"""The door: rate limits (429 with Retry-After and RateLimit fields), the circuit breaker per backend, each upstream
failure as problem+json, retries for idempotent methods only, repeated headers both ways. Real backends over
HTTP on free ports; the gateway in process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi.testclient import TestClient

from services.common.principal import Principal, PrincipalKind, Role
from tests.integration.gateway.backends import free_port, http_backend, raw_backend, served
from tests.integration.gateway.conftest import BearerFor, without_authorization


def _auth(subject: str, role: Role = Role.window_clerk) -> BearerFor:
    return BearerFor(Principal(kind=PrincipalKind.staff, subject=subject, role=role, region_code="320102000000"))


CLERK = _auth("u-clerk")
OTHER_CLERK = _auth("u-other")


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"path": request.path})


@pytest.fixture
def backend() -> Iterator[str]:
    with http_backend(_ok) as url:
        yield url


def _gateway(monkeypatch: pytest.MonkeyPatch, **env: str) -> TestClient:
    for name, value in env.items():
        monkeypatch.setenv(f"GATEWAY_{name.upper()}", value)
    from gateway.main import create_app

    # Without the role and region check (tested on its own): the door's mechanics, on paths no service serves.
    return TestClient(without_authorization(create_app()), raise_server_exceptions=False)


def _problem(resp: Any, status: int, slug: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status
    return body


# --- rate limits -------------------------------------------------------------------------------------------------

@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch, backend: str) -> Iterator[TestClient]:
    with _gateway(monkeypatch, acceptance_url=backend, disclosure_url=backend, ratelimit_public="3/minute",
                  ratelimit_client="4/minute", ratelimit_identity="2/minute") as client:
        yield client


def _assert_throttled(resp: Any, policy: str, quota: int) -> None:
    _problem(resp, 429, "rate-limited")
    retry_after = int(resp.headers["retry-after"])
    assert 1 <= retry_after <= 120
    assert resp.headers["ratelimit-policy"] == f'"{policy}";q={quota};w=60'
    assert resp.headers["ratelimit"] == f'"{policy}";r=0;t={retry_after}'
    assert resp.headers["x-request-id"]


def test_anonymous_callers_are_limited_per_address(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    for name, value in {"ACCEPTANCE_URL": backend, "DISCLOSURE_URL": backend, "RATELIMIT_PUBLIC": "3/minute"}.items():
        monkeypatch.setenv(f"GATEWAY_{name}", value)
    from gateway.main import create_app

    # Real HTTP, so the gateway sees real peer addresses: 127.0.0.1 and 127.0.0.2 are both this host's loopback.
    with served(without_authorization(create_app())) as url, httpx.Client(base_url=url) as here, httpx.Client(
            base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as elsewhere:
        for _ in range(3):
            assert here.get("/api/v1/catalogue/items").status_code == 200
        _assert_throttled(here.get("/api/v1/catalogue/items"), "public", 3)
        # Another address has its own quota; so does an authenticated client at the spent address.
        assert elsewhere.get("/api/v1/catalogue/items").status_code == 200
        assert here.get("/api/v1/applications", headers=CLERK).status_code == 200
        _assert_throttled(here.get("/openapi.json"), "public", 3)  # the gateway's own routes too


def test_authenticated_clients_are_limited_per_principal(limited: TestClient) -> None:
    for _ in range(4):
        assert limited.get("/api/v1/applications", headers=CLERK).status_code == 200
    _assert_throttled(limited.get("/api/v1/applications", headers=CLERK), "client", 4)
    # From the same address, another principal still has its whole quota, and so has the address for the public.
    assert limited.get("/api/v1/applications", headers=OTHER_CLERK).status_code == 200
    assert limited.get("/api/v1/catalogue/items").status_code == 200


def test_credentials_that_fail_count_against_the_address(limited: TestClient) -> None:
    for _ in range(3):
        _problem(limited.get("/api/v1/applications", headers={"Authorization": "Bearer rubbish"}), 401,
                 "invalid-token")
    _assert_throttled(limited.get("/api/v1/applications", headers={"Authorization": "Bearer rubbish"}), "public", 3)


def test_identity_writes_have_their_own_stricter_limit_per_address(limited: TestClient) -> None:
    for _ in range(2):
        assert limited.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code != 429
    _assert_throttled(limited.post("/oauth/token", data={"grant_type": "client_credentials"}), "identity", 2)
    _assert_throttled(limited.post("/api/v1/auth/login", json={"username": "x"}), "identity", 2)
    assert limited.get("/api/v1/catalogue/items").status_code == 200  # the public quota is a different one


def test_several_quotas_in_one_policy_are_named_apart(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    with _gateway(monkeypatch, disclosure_url=backend, ratelimit_public="2/minute;100/hour") as client:
        for _ in range(2):
            assert client.get("/api/v1/catalogue/items").status_code == 200
        resp = client.get("/api/v1/catalogue/items")
    assert resp.status_code == 429
    assert resp.headers["ratelimit-policy"] == '"public-60s";q=2;w=60, "public-3600s";q=100;w=3600'
    assert resp.headers["ratelimit"].startswith('"public-60s";r=0;t=')


# --- upstream failures, retries, circuit breaker -------------------------------------------------------------------

def test_a_backend_nobody_listens_on_answers_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    with _gateway(monkeypatch, acceptance_url=f"http://127.0.0.1:{free_port()}",
                  unavailable_retry_after_seconds="7") as client:
        resp = client.get("/api/v1/applications", headers=CLERK)
    body = _problem(resp, 503, "backend-unavailable")
    assert resp.headers["retry-after"] == "7" and "acceptance" in body["detail"]


def test_a_backend_slower_than_the_read_timeout_answers_504(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def slow(request: web.Request) -> web.Response:
        calls.append(request.method)
        await __import__("asyncio").sleep(1.0)
        return web.json_response({})

    with http_backend(slow) as url, _gateway(monkeypatch, acceptance_url=url, read_timeout_seconds="0.2") as client:
        started = time.monotonic()
        resp = client.get("/api/v1/applications", headers=CLERK)
        elapsed = time.monotonic() - started
    _problem(resp, 504, "backend-timeout")
    assert "retry-after" not in resp.headers
    assert calls == ["GET"] and elapsed < 0.9  # not retried: the backend may still be working on it


def test_a_broken_answer_is_502(monkeypatch: pytest.MonkeyPatch) -> None:
    connections: list[int] = []
    truncated = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\""
    with raw_backend(truncated, connections) as url, _gateway(monkeypatch, acceptance_url=url) as client:
        resp = client.post("/api/v1/applications", headers=CLERK, json={})
    _problem(resp, 502, "bad-gateway")
    assert "retry-after" not in resp.headers and len(connections) == 1


@pytest.mark.parametrize(("method", "attempts"), [("GET", 2), ("PUT", 2), ("DELETE", 2), ("POST", 1), ("PATCH", 1)])
def test_only_idempotent_methods_are_retried(monkeypatch: pytest.MonkeyPatch, method: str, attempts: int) -> None:
    connections: list[int] = []  # the backend accepts, reads the request and hangs up without answering
    with raw_backend(b"", connections) as url, _gateway(monkeypatch, acceptance_url=url,
                                                        breaker_threshold="10") as client:
        resp = client.request(method, "/api/v1/applications/x", headers=CLERK, content=b"{}")
    _problem(resp, 503, "backend-unavailable")
    assert len(connections) == attempts


def test_the_breaker_opens_answers_503_until_the_probe_then_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    with _gateway(monkeypatch, acceptance_url=f"http://127.0.0.1:{port}", disclosure_url=f"http://127.0.0.1:{port}",
                  breaker_threshold="3", breaker_open_seconds="1") as client:
        for _ in range(3):  # POST: one attempt each, three consecutive connection failures
            _problem(client.post("/api/v1/applications", headers=CLERK, json={}), 503, "backend-unavailable")
        opened = client.post("/api/v1/applications", headers=CLERK, json={})
        body = _problem(opened, 503, "backend-circuit-open")
        assert opened.headers["retry-after"] == "1" and "acceptance" in body["detail"]
        # Per backend: disclosure's breaker is still closed (its failure is its own, not the open breaker's).
        _problem(client.get("/api/v1/catalogue/items"), 503, "backend-unavailable")

        with http_backend(_ok, port=port):
            # Still open: the backend is back but nobody asks it yet.
            _problem(client.get("/api/v1/applications", headers=CLERK), 503, "backend-circuit-open")
            time.sleep(1.1)
            probe = client.get("/api/v1/applications", headers=CLERK)  # half-open: goes through and closes it
            assert probe.status_code == 200, probe.text
            assert client.app.state.door.breakers.state("acceptance") == "closed"
            assert client.get("/api/v1/applications", headers=CLERK).status_code == 200


def test_a_failed_probe_opens_the_breaker_again(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    with _gateway(monkeypatch, acceptance_url=f"http://127.0.0.1:{port}", breaker_threshold="2",
                  breaker_open_seconds="0.5") as client:
        _problem(client.get("/api/v1/applications", headers=CLERK), 503, "backend-unavailable")  # 2 attempts
        _problem(client.get("/api/v1/applications", headers=CLERK), 503, "backend-circuit-open")
        time.sleep(0.6)
        _problem(client.post("/api/v1/applications", headers=CLERK), 503, "backend-unavailable")  # the probe fails
        assert client.app.state.door.breakers.state("acceptance") == "opened"
        _problem(client.post("/api/v1/applications", headers=CLERK), 503, "backend-circuit-open")


def test_a_backends_own_5xx_does_not_open_its_breaker(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(request: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=500)

    with http_backend(failing) as url, _gateway(monkeypatch, acceptance_url=url, breaker_threshold="2") as client:
        for _ in range(5):
            resp = client.post("/api/v1/applications", headers=CLERK, json={})
            assert resp.status_code == 500 and resp.json() == {"error": "boom"}  # the backend's answer, as it was
        assert client.app.state.door.breakers.state("acceptance") == "closed"


# --- repeated headers ---------------------------------------------------------------------------------------------

def test_repeated_headers_pass_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[tuple[str, str]]] = []

    async def cookies(request: web.Request) -> web.Response:
        seen.append(list(request.headers.items()))
        resp = web.json_response({})
        resp.headers.add("Set-Cookie", "a=1; Path=/")
        resp.headers.add("Set-Cookie", "b=2; Path=/")
        resp.headers.add("Link", "</x>; rel=next")
        resp.headers.add("Link", "</y>; rel=prev")
        return resp

    with http_backend(cookies) as url, _gateway(monkeypatch, acceptance_url=url) as client:
        resp = client.get("/api/v1/applications", headers=[*CLERK.items(), ("X-Multi", "one"), ("X-Multi", "two"),
                                                           ("Accept", "application/json"), ("Accept", "text/csv")])
    assert resp.status_code == 200
    assert resp.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert resp.headers.get_list("link") == ["</x>; rel=next", "</y>; rel=prev"]
    (received,) = seen
    assert [v for k, v in received if k.lower() == "x-multi"] == ["one", "two"]
    assert [v for k, v in received if k.lower() == "accept"] == ["application/json", "text/csv"]


# --- the authorization hook ---------------------------------------------------------------------------------------

def test_the_authorize_hook_sees_the_request_before_it_is_forwarded(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.common.problems import Problem

    calls: list[tuple[Any, ...]] = []
    forwarded: list[str] = []

    async def record(request: web.Request) -> web.Response:
        forwarded.append(request.path)
        return web.json_response({})

    def authorize(principal: Principal, method: str, path: str, query: str, body: bytes) -> None:
        calls.append((principal.subject, method, path, query, body))
        if path.endswith("/elsewhere"):
            raise Problem(404, "not-found", "请求的资源不存在")

    with http_backend(record) as url, _gateway(monkeypatch, acceptance_url=url) as client:
        (proxy,) = [r.app for r in client.app.router.routes if getattr(r, "path", "") == "/api/{path:path}"]
        proxy.authorize = authorize
        assert client.post("/api/v1/applications/here?x=1", headers=CLERK, content=b'{"a":1}').status_code == 200
        _problem(client.post("/api/v1/applications/elsewhere", headers=CLERK, content=b"{}"), 404, "not-found")
    assert calls == [("u-clerk", "POST", "/api/v1/applications/here", "x=1", b'{"a":1}'),
                     ("u-clerk", "POST", "/api/v1/applications/elsewhere", "", b"{}")]
    assert forwarded == ["/api/v1/applications/here"]
