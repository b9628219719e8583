"""One OpenAPI document for the whole platform, merged from the services' own documents."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from gateway.routes import ROUTES

_CACHE_SECONDS = 30.0


# How a caller gets a bearer token: staff log in, machines use client credentials; both refresh at /oauth/token.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "EdDSA-signed access token from POST /api/v1/auth/login or POST /oauth/token; "
                              "keys at /.well-known/jwks.json"},
    "oauth2": {"type": "oauth2", "flows": {
        "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}},
        "password": {"tokenUrl": "/oauth/token", "refreshUrl": "/oauth/token", "scopes": {}},
    }},
}
# The gateway's own endpoints that need no token.
_OPEN = {("/api/v1/auth/login", "post"), ("/oauth/token", "post"), ("/.well-known/jwks.json", "get")}


class OpenApiAggregator:
    def __init__(self, backends: dict[str, str], own: list[BaseRoute] | None = None) -> None:
        self.backends = backends
        self._cached: tuple[float, dict[str, Any]] | None = None
        # The gateway's own endpoints (gateway.identity), documented from their FastAPI routes.
        self._own = get_openapi(title="gateway", version="1", routes=own or [])
        for path, item in self._own.get("paths", {}).items():
            for method, operation in item.items():
                operation["security"] = [] if (path, method) in _OPEN else [{"bearer": []}]

    async def document(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < _CACHE_SECONDS:
            return self._cached[1]
        merged: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": "政务服务平台 API (zwfw)", "version": "1.0.0",
                     "description": "All services behind the gateway. Errors are RFC 9457 problem+json."},
            "paths": dict(self._own.get("paths", {})),
            "components": {"schemas": dict(self._own.get("components", {}).get("schemas", {})),
                           "securitySchemes": SECURITY_SCHEMES},
            "security": [{"bearer": []}, {"oauth2": []}],
        }
        prefixes = {r.backend: [x.prefix for x in ROUTES if x.backend == r.backend] for r in ROUTES}
        missing = []
        for name, url in self.backends.items():
            try:
                async with session.get(url.rstrip("/") + "/openapi.json",
                                       timeout=aiohttp.ClientTimeout(total=3)) as resp:
                    doc = await resp.json()
            except (aiohttp.ClientError, TimeoutError):
                missing.append(name)
                continue
            for path, item in doc.get("paths", {}).items():
                if any(path.startswith(p) for p in prefixes.get(name, [])):
                    merged["paths"][path] = item
            # Service schemas share names (HTTPValidationError …); identical shapes merge harmlessly.
            merged["components"]["schemas"].update(doc.get("components", {}).get("schemas", {}))
        if missing:
            merged["info"]["x-unavailable-services"] = missing
        else:
            self._cached = (time.monotonic(), merged)
        return merged
