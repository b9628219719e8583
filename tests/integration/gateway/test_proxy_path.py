"""The proxy path as a plain ASGI endpoint behind a pure ASGI request-id middleware: what reaches the backend,
what comes back, and that every answer, errors included, carries the request id and the trace id."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from gateway.identity.service import Identity
from services.common.principal import PRINCIPAL_HEADER, Principal, PrincipalKind, Role, verify_principal
from services.common.settings import PlatformSettings
from tests.integration.gateway.conftest import Mint

CLERK = Principal(kind=PrincipalKind.staff, subject="u-clerk", role=Role.window_clerk, region_code="320102000000")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def backend() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An aiohttp backend that records what it received and answers 201 with a JSON body."""
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append({"method": request.method, "path": request.path, "query": request.query_string,
                     "raw_query": request.rel_url.raw_query_string,
                     "headers": [(k, v) for k, v in request.headers.items()], "body": await request.read()})
        return web.Response(status=201, body=json.dumps({"ok": True}).encode(), content_type="application/json",
                            headers={"X-Backend": "yes", "X-Request-Id": "from-backend"})

    port = _free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runner_box.append(runner)
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def auth(mint: Mint) -> dict[str, str]:
    return mint(CLERK)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, backend: tuple[str, list[dict[str, Any]]],
            identity: Identity) -> Iterator[TestClient]:
    monkeypatch.setenv("GATEWAY_ACCEPTANCE_URL", backend[0])
    monkeypatch.setenv("GATEWAY_DISCLOSURE_URL", f"http://127.0.0.1:{_free_port()}")  # nobody listens
    monkeypatch.setenv("GATEWAY_MAX_BODY_BYTES", "1000")
    from gateway.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def _header(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


def test_a_proxied_request_reaches_the_backend_with_what_it_needs(
    gateway: TestClient, backend: tuple[str, list[dict[str, Any]]], auth: dict[str, str],
) -> None:
    headers = auth | {"X-Request-Id": "rid-1", "X-Forwarded-For": "10.0.0.9", "traceparent": TRACEPARENT,
                      "X-Zwfw-Principal": "forged", "Content-Type": "application/json"}
    resp = gateway.post("/api/v1/applications?x=1&y=%E4%B8%AD", content=b'{"a": 1}', headers=headers)

    assert resp.status_code == 201 and resp.json() == {"ok": True}
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-backend"] == "yes"
    assert resp.headers.get_list("x-request-id") == ["rid-1"]  # the gateway's, not the backend's
    assert resp.headers["x-trace-id"] == "0af7651916cd43dd8448eb211c80319c"
    assert int(resp.headers["content-length"]) == len(resp.content)

    (got,) = backend[1]
    assert got["method"] == "POST" and got["path"] == "/api/v1/applications"
    assert got["query"] == "x=1&y=中" and got["body"] == b'{"a": 1}'
    sent = got["headers"]
    assert _header(sent, "X-Request-Id") == ["rid-1"]
    assert _header(sent, "X-Forwarded-For") == ["10.0.0.9, testclient"]
    assert _header(sent, "Authorization") == []
    (signed,) = _header(sent, PRINCIPAL_HEADER)
    assert verify_principal(signed, PlatformSettings().zwfw_internal_secret) == CLERK
    (traceparent,) = _header(sent, "traceparent")
    _version, trace_id, parent_id, _flags = traceparent.split("-")
    assert trace_id == "0af7651916cd43dd8448eb211c80319c"  # the same trace,
    assert parent_id != TRACEPARENT.split("-")[2] and int(parent_id, 16) != 0  # the gateway's span as the parent
    assert _header(sent, "Content-Type") == ["application/json"]


@pytest.mark.parametrize(("raw", "decoded"), [
    # Control characters and literal escapes are in tests/unit/gateway/test_upstream_url.py: the TestClient decodes a
    # path twice, and this backend's catch-all route does not match a line feed.
    ("X%20Y", "X Y"),
    ("%E4%B8%AD", "中"),
    ("X%3FY", "X?Y"),
    ("X%23Y", "X#Y"),
])
def test_the_backend_is_asked_for_the_path_the_gateway_authorized(
    gateway: TestClient, backend: tuple[str, list[dict[str, Any]]], auth: dict[str, str], raw: str, decoded: str,
) -> None:
    resp = gateway.get(f"/api/v1/applications/{raw}?q=a%2Bb%20c", headers=auth)
    assert resp.status_code == 201, resp.text
    (got,) = backend[1]
    assert got["path"] == f"/api/v1/applications/{decoded}"
    assert got["raw_query"] == "q=a%2Bb%20c"  # as the client encoded it


def test_a_request_without_an_id_gets_one(gateway: TestClient, auth: dict[str, str]) -> None:
    resp = gateway.post("/api/v1/applications", content=b"{}", headers=auth)
    assert resp.status_code == 201 and len(resp.headers["x-request-id"]) == 32
    assert len(resp.headers["x-trace-id"]) == 32


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "slug"), [
    ("POST", "/api/v1/applications", {"content": b"x" * 1001, "authenticated": True}, 413, "body-too-large"),
    ("POST", "/api/v1/applications", {"content": b"{}"}, 401, "unauthenticated"),
    ("POST", "/api/v1/applications", {"headers": {"Authorization": "Bearer nope"}}, 401, "invalid-token"),
    ("GET", "/api/v1/nowhere", {"authenticated": True}, 404, "not-found"),
    ("OPTIONS", "/api/v1/applications", {"authenticated": True}, 405, "method-not-allowed"),
    ("GET", "/api/v1/catalogue/items", {"authenticated": True}, 503, "backend-unavailable"),
])
def test_every_problem_carries_the_request_id(
    gateway: TestClient, auth: dict[str, str], method: str, path: str, kwargs: dict[str, Any], status: int, slug: str,
) -> None:
    kwargs = dict(kwargs)
    headers = {"X-Request-Id": "rid-err"} | (auth if kwargs.pop("authenticated", False) else {}) | kwargs.pop(
        "headers", {})
    resp = gateway.request(method, path, headers=headers, **kwargs)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"].endswith("/" + slug) and resp.json()["instance"] == path
    assert resp.headers["x-request-id"] == "rid-err" and len(resp.headers["x-trace-id"]) == 32
    if status == 503:
        assert resp.headers["retry-after"] == "5"
    if status == 405:
        assert resp.headers["allow"] == "DELETE, GET, PATCH, POST, PUT"


def test_a_chunked_body_over_the_limit_is_refused(gateway: TestClient, auth: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"x" * 300

    resp = gateway.post("/api/v1/applications", content=chunks(), headers=auth)
    assert resp.status_code == 413 and resp.headers["x-request-id"]


def test_an_unexpected_error_still_carries_the_request_id(
    gateway: TestClient, monkeypatch: pytest.MonkeyPatch, auth: dict[str, str],
) -> None:
    def broken(path: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("gateway.proxy.match", broken)
    with recorded_spans() as spans:
        resp = gateway.get("/api/v1/applications", headers=auth | {"X-Request-Id": "rid-500"})
    assert resp.status_code == 500 and resp.headers["x-request-id"] == "rid-500"
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"].endswith("/internal-error") and resp.json()["instance"] == "/api/v1/applications"
    assert "boom" not in resp.text
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.status.status_code is StatusCode.ERROR
    assert [e.attributes["exception.message"] for e in server.events if e.name == "exception"] == ["boom"]


class _Recorder(SpanProcessor):
    """Keeps the spans ended while a test listens; the provider has no way to remove a processor, so it stays."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] | None = None

    def on_end(self, span: ReadableSpan) -> None:
        if self.spans is not None:
            self.spans.append(span)


_recorder: _Recorder | None = None


@contextlib.contextmanager
def recorded_spans() -> Iterator[list[ReadableSpan]]:
    """The spans the gateway (in this process) ends inside the block."""
    global _recorder
    if _recorder is None:
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider), "the gateway's create_app installs the SDK's provider"
        _recorder = _Recorder()
        provider.add_span_processor(_recorder)
    spans: list[ReadableSpan] = []
    _recorder.spans = spans
    try:
        yield spans
    finally:
        _recorder.spans = None


@pytest.mark.parametrize(("method", "path", "lane"), [
    ("POST", "/api/v1/applications", "proxied"),
    ("GET", "/api/v1/catalogue/items", "proxied"),  # nobody listens there: 503, still one span
    ("POST", "/api/v1/auth/login", "app"),  # the gateway's own endpoints there are the app's
    ("GET", "/api/v1/audit/entries", "app"),
])
def test_proxied_requests_are_one_server_span_named_as_the_route(
    gateway: TestClient, backend: tuple[str, list[dict[str, Any]]], auth: dict[str, str], method: str, path: str,
    lane: str,
) -> None:
    with recorded_spans() as spans:
        resp = gateway.request(method, path, content=b"{}" if method == "POST" else None,
                               headers=auth | {"Content-Type": "application/json"})
    assert resp.status_code in (201, 403, 422, 503), resp.text
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    route = server.attributes["http.route"]
    assert route == "/api/{path:path}" if lane == "proxied" else route == path
    assert server.name == f"{method} {route}"
    # Made by OpenTelemetry's ASGI middleware in the proxied lane (gateway.lane), by FastAPI's instrumentation in the
    # app: the proxied request did not go through the app.
    lanes = {"opentelemetry.instrumentation.asgi": "proxied", "opentelemetry.instrumentation.fastapi": "app"}
    assert lanes[server.instrumentation_scope.name] == lane
    assert format(server.context.trace_id, "032x") == resp.headers["x-trace-id"]
    if method == "POST" and lane == "proxied":  # the backend's parent is this span: no other span between
        (traceparent,) = _header(backend[1][-1]["headers"], "traceparent")
        assert traceparent.split("-")[2] == format(server.context.span_id, "016x")
