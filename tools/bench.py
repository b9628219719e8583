"""`make bench`: starts the platform on free ports and prints the figures recorded in docs/benchmarks.md.

Figures: acceptance of an application through the gateway (latency sequentially, throughput with
concurrent clients, latency at a fixed 200 submissions/s) with its outbox row written in the same
transaction, and the event hop: from the 201 answer to the review task being visible in approval (relay →
Kafka → consumer → database). Then the same submission figures on the submission path alone (gateway,
acceptance with its relay, the broker), the approval, disclosure and monitoring processes stopped, which
shows what the other services' share of the two cores costs the window.
"""

from __future__ import annotations

import asyncio
import os
import platform as host
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tools.platform import Platform, demo_tokens

ITEM = {
    "name": "基准测试事项", "item_type": "01", "department": "区行政审批局", "region_code": "320102000000",
    "case_type": "2",
    "legal_limit": {"value": 20, "unit": "working_days"}, "promised_limit": {"value": 5, "unit": "working_days"},
    "joint": False, "materials": [{"code": "M01", "name": "申请书", "originals": 1, "copies": 0}],
    "process": [], "publish_results": True, "fee_charged": False,
}
APPLICANT = {"applicant_type": "1", "name": "张三", "id_type": "resident_id", "id_number": "11010519491231002X"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Submit = Callable[[], Awaitable[tuple[float, dict[str, Any]]]]


async def closed_loop(submit: Submit, concurrency: int, seconds: float) -> tuple[float, list[float]]:
    """`concurrency` clients each submitting again as soon as answered: (accepted/s, latencies in ms)."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            latencies.append((await submit())[0])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies


async def open_loop(submit: Submit, rate: int, seconds: float) -> list[float]:
    """Submissions started on a fixed schedule whatever the answers do, each latency counted from its
    scheduled start, so time spent queueing behind a slow answer is not hidden (coordinated omission)."""
    latencies: list[float] = []
    started = time.perf_counter()

    async def one(scheduled: float) -> None:
        await submit()
        latencies.append((time.perf_counter() - scheduled) * 1000)

    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies


def describe(latencies: list[float]) -> str:
    return (f"p50 {statistics.median(latencies):.1f} ms, p95 {pct(latencies, 0.95):.1f} ms, "
            f"p99 {pct(latencies, 0.99):.1f} ms, max {max(latencies):.0f} ms (x{len(latencies)})")


async def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="zwfw-bench-"))
    platform = Platform.on_free_ports(data, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    base = platform.url()
    try:
        # Inside the try: a process that fails to start must not leave the others running.
        await asyncio.to_thread(platform.start, os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
        tokens = await asyncio.to_thread(demo_tokens, base)
        auth = {name: {"Authorization": f"Bearer {tok}"} for name, tok in tokens.items()}
        async with aiohttp.ClientSession(base) as http:
            code = f"BENCH{uuid.uuid4().hex[:8]}"
            async with http.post("/api/v1/catalogue/items", json={"item_code": code, **ITEM},
                                 headers=auth["catalogue-admin"]) as r:
                assert r.status == 201, await r.text()
            async with http.post(f"/api/v1/catalogue/items/{code}/publish", json={},
                                 headers=auth["catalogue-admin"]) as r:
                assert r.status == 200, await r.text()
            body = {"item_code": code, "region_code": "320102000000", "applicant": APPLICANT,
                    "materials": [{"code": "M01", "originals": 1}]}

            async def submit() -> tuple[float, dict[str, Any]]:
                start = time.perf_counter()
                async with http.post("/api/v1/applications", json=body, headers=auth["county-clerk"]) as r:
                    payload = await r.json()
                    if r.status != 201:
                        raise RuntimeError(f"{r.status} {payload}")
                return (time.perf_counter() - start) * 1000, payload

            while True:  # until acceptance's replica has the item
                try:
                    await submit()
                    break
                except RuntimeError:
                    await asyncio.sleep(0.2)

            sequential = [(await submit())[0] for _ in range(300)]

            concurrency, seconds, rate = 20, 10.0, 200
            throughput, latencies = await closed_loop(submit, concurrency, seconds)
            paced = await open_loop(submit, rate, seconds)

            hops: list[float] = []
            for _ in range(30):
                _, payload = await submit()
                t0 = time.perf_counter()
                while True:
                    async with http.get("/api/v1/approval/tasks", params={"case_no": payload["case_no"]},
                                        headers=auth["approver"]) as r:
                        if (await r.json())["items"]:
                            break
                    await asyncio.sleep(0.005)
                hops.append((time.perf_counter() - t0) * 1000)

            # The submission path alone: the consumers of the case topic stopped (they catch up later).
            for name in ("approval", "disclosure", "monitoring"):
                await asyncio.to_thread(platform.kill, name, signal.SIGTERM)
            alone_throughput, alone_latencies = await closed_loop(submit, concurrency, seconds)
            alone_paced = await open_loop(submit, rate, seconds)

        print(f"machine: {host.machine()} {os.cpu_count()} cores, Python {host.python_version()}")
        print(f"POST /api/v1/applications via gateway, sequential x{len(sequential)}: "
              f"p50 {statistics.median(sequential):.1f} ms, p99 {pct(sequential, 0.99):.1f} ms")
        print(f"POST /api/v1/applications via gateway, {concurrency} clients x {seconds:.0f} s: "
              f"{throughput:.0f} accepted/s, p50 {statistics.median(latencies):.1f} ms, "
              f"p99 {pct(latencies, 0.99):.1f} ms")
        print(f"POST /api/v1/applications via gateway, paced at {rate}/s x {seconds:.0f} s: {describe(paced)}")
        print(f"event hop accepted -> review task visible in approval, x{len(hops)}: "
              f"p50 {statistics.median(hops):.0f} ms, p99 {pct(hops, 0.99):.0f} ms (includes 5 ms polling)")
        print(f"submission path alone (approval, disclosure, monitoring stopped), {concurrency} clients x "
              f"{seconds:.0f} s: {alone_throughput:.0f} accepted/s, p50 {statistics.median(alone_latencies):.1f} ms, "
              f"p99 {pct(alone_latencies, 0.99):.1f} ms")
        print(f"submission path alone, paced at {rate}/s x {seconds:.0f} s: {describe(alone_paced)}")
    finally:
        await asyncio.to_thread(platform.stop)


if __name__ == "__main__":
    asyncio.run(main())
