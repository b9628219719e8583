"""A circuit breaker per backend (purgatory), so a dead backend costs its callers a fast 503, not a timeout each.

What counts as a failure: transport failures only — a refused or dropped connection, a timeout, a broken
response. A backend's own 4xx or 5xx answer is an answer: it shows the backend is up, and one endpoint's 500 on
a bad record must not shut every other endpoint of that backend. Anything else that leaves the guarded block (a
cancelled request when the client goes away) is neutral, not a failure.

purgatory's states: closed → (threshold consecutive failures) → opened; after `ttl` seconds the next request
enters half-opened and goes through; its success closes the breaker, its failure opens it again. Requests that
arrive while half-opened also go through (purgatory does not hold them back).
"""

from __future__ import annotations

import math
import time

import aiohttp
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

__all__ = ["TRANSPORT_FAILURES", "Breakers", "OpenedState"]

TRANSPORT_FAILURES = (aiohttp.ClientError, TimeoutError)


def _not_a_transport_failure(exc: BaseException) -> bool:
    return not isinstance(exc, TRANSPORT_FAILURES)


class Breakers:
    """One breaker per backend name, made on first use and kept (purgatory's in-memory store)."""

    def __init__(self, *, threshold: int, open_seconds: float) -> None:
        self.open_seconds = open_seconds
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=threshold, default_ttl=open_seconds,
            exclude=[(BaseException, _not_a_transport_failure)],
        )
        self._breakers: dict[str, AsyncCircuitBreaker] = {}

    async def get(self, backend: str) -> AsyncCircuitBreaker:
        breaker = self._breakers.get(backend)
        if breaker is None:
            breaker = self._breakers[backend] = await self._factory.get_breaker(backend)
        return breaker

    def state(self, backend: str) -> str:
        breaker = self._breakers.get(backend)
        return breaker.context.state if breaker else "closed"

    def retry_after(self, opened: OpenedState) -> int:
        """Whole seconds until the breaker lets a probe through (at least 1)."""
        return max(1, math.ceil(opened.opened_at + self.open_seconds - time.time()))
