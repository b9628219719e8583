"""Plumbing for the endpoints the public reaches without logging in: the caller's address as the gateway saw it,
and the 429 answer when a `limits` budget is spent.

The gateway limits requests per address at the door; services keep their own, narrower budgets on what a guesser
targets (wrong id suffixes per case, wrong query codes per complaint).
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem
from limits.strategies import RateLimiter

from services.common.problems import problem_response


def client_address(request: Request) -> str:
    """The gateway appends the address it saw to X-Forwarded-For; the last entry is that one (anything
    before it came from the client and could be forged). Without the gateway: the socket's peer."""
    forwarded = request.headers.get("x-forwarded-for", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    return last or (request.client.host if request.client else "unknown")


def too_many_requests(limiter: RateLimiter, item: RateLimitItem, identifiers: tuple[str, ...], path: str,
                      detail: str) -> JSONResponse:
    """429 problem+json with Retry-After: the seconds until the window lets the next request through."""
    reset_at = limiter.get_window_stats(item, *identifiers).reset_time
    retry_after = max(1, math.ceil(reset_at - time.time()))
    return problem_response(429, "too-many-requests", detail, path, headers={"Retry-After": str(retry_after)},
                            retry_after_seconds=retry_after)
