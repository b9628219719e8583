"""Rate limits with the `limits` library: per client address for anonymous callers and the identity endpoints,
per principal for authenticated ones.

Authentication happens in the proxy (and in the gateway's own routes), after the point where a middleware sees
the request. So the work is split where the caller becomes known:
- `RateLimitMiddleware` (pure ASGI, outside the app) counts what needs no principal: writes to the identity
  endpoints per address (brute force), and every request without credentials per address.
- A request that carries credentials is counted per principal once they are verified (`RateLimiter.check_principal`,
  called by the proxy and by the audit routes); one whose credentials fail is counted per address instead, so
  sending rubbish tokens does not escape the address limit.

Strategy: the sliding-window counter. Two counters per key whatever the limit, O(1) per request; the moving
window keeps one timestamp per request in the window (6,000 entries for a client at 6000/minute) and shifts that
list on every hit. The counter's approximation (it weights the previous window) is fine for a door.

Storage: `limits`' synchronous in-memory storage by default. Its asynchronous in-memory storage sweeps every
key for expiry in a new task after each hit — measured 670 µs per request with 10,000 keys against 6.5 µs for
the synchronous one. The synchronous calls are dictionary operations, safe on the event loop; a shared store
for several instances must be an `async+…` one (see DoorSettings). The synchronous storage's own sweep is
replaced (`LoopSweptMemoryStorage`): it started a timer thread from inside the request, a new one per request
below 100 requests/s.

Answers: 429 problem+json with `Retry-After` and the RateLimit / RateLimit-Policy fields of the current IETF
draft (draft-ietf-httpapi-ratelimit-headers, structured fields) rather than the older RateLimit-Limit/-Remaining/
-Reset trio: the older three fields describe one quota, and a caller here can meet several (an hourly and a
per-minute identity quota), which the policy-named fields tell apart. They are sent on 429 answers only: the
allowed path stays one counter increment, with no extra window query or header writing per request.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.strategies import SlidingWindowCounterRateLimiter as AsyncSlidingWindow
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter as SyncSlidingWindow
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.door_settings import DoorSettings
from services.common.principal import Principal
from services.common.problems import Problem, problem_response

# The identity endpoints (the identity helper's routes): writes there are guesses at passwords or secrets.
IDENTITY_PREFIX = "/api/v1/auth/"
TOKEN_PATH = "/oauth/token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_AUTHORIZATION = b"authorization"
# Not counted: liveness probes come from the orchestrator, often.
_UNCOUNTED = frozenset({"/healthz"})


@dataclass(frozen=True)
class Policy:
    name: str  # the policy identifier in RateLimit-Policy: public, client, identity
    items: tuple[RateLimitItem, ...]

    def identifier(self, item: RateLimitItem) -> str:
        return self.name if len(self.items) == 1 else f"{self.name}-{item.get_expiry()}s"

    def policy_field(self) -> str:
        return ", ".join(f'"{self.identifier(i)}";q={i.amount};w={i.get_expiry()}' for i in self.items)


class RateLimited(Problem):
    """429 with the headers that say when to come back."""

    def __init__(self, policy: Policy, item: RateLimitItem, retry_after: int) -> None:
        super().__init__(429, "rate-limited", f"请求过于频繁：{policy.name} 限额为每 {item.get_expiry()} 秒 "
                                              f"{item.amount} 次，请 {retry_after} 秒后重试")
        self.headers = {
            "Retry-After": str(retry_after),
            "RateLimit-Policy": policy.policy_field(),
            "RateLimit": f'"{policy.identifier(item)}";r=0;t={retry_after}',
        }

    def response(self, instance: str) -> Any:
        return problem_response(self.status, self.slug, self.detail, instance, headers=self.headers)


class LoopSweptMemoryStorage(MemoryStorage):
    """`limits`' in-memory storage whose expired counters are swept by the gateway's event loop (`sweep`, every
    few seconds: Door.start), not by a timer thread started from the request.

    MemoryStorage starts a `threading.Timer` (10 ms) on a hit when none is alive: below 100 requests/s that is a
    new OS thread per request, and `Thread.start()` holds the event loop until the new thread has run. On two cores
    shared with the platform's other processes that was a wait for a core in the middle of each request, up to
    several milliseconds (docs/benchmarks.md, decision 39). Correctness does not depend on the sweep: a counter
    past its expiry is dropped when read (MemoryStorage.get); the sweep returns the memory of keys nobody asks for.
    """

    def _MemoryStorage__schedule_expiry(self) -> None:  # the parent's private hook, called on every incr and decr
        return

    def sweep(self) -> None:
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


def new_storage(uri: str) -> Storage:
    return LoopSweptMemoryStorage() if uri == "memory://" else storage_from_string(uri)


def client_address(scope: Scope) -> str:
    """The peer address as the server saw it (behind a trusted reverse proxy, uvicorn's --proxy-headers sets it)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimiter:
    def __init__(self, settings: DoorSettings) -> None:
        self.enabled = settings.ratelimit_enabled
        self.public = Policy("public", tuple(parse_many(settings.ratelimit_public)))
        self.client = Policy("client", tuple(parse_many(settings.ratelimit_client)))
        self.identity = Policy("identity", tuple(parse_many(settings.ratelimit_identity)))
        storage = self.storage = new_storage(settings.ratelimit_storage_uri)
        self._async = settings.ratelimit_storage_uri.startswith("async+")
        self._strategy: Any = AsyncSlidingWindow(storage) if self._async else SyncSlidingWindow(storage)

    async def check(self, policy: Policy, key: str) -> None:
        """Counts one request against every quota of `policy` for `key`; raises RateLimited when one is spent."""
        if not self.enabled:
            return
        strategy = self._strategy
        for item in policy.items:
            allowed = await strategy.hit(item, policy.name, key) if self._async else strategy.hit(
                item, policy.name, key)
            if not allowed:
                stats = (await strategy.get_window_stats(item, policy.name, key) if self._async
                         else strategy.get_window_stats(item, policy.name, key))
                raise RateLimited(policy, item, max(1, math.ceil(stats.reset_time - time.time())))

    def sweep(self) -> None:
        """Drops expired counters from the in-process storage (a shared store expires its own keys)."""
        if isinstance(self.storage, LoopSweptMemoryStorage):
            self.storage.sweep()

    async def check_address(self, scope: Scope, policy: Policy | None = None) -> None:
        await self.check(policy or self.public, client_address(scope))

    async def check_principal(self, principal: Principal) -> None:
        # The kind keeps a staff username and a machine client id of the same spelling apart.
        await self.check(self.client, f"{principal.kind.value}:{principal.subject}")


class RateLimitMiddleware:
    """Counts what can be counted before authentication (see the module docstring); answers 429 itself."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        policy: Policy | None
        if (path.startswith(IDENTITY_PREFIX) or path == TOKEN_PATH) and scope["method"] not in _SAFE_METHODS:
            policy = self.limiter.identity
        elif path in _UNCOUNTED:
            policy = None
        elif path.startswith("/api/") and any(name == _AUTHORIZATION for name, _ in scope["headers"]):
            policy = None  # counted per principal once its credentials are verified
        else:
            policy = self.limiter.public
        if policy is not None:
            try:
                await self.limiter.check_address(scope, policy)
            except RateLimited as exc:
                await exc.response(path)(scope, receive, send)
                return
        await self.app(scope, receive, send)
