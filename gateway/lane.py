"""The proxied lane: a request for a backend goes to the proxy without passing through the FastAPI app.

Everything under `/api/` is forwarded except the gateway's own endpoints there (`OWN_PREFIXES`: identity and
audit). Those requests, and every other path, go to the FastAPI app as before. The proxy needs nothing the app's
layers give: no dependency injection, no validation, and it writes its own problem+json answers. What the lane
keeps:
- the server span per request, made by OpenTelemetry's own ASGI middleware with the attributes and name FastAPI's
  instrumentation gives this route (`POST /api/{path:path}`);
- a 500 problem+json for an unexpected error, from starlette's ServerErrorMiddleware with the app's own handler
  for `Exception` (services.common.problems), and the exception recorded on the span.

Why: measured under the gateway benchmark, the app's layers in front of the proxy were about a seventh of the
gateway's CPU per proxied request: two ServerErrorMiddlewares and an ExceptionMiddleware, the AsyncExitStack
middleware, the router matching the gateway's own routes first, and the FastAPI instrumentation's route lookup
(a second pass over the routes, per request, to name the span). Decision 40.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import Status, StatusCode, get_current_span
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.audit.routes import AUDIT_PREFIX
from gateway.ratelimit import IDENTITY_PREFIX

# The gateway's own endpoints under /api/ (identity and audit): for the FastAPI app.
OWN_PREFIXES = (IDENTITY_PREFIX, AUDIT_PREFIX + "/")
PROXY_ROUTE = "/api/{path:path}"  # the route's template, as the app's catch-all names it (http.route, span name)


def is_proxied(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith(OWN_PREFIXES)


def _span_details(scope: Scope) -> tuple[str, dict[str, str]]:
    return f"{scope['method']} {PROXY_ROUTE}", {HTTP_ROUTE: PROXY_ROUTE}


class _RecordException:
    """As FastAPI's instrumentation does: the exception on the span, before ServerErrorMiddleware answers 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            span = get_current_span()
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise


class ProxiedLane:
    """Sends proxied requests to `proxy` (wrapped as the module says), everything else to `app`."""

    def __init__(self, app: ASGIApp, proxy: ASGIApp, *, on_error: Callable[..., Any], excluded_urls: str) -> None:
        self.app = app  # the name matters: FastAPI's native telemetry walks `.app` (gateway/middleware.py)
        errors = ServerErrorMiddleware(_RecordException(proxy), handler=on_error)
        self.proxied = OpenTelemetryMiddleware(errors, excluded_urls=excluded_urls, default_span_details=_span_details,
                                               exclude_spans=["receive", "send"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_proxied(scope["path"]):
            await self.proxied(scope, receive, send)
        else:
            await self.app(scope, receive, send)
