"""The asyncio side of the timer store: sleep until the next due instant, hand what is due to `fire`.

One task, one sleep: the runner sleeps until the store's earliest instant (never polls), is woken when a
timer is armed earlier than what it sleeps toward, and hands due timers to `fire` in batches so that an
end-of-day burst (every working-day deadline is 24:00) is a few dozen awaits, not 100,000 tasks, and the
loop — with the Kafka consumer on it — gets a turn between batches (architecture.md, "End-of-day bursts").

Nothing is lost when `fire` fails: the batch is armed again at its original instants and retried after a
backoff. `fire` is expected to be all-or-nothing per batch (one outbox transaction) and idempotent per
(clock, level) — the unique claim written with the alert — so a retried or doubly handed-out timer
never publishes twice.

Arm and cancel through the runner (not the store directly) while it runs: it needs to see them to wake
up early and to avoid re-arming, after a failed batch, a timer that was cancelled or moved meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from services.monitoring.timers import TimerStore

log = logging.getLogger(__name__)

Fire = Callable[[list[tuple[str, int]]], Awaitable[None]]


def wall_clock_ms() -> int:
    """Milliseconds since the epoch: the production clock (tests inject their own)."""
    return time.time_ns() // 1_000_000


class TimerRunner:
    """Fires the timers of a `TimerStore` at their instants, in batches, on the running event loop."""

    def __init__(
        self,
        store: TimerStore,
        clock: Callable[[], int],
        fire: Fire,
        *,
        batch_size: int = 5000,
        retry_backoff_s: float = 0.5,
        max_retry_backoff_s: float = 30.0,
        max_sleep_s: float = 60.0,
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.store = store
        self._clock = clock
        self._fire = fire
        self._batch_size = batch_size
        self._retry_backoff_s = retry_backoff_s
        self._max_retry_backoff_s = max_retry_backoff_s
        # The sleep is computed from the injected (wall) clock but measured by the loop's monotonic
        # clock; waking at least this often bounds the error if the wall clock is stepped (NTP).
        self._max_sleep_s = max_sleep_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._sleep_target_ms: int | None = None  # None while sleeping: nothing armed
        self._backing_off = False
        self._stopping = False
        self._failures = 0
        # The batch handed to `fire` and not yet acknowledged; arm/cancel take keys out of it so that a
        # failed batch never overrides what happened to its keys meanwhile.
        self._inflight: dict[str, int] = {}
        self.fired = 0  # timers handed out and acknowledged (metrics)
        self.failed_batches = 0

    # -- arming (event-loop thread) -------------------------------------------------------------------

    def arm(self, key: str, due_ms: int) -> None:
        """Arm or re-arm `key`; wakes the runner when the new instant is earlier than its sleep."""
        self.store.arm(key, due_ms)
        self._inflight.pop(key, None)
        if self._waiter is not None and not self._backing_off:
            target = self._sleep_target_ms
            if target is None or due_ms < target:
                self.wake()

    def cancel(self, key: str) -> bool:
        """Disarm `key` (a subject ended, a level cleared); True if it was armed or in flight."""
        in_flight = self._inflight.pop(key, None) is not None
        # No wake: a cancelled timer can only make the next instant later, and the runner discards an
        # instant whose timers are gone when it wakes for it.
        return self.store.cancel(key) or in_flight

    def wake(self) -> None:
        """Make the runner re-read the store now. Safe from any thread."""
        loop = self._loop
        if loop is None:
            return  # not running: run() reads the store when it starts
        if threading.get_ident() != self._loop_thread:
            loop.call_soon_threadsafe(self._wake_in_loop)
        else:
            self._wake_in_loop()

    # -- arming (other threads) -----------------------------------------------------------------------

    def arm_threadsafe(self, key: str, due_ms: int) -> None:
        """`arm` from another thread: the store is touched only on the loop's thread."""
        self._running_loop().call_soon_threadsafe(self.arm, key, due_ms)

    def cancel_threadsafe(self, key: str) -> None:
        self._running_loop().call_soon_threadsafe(self.cancel, key)

    # -- running --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Fire timers until `stop()` (or cancellation)."""
        if self._loop is not None:
            raise RuntimeError("TimerRunner.run() is already running")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            while not self._stopping:
                if await self._fire_due():
                    continue  # a batch failed and was backed off: look at the store afresh
                nxt = self.store.next_due_ms()
                now = self._clock()
                if nxt is not None and nxt <= now:
                    continue  # became due while the last batch was out
                await self._sleep(nxt, now)
        finally:
            self._loop = None
            self._loop_thread = None
            self._stopping = False  # reset here, not at start, so a stop() issued before run() is kept

    def stop(self) -> None:
        """Ask `run()` to return after the batch in hand. Safe from any thread."""
        self._stopping = True
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() != self._loop_thread:
            loop.call_soon_threadsafe(self._resolve_waiter)
        else:
            self._resolve_waiter()

    # -- internals ------------------------------------------------------------------------------------

    async def _fire_due(self) -> bool:
        """Hand out everything due, batch by batch. True if a batch failed (after backing off)."""
        store = self.store
        while not self._stopping:
            batch = store.due(self._clock(), self._batch_size)
            if not batch:
                return False
            self._inflight = dict(batch)
            try:
                await self._fire(batch)
            except BaseException as exc:
                self._rearm_inflight()
                if not isinstance(exc, Exception):
                    raise  # cancelled or exiting: the timers are armed again, nothing is lost
                self.failed_batches += 1
                self._failures += 1
                delay = min(self._retry_backoff_s * 2 ** (self._failures - 1), self._max_retry_backoff_s)
                log.exception("firing %d timers failed; retrying in %.2fs", len(batch), delay)
                await self._backoff(delay)
                return True
            self._inflight = {}
            self._failures = 0
            self.fired += len(batch)
            # A fire that never suspends would otherwise hold the loop for the whole burst.
            await asyncio.sleep(0)
        return False

    def _rearm_inflight(self) -> None:
        inflight, self._inflight = self._inflight, {}
        arm = self.store.arm
        for key, due_ms in inflight.items():
            arm(key, due_ms)

    async def _sleep(self, target_ms: int | None, now_ms: int) -> None:
        # At least 1 ms: the loop's timer may fire a hair early against the wall clock, and a
        # zero-length sleep would spin until the instant is really reached.
        delay = self._max_sleep_s if target_ms is None else min(max(target_ms - now_ms, 1) / 1000, self._max_sleep_s)
        self._sleep_target_ms = target_ms
        try:
            await self._wait(delay)
        finally:
            self._sleep_target_ms = None

    async def _backoff(self, delay_s: float) -> None:
        # Measured on the loop's own clock, not the injected one: the backoff is about the world
        # (a database coming back), and an injected test clock may stand still.
        self._backing_off = True
        try:
            await self._wait(delay_s)
        finally:
            self._backing_off = False

    async def _wait(self, delay_s: float) -> None:
        """Sleep `delay_s` unless woken; one future and one timer handle, no task per sleep."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        handle = loop.call_later(delay_s, self._resolve, waiter)
        try:
            if not self._stopping:
                await waiter
        finally:
            handle.cancel()
            self._waiter = None

    def _wake_in_loop(self) -> None:
        if not self._backing_off:
            self._resolve_waiter()

    def _resolve_waiter(self) -> None:
        if self._waiter is not None:
            self._resolve(self._waiter)

    @staticmethod
    def _resolve(waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_result(None)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("TimerRunner is not running")
        return self._loop
