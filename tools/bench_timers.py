"""Timer figures (issue 3, "Figures"): memory, operations/s, the 24:00 burst and firing lateness of the
monitoring timer store, side by side with APScheduler 3 doing the same work.

Run: `.venv/bin/python -m tools.bench_timers` (or `python tools/bench_timers.py`); about a minute or two.

Memory is measured in a fresh (spawned) process per figure, so each resident size is "the whole
process" — interpreter, imports and the timers — and no figure inherits another's freed arenas.
Operation rates and bursts are measured in this process with the keys and instants built beforehand,
so they time the structure and not the string formatting.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a script too: then sys.path[0] is tools/, whose platform.py would shadow the standard
# library's, and the repository root (for `services`) is missing. Swap one for the other first.
_TOOLS, _ROOT = str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])
sys.path[:] = [p for p in sys.path if p not in ("", _TOOLS) or p == _ROOT]
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import asyncio  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from multiprocessing import get_context  # noqa: E402
from typing import Any  # noqa: E402

import psutil  # noqa: E402

from services.monitoring.timer_runner import TimerRunner, wall_clock_ms  # noqa: E402
from services.monitoring.timers import TimerStore  # noqa: E402

N_STORE = 1_000_000  # armed timers for the store's figures
N_APS = 100_000  # APScheduler: 1M jobs would take minutes to add and GBs to hold (measured below at 100k)
N_OPS = 200_000  # operations per timed kind on the store
N_APS_OPS = 20_000
N_BURST = 100_000  # clocks due at the same 24:00
N_LATENESS = 10_000
BATCH = 5000
DAY_MS = 86_400_000
BASE_MS = 1_790_000_000_000  # "now" for the synthetic workloads (late 2026)
MIDNIGHT_MS = BASE_MS - BASE_MS % DAY_MS + 16 * 3_600_000  # a 24:00 Asia/Shanghai (16:00 UTC)
LEVELS = ("warning", "breach", "severe")


def clock_key(i: int) -> str:
    """A realistic clock id, unique per i, 40-45 characters: case:<region>-<date>-<seq>:<phase>:<level>."""
    region = 320100 + i % 100
    day = 20260101 + (i // 100) % 28 + 100 * ((i // 2800) % 12)  # a valid-looking yyyymmdd
    return f"case:{region}-{day}-{i // 33600:05d}:handling:{LEVELS[i % 3]}"


def workload_dues(n: int, seed: int = 1) -> list[int]:
    """Dues spread over 30 days, with a 10% share at the same 24:00 (every working-day deadline)."""
    rnd = random.Random(seed)
    midnight = MIDNIGHT_MS + 3 * DAY_MS
    return [midnight if i % 10 == 0 else BASE_MS + rnd.randrange(30 * DAY_MS) for i in range(n)]


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}/s"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# -- memory, each in a fresh process --------------------------------------------------------------------


def _mem_store(n: int) -> tuple[float, float]:
    before = rss_mb()
    store = TimerStore()
    # Keys built one by one and held only by the store, as they would be when loaded from the database.
    for i, due in enumerate(workload_dues(n)):
        store.arm(clock_key(i), due)
    after = rss_mb()
    assert len(store) == n
    return before, after


def _mem_aps(n: int) -> tuple[float, float]:
    scheduler = _aps_scheduler()
    before = rss_mb()
    for i, due in enumerate(workload_dues(n)):
        scheduler.add_job(_aps_hit, "date", run_date=_dt(due), args=[clock_key(i)], id=clock_key(i))
    after = rss_mb()
    scheduler.shutdown(wait=False)
    return before, after


def _in_fresh_process(fn: Callable[[int], tuple[float, float]], n: int) -> tuple[float, float]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, n).result()


# -- APScheduler ----------------------------------------------------------------------------------------

_aps_hits: list[tuple[str, float]] = []


def _aps_hit(key: str) -> None:
    _aps_hits.append((key, time.time() * 1000))  # list.append is atomic under the GIL


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _aps_scheduler() -> Any:  # a started, paused BackgroundScheduler (imported late: only here)
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(10)},
        # Run every job however late (the default 1 s grace would silently skip a late burst).
        job_defaults={"misfire_grace_time": None, "coalesce": False},
        timezone=UTC,
    )
    # Started but paused: add/reschedule/remove do their real work (job store and wake-up) and
    # nothing runs until a figure resumes it.
    scheduler.start(paused=True)
    return scheduler


def _wait_hits(n: int, timeout_s: float) -> float:
    started = time.perf_counter()
    while len(_aps_hits) < n and time.perf_counter() - started < timeout_s:
        time.sleep(0.002)
    return time.perf_counter() - started


# -- the figures ----------------------------------------------------------------------------------------


def _ops_store(lines: list[str]) -> dict[str, float]:
    dues = workload_dues(N_STORE)
    keys = [clock_key(i) for i in range(N_STORE + N_OPS)]
    store = TimerStore()
    t_fill = timed(lambda: [store.arm(keys[i], dues[i]) for i in range(N_STORE)])
    rnd = random.Random(2)
    new_keys = keys[N_STORE:]
    new_dues = [BASE_MS + rnd.randrange(30 * DAY_MS) for _ in range(N_OPS)]
    existing = [keys[i] for i in rnd.sample(range(N_STORE), N_OPS)]
    moved = [BASE_MS + rnd.randrange(30 * DAY_MS) for _ in range(N_OPS)]
    arm = store.arm
    cancel = store.cancel

    def arm_new() -> None:
        for k, d in zip(new_keys, new_dues, strict=True):
            arm(k, d)

    def rearm() -> None:
        for k, d in zip(existing, moved, strict=True):
            arm(k, d)

    def cancel_all() -> None:
        for k in existing:
            cancel(k)

    t_arm, t_rearm, t_cancel = timed(arm_new), timed(rearm), timed(cancel_all)
    # Mixed: 40% arm a new clock, 40% move an armed one, 20% cancel one — on a store of ~1M.
    mixed = _mixed_ops(rnd, [k for k in new_keys[: N_OPS // 2]], existing, N_OPS)

    def run_mixed() -> None:
        for op, k, d in mixed:
            if op == 2:
                cancel(k)
            else:
                arm(k, d)

    t_mixed = timed(run_mixed)
    lines.append(f"TimerStore, {len(store):,} armed (1,000,000 loaded at {rate(N_STORE, t_fill).strip()}):")
    lines.append(f"  arm (new key)      {rate(N_OPS, t_arm)}")
    lines.append(f"  re-arm (move)      {rate(N_OPS, t_rearm)}")
    lines.append(f"  cancel             {rate(N_OPS, t_cancel)}")
    lines.append(f"  mixed 40/40/20     {rate(len(mixed), t_mixed)}")

    # The 24:00 burst: put back the clocks of that instant the operations above moved or cancelled,
    # take out everything due before it (untimed), then time the burst itself.
    midnight = MIDNIGHT_MS + 3 * DAY_MS
    burst = [k for k, d in zip(keys, dues, strict=False) if d == midnight]
    for k in burst:
        arm(k, midnight)
    while store.due(midnight - 1, 50_000):
        pass
    handed = 0

    def hand_out() -> None:
        nonlocal handed
        while batch := store.due(midnight, BATCH):
            handed += len(batch)

    t_burst = timed(hand_out)
    lines.append(
        f"  burst: {handed:,} due at the same 24:00 handed out in batches of {BATCH:,} in {t_burst * 1000:.0f} ms"
        f" ({len(burst):,} armed there, store of {len(store) + handed:,})"
    )
    return {
        "arm": N_OPS / t_arm,
        "rearm": N_OPS / t_rearm,
        "cancel": N_OPS / t_cancel,
        "mixed": len(mixed) / t_mixed,
        "burst": t_burst,
        "burst_n": handed,
    }


def _mixed_ops(rnd: random.Random, fresh: list[str], existing: list[str], n: int) -> list[tuple[int, str, int]]:
    ops: list[tuple[int, str, int]] = []
    fresh_it, existing_it = iter(fresh), iter(existing)
    for _ in range(n):
        roll = rnd.random()
        due = BASE_MS + rnd.randrange(30 * DAY_MS)
        if roll < 0.4:
            ops.append((0, next(fresh_it), due))
        elif roll < 0.8:
            ops.append((1, rnd.choice(existing), due))
        else:
            ops.append((2, next(existing_it), 0))
    return ops


def _ops_aps(lines: list[str]) -> dict[str, float]:
    dues = workload_dues(N_APS)
    keys = [clock_key(i) for i in range(N_APS + N_APS_OPS)]
    run_dates = [_dt(d) for d in dues]
    rnd = random.Random(2)
    scheduler = _aps_scheduler()
    add = scheduler.add_job
    t_fill = timed(
        lambda: [add(_aps_hit, "date", run_date=run_dates[i], args=[keys[i]], id=keys[i]) for i in range(N_APS)]
    )
    new_keys = keys[N_APS:]
    new_dates = [_dt(BASE_MS + rnd.randrange(30 * DAY_MS)) for _ in range(N_APS_OPS)]
    existing = [keys[i] for i in rnd.sample(range(N_APS), N_APS_OPS)]
    moved = [_dt(BASE_MS + rnd.randrange(30 * DAY_MS)) for _ in range(N_APS_OPS)]

    def arm_new() -> None:
        for k, d in zip(new_keys, new_dates, strict=True):
            add(_aps_hit, "date", run_date=d, args=[k], id=k)

    def rearm() -> None:
        for k, d in zip(existing, moved, strict=True):
            scheduler.reschedule_job(k, trigger="date", run_date=d)

    def cancel_all() -> None:
        for k in existing:
            scheduler.remove_job(k)

    t_arm, t_rearm, t_cancel = timed(arm_new), timed(rearm), timed(cancel_all)
    removed = set(existing)
    mixed = [
        (op, k, _dt(d) if op != 2 else None)
        for op, k, d in _mixed_ops(
            rnd,
            [f"{k}:m" for k in new_keys[: N_APS_OPS // 2]],
            [k for k in keys[:N_APS] if k not in removed][:N_APS_OPS],
            N_APS_OPS,
        )
    ]
    gone: set[str] = set()

    def run_mixed() -> None:
        for op, k, d in mixed:
            if op == 0:
                add(_aps_hit, "date", run_date=d, args=[k], id=k)
            elif k in gone:
                continue  # APScheduler raises on an unknown id; the store answers False
            elif op == 1:
                scheduler.reschedule_job(k, trigger="date", run_date=d)
            else:
                scheduler.remove_job(k)
                gone.add(k)

    t_mixed = timed(run_mixed)
    scheduler.shutdown(wait=False)
    lines.append(
        f"APScheduler 3 (BackgroundScheduler, MemoryJobStore, DateTrigger), {N_APS:,} jobs"
        f" (added at {rate(N_APS, t_fill).strip()}):"
    )
    lines.append(f"  add_job            {rate(N_APS_OPS, t_arm)}")
    lines.append(f"  reschedule_job     {rate(N_APS_OPS, t_rearm)}")
    lines.append(f"  remove_job         {rate(N_APS_OPS, t_cancel)}")
    lines.append(f"  mixed 40/40/20     {rate(len(mixed), t_mixed)}")

    # Burst: 100,000 jobs at one instant; paused while they are added, then resumed past the instant.
    scheduler = _aps_scheduler()
    instant = _dt(wall_clock_ms() + 500)
    for i in range(N_BURST):
        scheduler.add_job(_aps_hit, "date", run_date=instant, args=[keys[i]], id=keys[i])
    time.sleep(max(0.0, (instant - datetime.now(UTC)).total_seconds()))
    _aps_hits.clear()
    scheduler.resume()
    t_burst = _wait_hits(N_BURST, 60.0)
    done = len(_aps_hits)
    scheduler.shutdown(wait=False)
    lines.append(
        f"  burst: {done:,} of {N_BURST:,} due at the same instant run in {t_burst * 1000:.0f} ms"
        " (each run as a job on its 10-thread pool)"
    )
    return {
        "arm": N_APS_OPS / t_arm,
        "rearm": N_APS_OPS / t_rearm,
        "cancel": N_APS_OPS / t_cancel,
        "mixed": len(mixed) / t_mixed,
        "burst": t_burst,
        "burst_n": done,
    }


async def _lateness_runner(n: int, window_ms: int, same_instant: bool) -> tuple[list[float], float]:
    """Arm n timers through a TimerRunner; return each one's fire time minus due (ms) and the span."""
    late: list[float] = []
    all_fired = asyncio.Event()

    async def fire(batch: list[tuple[str, int]]) -> None:
        now = time.time_ns() / 1e6
        late.extend(now - due for _, due in batch)
        if len(late) >= n:
            all_fired.set()

    runner = TimerRunner(TimerStore(), wall_clock_ms, fire, batch_size=BATCH)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.01)
    rnd = random.Random(3)
    start = wall_clock_ms()
    for i in range(n):
        runner.arm(clock_key(i), start + (window_ms if same_instant else 50 + rnd.randrange(window_ms - 50)))
    await asyncio.wait_for(all_fired.wait(), 30)
    runner.stop()
    await task
    return late, max(late)


def _lateness_aps(n: int, offset_ms: int, window_ms: int) -> tuple[list[float], float]:
    scheduler = _aps_scheduler()
    _aps_hits.clear()
    rnd = random.Random(3)
    start = wall_clock_ms() + offset_ms
    dues = {clock_key(i): start + rnd.randrange(window_ms) for i in range(n)}
    scheduler.resume()
    for k, due in dues.items():
        scheduler.add_job(_aps_hit, "date", run_date=_dt(due), args=[k], id=k)
    _wait_hits(n, 30.0)
    scheduler.shutdown(wait=False)
    late = [at - dues[k] for k, at in _aps_hits]
    return late, len(late)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> list[str]:
    started = time.perf_counter()
    lines = [
        f"# timers — {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" {platform.machine()}, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        f"workload: clock ids like {clock_key(123_456)!r}; dues over 30 days, 10% at one 24:00",
    ]

    lines.append("## memory (resident, whole process, fresh process per line)")
    before, after = _in_fresh_process(_mem_store, N_STORE)
    lines.append(
        f"TimerStore  {N_STORE:>9,} timers: {before:.0f} MB -> {after:.0f} MB"
        f" (+{after - before:.0f} MB, {(after - before) * 2**20 / N_STORE:.0f} B/timer)"
    )
    s_before, s_after = _in_fresh_process(_mem_store, N_APS)
    store_per = (s_after - s_before) * 2**20 / N_APS
    lines.append(
        f"TimerStore  {N_APS:>9,} timers: {s_before:.0f} MB -> {s_after:.0f} MB"
        f" (+{s_after - s_before:.0f} MB, {store_per:.0f} B/timer)"
    )
    a_before, a_after = _in_fresh_process(_mem_aps, N_APS)
    aps_per = (a_after - a_before) * 2**20 / N_APS
    lines.append(
        f"APScheduler {N_APS:>9,} jobs:   {a_before:.0f} MB -> {a_after:.0f} MB"
        f" (+{a_after - a_before:.0f} MB, {aps_per:.0f} B/job; ~{aps_per * N_STORE / 2**30:.1f} GB"
        f" for 1,000,000 by extrapolation) -> {aps_per / store_per:.1f}x the store per timer"
    )

    lines.append("## operations (keys and instants prepared beforehand)")
    ours = _ops_store(lines)
    theirs = _ops_aps(lines)
    lines.append(
        "ratio TimerStore / APScheduler (operations/s): "
        + ", ".join(f"{name} {ours[name] / theirs[name]:.0f}x" for name in ("arm", "rearm", "cancel", "mixed"))
    )

    lines.append("## firing lateness (fire time minus due; real clock)")
    late, _ = asyncio.run(_lateness_runner(N_LATENESS, 2000, same_instant=False))
    runner_p50_ms = max(pct(late, 0.5), 0.001)
    lines.append(
        f"TimerRunner {N_LATENESS:,} timers due within 2 s: p50 {pct(late, 0.5):.1f} ms,"
        f" p99 {pct(late, 0.99):.1f} ms, max {max(late):.1f} ms"
    )
    late, span = asyncio.run(_lateness_runner(N_BURST, 1000, same_instant=True))
    lines.append(
        f"TimerRunner {N_BURST:,} due at one instant: last fired {span:.0f} ms after it"
        f" (p50 {pct(late, 0.5):.0f} ms), batches of {BATCH:,} -> {theirs['burst'] * 1000 / span:.0f}x"
        f" sooner than APScheduler's {theirs['burst'] * 1000:.0f} ms"
    )
    late, done = _lateness_aps(N_LATENESS, 1000, 2000)
    lines.append(
        f"APScheduler {N_LATENESS:,} jobs due within 2 s (starting 1 s out, room for add_job):"
        f" p50 {pct(late, 0.5):.1f} ms, p99 {pct(late, 0.99):.1f} ms, max {max(late):.1f} ms"
        f" ({done:,} ran)"
    )
    lines.extend(_sql_scan(N_STORE, runner_p50_ms))
    lines.append(f"(benchmark took {time.perf_counter() - started:.0f} s)")
    return lines


def _sql_scan(n: int, runner_p50_ms: float, minutes: int = 60) -> list[str]:
    """The other common design: a job that every minute selects the overdue clocks from the database.

    Its lateness is set by the period, not the load (a level due just after a scan waits a whole minute);
    what the load sets is the cost of each scan, measured here on an indexed SQLite table of `n` clocks.
    """
    import random
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(f"{tmp}/scan.db")
        conn.execute("CREATE TABLE clock (clock_id TEXT PRIMARY KEY, next_timer_at INTEGER)")
        conn.execute("CREATE INDEX ix_next ON clock (next_timer_at)")
        rng = random.Random(7)
        start_ms = 1_800_000_000_000
        rows = ((clock_key(i), start_ms + rng.randrange(30 * 86_400_000)) for i in range(n))
        conn.executemany("INSERT INTO clock VALUES (?, ?)", rows)
        conn.commit()
        scan_ms: list[float] = []
        lateness: list[float] = []
        for m in range(1, minutes + 1):
            now = start_ms + m * 60_000
            t = time.perf_counter()
            due = conn.execute("SELECT clock_id, next_timer_at FROM clock WHERE next_timer_at <= ?", (now,)).fetchall()
            conn.execute("UPDATE clock SET next_timer_at = NULL WHERE next_timer_at <= ?", (now,))
            conn.commit()
            scan_ms.append((time.perf_counter() - t) * 1000)
            lateness.extend(now - d for _, d in due)
        conn.close()
    return [
        f"## once-a-minute SQL scan for overdue clocks (SQLite, {n:,} clocks, {minutes} scans)",
        f"scan + mark: p50 {pct(scan_ms, 0.5):.1f} ms, p99 {pct(scan_ms, 0.99):.1f} ms per scan;"
        f" lateness of {len(lateness):,} levels found: p50 {pct(lateness, 0.5) / 1000:.1f} s,"
        f" p99 {pct(lateness, 0.99) / 1000:.1f} s -> TimerRunner is"
        f" {pct(lateness, 0.5) / runner_p50_ms:,.0f}x sooner at p50",
    ]


if __name__ == "__main__":
    print(*main(), sep="\n")
