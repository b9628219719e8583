"""The asyncio timer runner: wakes early for an earlier timer, retries failed batches, fires in batches.

Fake clocks where the instant matters, short real sleeps (well under a second) where the loop must
really wake up.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from services.monitoring.timer_runner import TimerRunner, wall_clock_ms
from services.monitoring.timers import TimerStore


class FakeClock:
    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.now_ms = now_ms
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.now_ms


class Recorder:
    """A `fire` callback that records batches, optionally failing the first `fail` calls."""

    def __init__(self, clock: Callable[[], int] = wall_clock_ms, fail: int = 0) -> None:
        self.batches: list[list[tuple[str, int]]] = []
        self.fired_at: list[int] = []
        self.calls = 0
        self.fail = fail
        self.clock = clock
        self.event = asyncio.Event()

    async def __call__(self, batch: list[tuple[str, int]]) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise RuntimeError("outbox unavailable")
        self.batches.append(batch)
        self.fired_at.append(self.clock())
        self.event.set()

    @property
    def keys(self) -> list[str]:
        return [k for b in self.batches for k, _ in b]

    async def wait_for(self, n: int, within_s: float = 1.0) -> None:
        async with asyncio.timeout(within_s):
            while len(self.keys) < n:
                self.event.clear()
                await self.event.wait()


@asynccontextmanager
async def running(runner: TimerRunner) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.01)  # let it reach its first sleep
    try:
        yield task
    finally:
        runner.stop()
        await asyncio.wait_for(task, 1.0)


async def sleeping(runner: TimerRunner) -> None:
    async with asyncio.timeout(1.0):
        # The runner exposes no "asleep" event (it would exist for tests only): poll its waiter.
        while runner._waiter is None:  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def test_fires_at_the_instant_with_a_real_clock() -> None:
    fire = Recorder()
    runner = TimerRunner(TimerStore(), wall_clock_ms, fire)
    async with running(runner):
        due = wall_clock_ms() + 50
        runner.arm("case:a:handling:breach", due)
        await fire.wait_for(1)
    assert fire.batches == [[("case:a:handling:breach", due)]]
    assert 0 <= fire.fired_at[0] - due < 200


async def test_a_timer_earlier_than_the_current_sleep_wakes_the_runner() -> None:
    fire = Recorder()
    runner = TimerRunner(TimerStore(), wall_clock_ms, fire)
    runner.arm("late", wall_clock_ms() + 10_000)
    async with running(runner):
        await sleeping(runner)
        assert runner._sleep_target_ms is not None
        due = wall_clock_ms() + 30
        runner.arm("early", due)
        await fire.wait_for(1, within_s=0.5)  # without the wake it would sleep ~10 s
    assert fire.keys == ["early"] and "late" in runner.store


async def test_a_timer_armed_into_an_empty_store_wakes_the_runner() -> None:
    fire = Recorder()
    runner = TimerRunner(TimerStore(), wall_clock_ms, fire, max_sleep_s=30)
    async with running(runner):
        await sleeping(runner)
        runner.arm("first", wall_clock_ms() + 20)
        await fire.wait_for(1, within_s=0.5)


async def test_fake_clock_advanced_then_woken() -> None:
    clock = FakeClock()
    fire = Recorder(clock)
    runner = TimerRunner(TimerStore(), clock, fire)
    runner.arm("a", clock.now_ms + 5_000)  # 5 s of fake time: the runner sleeps toward it
    async with running(runner):
        await sleeping(runner)
        assert fire.batches == []
        clock.now_ms += 5_000
        runner.wake()
        await fire.wait_for(1, within_s=0.5)
    assert fire.batches == [[("a", 1_005_000)]]


async def test_arm_threadsafe_from_another_thread_wakes_the_runner() -> None:
    fire = Recorder()
    runner = TimerRunner(TimerStore(), wall_clock_ms, fire)
    runner.arm("far", wall_clock_ms() + 60_000)
    async with running(runner):
        await sleeping(runner)
        due = wall_clock_ms() + 20
        thread = threading.Thread(target=runner.arm_threadsafe, args=("near", due))
        thread.start()
        thread.join()
        await fire.wait_for(1, within_s=0.5)
    assert fire.batches == [[("near", due)]]


def test_arm_threadsafe_needs_a_running_runner() -> None:
    runner = TimerRunner(TimerStore(), wall_clock_ms, Recorder())
    with pytest.raises(RuntimeError):
        runner.arm_threadsafe("a", 1)


async def test_a_failing_fire_rearms_the_batch_and_retries_after_a_backoff() -> None:
    clock = FakeClock()
    fire = Recorder(clock, fail=2)
    runner = TimerRunner(TimerStore(), clock, fire, retry_backoff_s=0.02, batch_size=10)
    for i in range(3):
        runner.arm(f"k{i}", clock.now_ms - 10 + i)
    async with running(runner):
        await fire.wait_for(3)
    assert fire.calls == 3 and runner.failed_batches == 2
    # The same timers, at their original instants: nothing lost, nothing moved.
    assert fire.batches == [[("k0", 999_990), ("k1", 999_991), ("k2", 999_992)]]
    assert len(runner.store) == 0 and runner.fired == 3


async def test_a_timer_cancelled_or_moved_while_its_batch_fails_is_not_overridden() -> None:
    clock = FakeClock()
    gate, retried = asyncio.Event(), asyncio.Event()
    calls: list[list[tuple[str, int]]] = []

    async def fire(batch: list[tuple[str, int]]) -> None:
        calls.append(batch)
        if len(calls) == 2:
            retried.set()
        if len(calls) == 1:
            await gate.wait()
            raise RuntimeError("broker down")

    runner = TimerRunner(TimerStore(), clock, fire, retry_backoff_s=0.02)
    for k in ("keep", "cancelled", "moved"):
        runner.arm(k, clock.now_ms)
    async with running(runner):
        assert len(calls) == 1  # the batch is out
        assert runner.cancel("cancelled") is True  # the case completed meanwhile
        runner.arm("moved", clock.now_ms + 60_000)  # suspended meanwhile
        gate.set()
        await asyncio.wait_for(retried.wait(), 1.0)
    assert calls[1] == [("keep", clock.now_ms)]
    assert runner.store.due_of("moved") == clock.now_ms + 60_000 and "cancelled" not in runner.store


async def test_a_burst_goes_out_in_batches_and_the_loop_runs_between_them() -> None:
    clock = FakeClock()
    store = TimerStore()
    for i in range(12_000):
        store.arm(f"case:{i:05d}:handling:severe", clock.now_ms)
    ticks: list[int] = []

    async def fire(batch: list[tuple[str, int]]) -> None:
        ticks.append(len(batch))  # never suspends: the runner must yield by itself

    async def other_work() -> None:
        while True:
            ticks.append(0)
            await asyncio.sleep(0)

    other = asyncio.create_task(other_work())
    runner = TimerRunner(store, clock, fire, batch_size=5000)
    async with running(runner):
        pass
    other.cancel()
    batches = [t for t in ticks if t]
    assert batches == [5000, 5000, 2000]
    first, last = ticks.index(5000), len(ticks) - 1 - ticks[::-1].index(2000)
    assert 0 in ticks[first:last]  # other work ran in the middle of the burst


async def test_idle_runner_does_not_busy_loop() -> None:
    clock = FakeClock()
    runner = TimerRunner(TimerStore(), clock, Recorder(clock), max_sleep_s=60)
    runner.arm("far", clock.now_ms + 3_600_000)
    async with running(runner):
        reads = clock.reads
        await asyncio.sleep(0.2)
        assert clock.reads == reads  # asleep: not a single look at the clock in 200 ms
    # Nothing armed at all: the same.
    runner = TimerRunner(TimerStore(), clock, Recorder(clock), max_sleep_s=60)
    async with running(runner):
        reads = clock.reads
        await asyncio.sleep(0.2)
        assert clock.reads == reads


async def test_cancelling_the_run_task_mid_batch_rearms_the_batch() -> None:
    clock = FakeClock()
    started = asyncio.Event()

    async def fire(batch: list[tuple[str, int]]) -> None:
        started.set()
        await asyncio.sleep(10)

    runner = TimerRunner(TimerStore(), clock, fire)
    runner.arm("a", clock.now_ms)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), 1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.store.due_of("a") == clock.now_ms


async def test_stop_before_run_returns_at_once() -> None:
    runner = TimerRunner(TimerStore(), wall_clock_ms, Recorder())
    runner.stop()
    await asyncio.wait_for(runner.run(), 0.5)
