"""Forwards a request to its backend over aiohttp and maps transport failures to problem+json.

aiohttp rather than httpx on this path: measured on this kind of machine, an aiohttp proxy carries
about 8x the requests of one using httpx's default transport (docs/decisions.md).

The proxy is a plain ASGI endpoint, not a FastAPI route: it needs no dependency injection or validation, and
FastAPI's request machinery was a large share of the gateway's CPU per request. It reads the ASGI scope and
messages directly: the body once, the headers once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote, quote_from_bytes

import aiohttp
from opentelemetry import propagate
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway.auth import Authenticator
from gateway.breaker import Breakers, OpenedState
from gateway.middleware import PRINCIPAL_SCOPE_KEY, REQUEST_ID, REQUEST_ID_SCOPE_KEY
from gateway.ratelimit import RateLimited, RateLimiter
from gateway.routes import match
from services.common.principal import PRINCIPAL_HEADER, Principal
from services.common.problems import Problem, problem_response

# (principal, method, path, query string, body) → None, or raises Problem (403, or 404 for another region's data).
Authorize = Callable[[Principal, str, str, str, bytes], None]

# Hop-by-hop headers (RFC 9110 §7.6.1) and those the gateway sets itself are not forwarded. The trace context
# headers are written anew from the gateway's server span (`propagate.inject`): the backend's span is its child.
_DROP_REQUEST = frozenset({
    "host", "connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
    "authorization", "x-zwfw-principal", "content-length", "x-forwarded-for", "x-request-id",
    "traceparent", "tracestate", "baggage",
})
# Compared with the backend's raw header names lowercased: no decoding of the headers that pass.
_DROP_RESPONSE = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"content-encoding",
                            b"server", b"date"})
# Left as they are when the path and query are percent-encoded for the backend: RFC 3986's sub-delimiters and the
# characters a path segment (pchar) or a query may hold; unreserved characters are never encoded. The query's own
# escapes (%) stay: it is forwarded as the client encoded it, only bytes a URL cannot carry are escaped.
_PATH_SAFE = "/!$&'()*+,;=:@"
_QUERY_SAFE = "!$&'()*+,;=:@/?%[]"
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_ALLOW = ", ".join(sorted(METHODS))


class _Disconnected(Exception):
    """The client went away while sending its body: there is no one to answer."""


class _TooLarge(Exception):
    pass


def request_path(scope: Scope) -> str:
    """The path as starlette's `request.url.path` gives it (the decoded path, ? # and \\ escaped again)."""
    return scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:  # refused as soon as it is known, not after buffering the whole body
                raise _TooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ProxyEndpoint:
    """`/api/{path:path}`: authenticates, checks the body's size, signs the principal and forwards.

    Problems are answered here directly (problem+json, as the app's handlers would write them): the proxied lane
    (gateway.lane) has no exception handlers but the one for the unexpected.
    """

    def __init__(self, *, backends: dict[str, str], auth: Authenticator,
                 max_body_bytes: int, upload_max_body_bytes: int, upload_paths: frozenset[tuple[str, str]],
                 limiter: RateLimiter | None = None, breakers: Breakers | None = None,
                 authorize: Authorize | None = None, unavailable_retry_after: int = 5) -> None:
        self.backends = {name: url.rstrip("/") for name, url in backends.items()}
        self.auth = auth
        self.max_body_bytes = max_body_bytes
        self.upload_max_body_bytes = upload_max_body_bytes
        self.upload_paths = upload_paths
        self.limiter = limiter
        self.breakers = breakers
        self.authorize = authorize
        self.unavailable_retry_after = unavailable_retry_after
        # The one pooled, keep-alive client session; the app's lifespan opens and closes it.
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path = request_path(scope)
        if method not in METHODS:
            await problem_response(405, "method-not-allowed", "该地址不支持此请求方法", path,
                                   headers={"Allow": _ALLOW})(scope, receive, send)
            return
        try:
            response = await self._handle(scope, receive, method, path)
        except RateLimited as exc:
            response = exc.response(path)
        except Problem as exc:
            response = problem_response(exc.status, exc.slug, exc.detail, path, **exc.extensions)
        except _Disconnected:
            return
        await response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, method: str, path: str) -> Any:
        route = match(path)
        if route is None:
            return problem_response(404, "not-found", "请求的资源不存在", path)
        # One pass over the raw headers: what the gateway needs, and what it forwards. A repeated header is
        # forwarded as often as it came (Accept, Cookie, Forwarded …): aiohttp takes a list of pairs.
        headers: list[tuple[str, str]] = []
        authorization = content_length = prior_xff = None
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            if name in _DROP_REQUEST:
                if name == "authorization":
                    authorization = authorization or value  # the first, as Headers.get returns it
                elif name == "content-length":
                    content_length = content_length or value
                elif name == "x-forwarded-for":
                    prior_xff = value
                continue
            headers.append((name, value))
        try:
            caller = self.auth.authenticate(authorization)
        except Problem:
            if self.limiter is not None:  # credentials that fail count against the address, as none would
                await self.limiter.check_address(scope)
            raise
        if caller is None:
            if method not in route.public_methods:
                raise Problem(401, "unauthenticated", "请先登录：缺少 Bearer 令牌")
            caller = self.auth.public()  # anonymous: RateLimitMiddleware has counted it per address
        elif self.limiter is not None:
            await self.limiter.check_principal(caller[0])
        scope[PRINCIPAL_SCOPE_KEY] = caller[0]
        declared = content_length or "0"
        if not declared.isdigit():
            raise Problem(400, "bad-content-length", "Content-Length 头不是有效的数字")
        limit = self.upload_max_body_bytes if (method, path) in self.upload_paths else self.max_body_bytes
        if int(declared) > limit:
            raise Problem(413, "body-too-large", f"请求体超过 {limit} 字节")
        try:
            body = await _read_body(receive, limit)
        except _TooLarge:
            raise Problem(413, "body-too-large", f"请求体超过 {limit} 字节") from None
        query = scope.get("query_string", b"").decode("latin-1").partition("#")[0]
        if self.authorize is not None:
            self.authorize(caller[0], method, path, query, body)
        # The address the gateway saw goes last in X-Forwarded-For: backends trust only that entry (acceptance's
        # public progress query is rate-limited by it); earlier entries came from the client.
        client = scope.get("client")
        client_host = client[0] if client else "unknown"
        headers.append(("x-forwarded-for", f"{prior_xff}, {client_host}" if prior_xff else client_host))
        headers.append((PRINCIPAL_HEADER, caller[1]))
        headers.append((REQUEST_ID, scope[REQUEST_ID_SCOPE_KEY]))
        # Not a client span per forwarded request (the session is not instrumented, gateway/main.py): the server
        # span covers the hop, and the aiohttp instrumentation's span and signals were a tenth of the gateway's CPU.
        trace_context: dict[str, str] = {}
        propagate.inject(trace_context)
        headers.extend(trace_context.items())
        url = upstream_url(self.backends[route.backend], scope["path"], query)
        assert self.session is not None, "the gateway's lifespan has not started"
        breaker = await self.breakers.get(route.backend) if self.breakers is not None else None
        try:
            return await forward(self.session, method, url, path, route.backend, body, headers, breaker,
                                 self.unavailable_retry_after)
        except OpenedState as exc:
            # purgatory raises the same OpenedState instance for every refused request, and each raise adds its
            # frames to that instance's traceback: left alone, an open breaker would keep every refused request's
            # frames (and what they reference) alive until it closes.
            exc.with_traceback(None)
            assert self.breakers is not None
            retry_after = self.breakers.retry_after(exc)
            return problem_response(
                503, "backend-circuit-open",
                f"后端服务 {route.backend} 连续失败，暂停转发，{retry_after} 秒后重试", path,
                headers={"Retry-After": str(retry_after)},
            )


def upstream_url(base: str, path: str, query: str) -> URL:
    """The backend's URL for the path and query the gateway authorized, percent-encoded here and passed as encoded.

    Given a plain string, yarl would normalize it: decode `%41` to `A`, drop tabs and line feeds, resolve dot
    segments. The backend would then be asked for another path than the one the gateway checked — a case number the
    region check never saw. Encoded here, the backend decodes exactly the path the gateway decoded and authorized.
    """
    target = base + quote(path, safe=_PATH_SAFE)
    if query:
        target += "?" + quote_from_bytes(query.encode("latin-1"), safe=_QUERY_SAFE)
    return URL(target, encoded=True)


async def forward(
    session: aiohttp.ClientSession, method: str, url: URL, path: str, backend: str, body: bytes,
    headers: list[tuple[str, str]], breaker: Any = None, unavailable_retry_after: int = 5,
) -> Any:
    """One attempt, or two for an idempotent method whose connection could not be made. Each attempt passes the
    backend's circuit breaker (`breaker`, an async context manager), which counts the transport failures escaping
    it; an open breaker raises OpenedState before any attempt is made.

    A connection dropped after the request was sent (ServerDisconnectedError) is not retried here: aiohttp already
    sends an idempotent request once more on a fresh connection then (RFC 9112 §9.3.1), and a second layer of
    retries would make it four."""
    attempts = 2 if method in _IDEMPOTENT else 1  # never repeat a POST: it may have been applied
    for attempt in range(attempts):
        try:
            if breaker is None:
                return await _attempt(session, method, url, body, headers)
            async with breaker:
                return await _attempt(session, method, url, body, headers)
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
            if attempt + 1 < attempts and isinstance(exc, aiohttp.ClientConnectorError):
                await asyncio.sleep(0.05)
                continue
            return problem_response(
                503, "backend-unavailable", f"后端服务 {backend} 暂不可用：{type(exc).__name__}",
                path, headers={"Retry-After": str(unavailable_retry_after)},
            )
        except TimeoutError:
            return problem_response(504, "backend-timeout", f"后端服务 {backend} 响应超时", path)
        except aiohttp.ClientError as exc:
            return problem_response(502, "bad-gateway", f"后端服务 {backend} 返回异常：{type(exc).__name__}", path)
    raise AssertionError("unreachable")


async def _attempt(
    session: aiohttp.ClientSession, method: str, url: URL, body: bytes, headers: list[tuple[str, str]],
) -> Any:
    upstream = await session.request(method, url, data=body or None, headers=headers, allow_redirects=False)
    # Raw pairs, so a repeated header (Set-Cookie, Link, Vary …) goes back as often as the backend sent it.
    out_headers = [(k.lower(), v) for k, v in upstream.raw_headers if k.lower() not in _DROP_RESPONSE]
    if upstream.headers.get("content-type", "").startswith("text/event-stream"):
        return _stream(upstream, out_headers)
    async with upstream:
        content = await upstream.read()
    return _Buffered(upstream.status, out_headers, content)


class _Buffered:
    """The backend's answer, sent as starlette's Response(content, status, headers) would send it."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        if not (status < 200 or status in (204, 304)):
            self.headers.append((b"content-length", str(len(body)).encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def _stream(upstream: aiohttp.ClientResponse, headers: list[tuple[bytes, bytes]]) -> StreamingResponse:
    """Server-sent events (monitoring's live alerts) pass through as they come, not buffered."""

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.content.iter_any():
                yield chunk
        finally:
            upstream.release()

    response = StreamingResponse(chunks(), status_code=upstream.status)
    response.raw_headers = headers  # the backend's, repeated ones included (its content-type among them)
    return response
