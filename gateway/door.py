"""The door's parts assembled once per app: rate limits, circuit breakers and the audit log.

main.py builds one `Door`, hands its limiter and breakers to the proxy, starts and stops it in the lifespan,
installs its routes, and wraps the app with `door.wrap` inside the request-id middleware:
RequestId → RateLimit → Audit → the proxied lane (gateway.lane: to the proxy, or to the app). The rate limit sits
outside the audit so throttled requests are not recorded; both inside the request id so their answers carry one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp

from gateway.audit import AuditMiddleware, AuditReader, AuditWriter, audit_router
from gateway.auth import Authenticator
from gateway.breaker import Breakers
from gateway.door_settings import DoorSettings
from gateway.ratelimit import RateLimited, RateLimiter, RateLimitMiddleware
from services.common.db import make_engine

log = logging.getLogger(__name__)


class Door:
    def __init__(self, *, database_url: str, auth: Authenticator, settings: DoorSettings | None = None) -> None:
        self.settings = settings or DoorSettings()
        self.database_url = database_url
        self.limiter = RateLimiter(self.settings)
        self.breakers = Breakers(threshold=self.settings.breaker_threshold,
                                 open_seconds=self.settings.breaker_open_seconds)
        self.engine = make_engine(database_url)
        self.audit = AuditWriter(self.engine, max_batch=self.settings.audit_max_batch)
        self.reader = AuditReader(self.engine)
        self.auth = auth
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """After the app's lifespan has migrated the gateway's database (gateway/main.py)."""
        self.audit.start()
        self._sweeper = asyncio.create_task(self._sweep_rate_limits(), name="rate-limit-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.audit.stop()
        self.engine.dispose()

    async def _sweep_rate_limits(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ratelimit_sweep_seconds)
            try:
                self.limiter.sweep()
            except Exception:  # a failed sweep costs memory, not correctness: the next one tries again
                log.exception("rate-limit sweep failed")

    def install(self, app: FastAPI) -> APIRouter:
        """The audit endpoints and the 429 handler; returns the router, for the aggregated OpenAPI."""
        router = audit_router(auth=self.auth, reader=self.reader, limiter=self.limiter)
        app.include_router(router)

        async def rate_limited(request: Request, exc: Exception) -> Any:
            assert isinstance(exc, RateLimited)
            return exc.response(request.url.path)

        app.add_exception_handler(RateLimited, rate_limited)
        return router

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return RateLimitMiddleware(AuditMiddleware(app, self.audit), self.limiter)
