"""Gateway entry point: `uvicorn gateway.main:app` on 127.0.0.1:8000."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.routing import Route

from gateway.auth import Authenticator
from gateway.authorization import RequestAuthorizer
from gateway.config import GatewaySettings
from gateway.door import Door
from gateway.identity.clock import Clock, utc_now
from gateway.identity.routes import identity_router
from gateway.identity.service import Identity
from gateway.lane import ProxiedLane
from gateway.middleware import REQUEST_ID, TRACE_ID, RequestIdMiddleware
from gateway.openapi import OpenApiAggregator
from gateway.proxy import ProxyEndpoint
from services.common.db import upgrade_database
from services.common.problems import install_problem_handlers
from services.common.settings import PlatformSettings
from services.common.telemetry import setup_telemetry, shutdown_telemetry

__all__ = ["REQUEST_ID", "TRACE_ID", "UPLOAD_PATHS", "app", "create_app"]

# The one path allowed bodies larger than max_body_bytes: material file uploads (upload_max_body_bytes).
UPLOAD_PATHS = frozenset({("POST", "/api/v1/applications/files")})
UNTRACED = "healthz,readyz"  # OpenTelemetry's excluded_urls: probes make no spans
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_app(clock: Clock = utc_now) -> FastAPI:
    """`clock`: tests move the identity code's time (lock-outs, token issue times, key ages) without sleeping."""
    settings = GatewaySettings()
    platform = PlatformSettings()
    setup_telemetry("zwfw-gateway")
    backends = settings.backends()
    identity = Identity.from_settings(settings, clock=clock)
    auth = Authenticator(identity.keys, settings.token_issuer, platform.zwfw_internal_secret)
    door = Door(database_url=settings.database_url, auth=auth)
    proxy = ProxyEndpoint(backends=backends, auth=auth,
                          max_body_bytes=settings.max_body_bytes,
                          upload_max_body_bytes=settings.upload_max_body_bytes, upload_paths=UPLOAD_PATHS,
                          limiter=door.limiter, breakers=door.breakers,
                          unavailable_retry_after=door.settings.unavailable_retry_after_seconds,
                          authorize=RequestAuthorizer().check)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # As the services do: the gateway brings its own database to its schema, then refuses demo identities in
        # production and makes the first signing key if there is none.
        await asyncio.to_thread(upgrade_database, settings.database_url, MIGRATIONS)
        await asyncio.to_thread(identity.start)
        timeout = aiohttp.ClientTimeout(sock_connect=settings.connect_timeout_seconds,
                                        sock_read=settings.read_timeout_seconds)
        connector = aiohttp.TCPConnector(limit=200, ttl_dns_cache=300,
                                         keepalive_timeout=settings.backend_keepalive_seconds)
        app.state.http = aiohttp.ClientSession(timeout=timeout, connector=connector, auto_decompress=False)
        # No client span per forwarded request; the proxy passes the trace context on itself (gateway/proxy.py).
        AioHttpClientInstrumentor.uninstrument_session(app.state.http)
        proxy.session = app.state.http
        await door.start()
        try:
            yield
        finally:
            await door.stop()
            proxy.session = None
            await app.state.http.close()
            shutdown_telemetry()
            identity.engine.dispose()

    # FastAPI's native telemetry off: OpenTelemetry's FastAPI instrumentation below makes the server span, and
    # the two would otherwise both look at every request (FastAPI stands down per request when it finds OTel's
    # middleware, after walking the stack to find it).
    app = FastAPI(title="政务服务平台网关 zwfw gateway", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None, telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings = platform
    app.state.identity = identity
    app.state.door = door
    install_problem_handlers(app)
    audit_routes = door.install(app)
    router = identity_router(identity)
    aggregator = OpenApiAggregator(backends, own=[*router.routes, *audit_routes.routes])

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await aggregator.document(request.app.state.http))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="政务服务平台 API")

    # Before the proxy's catch-all: /api/v1/auth/* is the gateway's own.
    app.include_router(router)
    # A plain ASGI endpoint (see gateway.proxy); starlette's Route passes every method to it, it refuses others.
    app.router.routes.append(Route("/api/{path:path}", endpoint=proxy, include_in_schema=False))

    # The server span per request, as services.common.telemetry.instrument_app makes it, without the internal
    # "http send" / "http receive" spans per ASGI message (three more spans per proxied request, no information
    # the server span does not already carry).
    FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED, exclude_spans=["receive", "send"])
    # Proxied requests skip the app's layers (gateway/lane.py); the catch-all route above still serves what falls
    # through the gateway's own prefixes.
    _outermost(app, lambda inner: RequestIdMiddleware(door.wrap(ProxiedLane(
        inner, proxy, on_error=app.exception_handlers[Exception], excluded_urls=UNTRACED))))
    return app


def _outermost(app: FastAPI, middleware: Any) -> None:
    """Wraps the built stack (OTel's middleware included), so even starlette's 500 carries the request id."""
    build = app.build_middleware_stack

    def build_middleware_stack() -> Any:
        return middleware(build())

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


app = create_app()
