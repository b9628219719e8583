"""Gateway entry point: `uvicorn gateway.main:app` on 127.0.0.1:8000."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from opentelemetry import trace

from gateway.auth import PUBLIC, principal_from_authorization
from gateway.config import GatewaySettings
from gateway.openapi import OpenApiAggregator
from gateway.proxy import forward
from gateway.routes import match
from services.common.principal import PRINCIPAL_HEADER, sign_principal
from services.common.problems import Problem, install_problem_handlers, problem_response
from services.common.settings import PlatformSettings
from services.common.telemetry import instrument_app, setup_telemetry, shutdown_telemetry

REQUEST_ID = "X-Request-Id"
TRACE_ID = "X-Trace-Id"
# The one path allowed bodies larger than max_body_bytes: material file uploads (upload_max_body_bytes).
UPLOAD_PATHS = frozenset({("POST", "/api/v1/applications/files")})


def create_app() -> FastAPI:
    settings = GatewaySettings()
    platform = PlatformSettings()
    setup_telemetry("zwfw-gateway")
    backends = settings.backends()
    aggregator = OpenApiAggregator(backends)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(sock_connect=settings.connect_timeout_seconds,
                                        sock_read=settings.read_timeout_seconds)
        connector = aiohttp.TCPConnector(limit=200, ttl_dns_cache=300)
        app.state.http = aiohttp.ClientSession(timeout=timeout, connector=connector, auto_decompress=False)
        try:
            yield
        finally:
            await app.state.http.close()
            shutdown_telemetry()

    app = FastAPI(title="政务服务平台网关 zwfw gateway", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.settings = platform
    install_problem_handlers(app)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Any) -> Response:
        rid = request.headers.get(REQUEST_ID) or uuid.uuid4().hex
        request.state.request_id = rid
        response: Response = await call_next(request)
        response.headers[REQUEST_ID] = rid
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # lets support staff find the whole journey of a request in the trace viewer
            response.headers[TRACE_ID] = format(span.trace_id, "032x")
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await aggregator.document(request.app.state.http))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="政务服务平台 API")

    @app.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def proxy(request: Request, path: str) -> Response:
        route = match(request.url.path)
        if route is None:
            return problem_response(404, "not-found", "请求的资源不存在", request.url.path)
        principal = principal_from_authorization(request.headers.get("authorization"), settings.dev_token_secret)
        if principal is None:
            if request.method not in route.public_methods:
                raise Problem(401, "unauthenticated", "请先登录：缺少 Bearer 令牌")
            principal = PUBLIC
        declared = request.headers.get("content-length") or "0"
        if not declared.isdigit():
            raise Problem(400, "bad-content-length", "Content-Length 头不是有效的数字")
        limit = (settings.upload_max_body_bytes if (request.method, request.url.path) in UPLOAD_PATHS
                 else settings.max_body_bytes)
        if int(declared) > limit:
            raise Problem(413, "body-too-large", f"请求体超过 {limit} 字节")
        body = await request.body()
        if len(body) > limit:
            raise Problem(413, "body-too-large", f"请求体超过 {limit} 字节")
        extra = {
            PRINCIPAL_HEADER: sign_principal(principal, platform.zwfw_internal_secret),
            REQUEST_ID: request.state.request_id,
        }
        return await forward(request.app.state.http, request, backends[route.backend], route.backend, body, extra)

    instrument_app(app)
    return app


app = create_app()
