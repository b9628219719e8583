"""The rate limiter's in-process storage: counts as `limits`' MemoryStorage does, starts no thread from a request,
and drops expired counters when the loop sweeps (gateway/ratelimit.py)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gateway.door_settings import DoorSettings
from gateway.ratelimit import LoopSweptMemoryStorage, RateLimited, RateLimiter
from services.common.principal import Principal, PrincipalKind, Role

CLERK = Principal(kind=PrincipalKind.staff, subject="u-clerk", role=Role.window_clerk, region_code="320102000000")


def test_the_default_storage_is_swept_by_the_loop_and_hits_start_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    limiter = RateLimiter(DoorSettings(ratelimit_client="50/second"))
    assert isinstance(limiter.storage, LoopSweptMemoryStorage)
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def counted_start(thread: threading.Thread) -> None:
        if isinstance(thread, threading.Timer):  # the parent storage's expiry timer; not asyncio's own threads
            started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted_start)

    async def hits() -> None:
        for _ in range(20):
            await limiter.check_principal(CLERK)
            await asyncio.sleep(0.015)  # > the parent's 10 ms timer: it would start a new thread on every hit

    asyncio.run(hits())
    assert started == []


def test_limits_still_hold_and_expired_counters_are_swept() -> None:
    limiter = RateLimiter(DoorSettings(ratelimit_client="3/second"))

    async def hits(n: int) -> None:
        for _ in range(n):
            await limiter.check_principal(CLERK)

    asyncio.run(hits(3))
    with pytest.raises(RateLimited):
        asyncio.run(hits(1))
    assert limiter.storage.storage  # counters held
    limiter.sweep()
    assert limiter.storage.storage  # not yet expired: kept
    time.sleep(2.1)  # the sliding window counter keeps a key for two windows
    limiter.sweep()
    assert not limiter.storage.storage and not limiter.storage.expirations
    asyncio.run(hits(3))  # a fresh window
