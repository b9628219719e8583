"""The request id on every response, as a pure ASGI middleware.

Not `@app.middleware("http")`: starlette's BaseHTTPMiddleware runs the rest of the app in a task group and
re-streams its response through memory streams, which was a fifth of the gateway's CPU per proxied request.
This one only wraps `send` and adds two headers to `http.response.start`.
"""

from __future__ import annotations

import re
import uuid

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID = "X-Request-Id"
TRACE_ID = "X-Trace-Id"
# Where the request id is kept in the ASGI scope for the handlers (the proxy forwards it to the backend).
REQUEST_ID_SCOPE_KEY = "zwfw.request_id"
# The authenticated caller (services.common.principal.Principal), put there by the proxy once it has verified the
# credentials, for the audit log and the per-client rate limit.
PRINCIPAL_SCOPE_KEY = "zwfw.principal"
# The identity endpoints put the attempted username or client id here (no principal exists yet) for the audit log.
AUDIT_SUBJECT_SCOPE_KEY = "zwfw.audit_subject"
_REQUEST_ID_RAW = REQUEST_ID.lower().encode("latin-1")
_TRACE_ID_RAW = TRACE_ID.lower().encode("latin-1")


# A caller's request id is echoed back, logged and forwarded: only a short token of safe characters is
# taken as sent (a UUID, a ULID, a trace-style id); anything else is replaced by one of ours.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str:
    rid = ""
    for name, value in scope["headers"]:  # the first one, as starlette's Headers.get would return
        if name == _REQUEST_ID_RAW:
            rid = value.decode("latin-1")
            break
    return rid if _SAFE_REQUEST_ID.match(rid) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Takes the caller's X-Request-Id or makes one; echoes it, and the trace id, on the response.

    Installed outermost (around starlette's ServerErrorMiddleware), so an unexpected 500 carries them too.
    The trace id is read when the response starts: the server span is current then, in this task's context.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app  # the name `app` matters: FastAPI's native telemetry walks `.app` to find OTel's middleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_request_id(scope)
        scope[REQUEST_ID_SCOPE_KEY] = rid
        rid_raw = rid.encode("latin-1")

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                span = trace.get_current_span().get_span_context()
                # Ours replace any the backend sent; lets support staff find the whole journey in the trace viewer.
                ours = {_REQUEST_ID_RAW: rid_raw}
                if span.is_valid:
                    ours[_TRACE_ID_RAW] = format(span.trace_id, "032x").encode("latin-1")
                headers = [(k, v) for k, v in message.get("headers", ()) if k not in ours]
                headers.extend(ours.items())
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_ids)
