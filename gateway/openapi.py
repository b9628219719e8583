"""One OpenAPI document for the whole platform, merged from the services' own documents."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from gateway.routes import ROUTES

_CACHE_SECONDS = 30.0


class OpenApiAggregator:
    def __init__(self, backends: dict[str, str]) -> None:
        self.backends = backends
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def document(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < _CACHE_SECONDS:
            return self._cached[1]
        merged: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": "政务服务平台 API (zwfw)", "version": "1.0.0",
                     "description": "All services behind the gateway. Errors are RFC 9457 problem+json."},
            "paths": {},
            "components": {"schemas": {}, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
            "security": [{"bearer": []}],
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
