"""`make bench`: starts the platform on free ports and prints the figures recorded in docs/benchmarks.md.

Figures: acceptance of an application through the gateway (latency sequentially, throughput with
concurrent clients) with its outbox row written in the same transaction, and the event hop: from the
201 answer to the review task being visible in approval (relay → Kafka → consumer → database).
"""

from __future__ import annotations

import asyncio
import os
import platform as host
import statistics
import tempfile
import time
import uuid
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


async def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="zwfw-bench-"))
    platform = Platform.on_free_ports(data, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    tokens = demo_tokens()
    base = platform.url()
    auth = {name: {"Authorization": f"Bearer {tok}"} for name, tok in tokens.items()}
    try:
        # Inside the try: a process that fails to start must not leave the others running.
        await asyncio.to_thread(platform.start, os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
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

            concurrency, seconds = 20, 10.0
            latencies: list[float] = []
            stop_at = time.perf_counter() + seconds

            async def worker() -> None:
                while time.perf_counter() < stop_at:
                    latencies.append((await submit())[0])

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started

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

        print(f"machine: {host.machine()} {os.cpu_count()} cores, Python {host.python_version()}")
        print(f"POST /api/v1/applications via gateway, sequential x{len(sequential)}: "
              f"p50 {statistics.median(sequential):.1f} ms, p99 {pct(sequential, 0.99):.1f} ms")
        print(f"POST /api/v1/applications via gateway, {concurrency} clients x {seconds:.0f} s: "
              f"{len(latencies) / elapsed:.0f} accepted/s, p50 {statistics.median(latencies):.1f} ms, "
              f"p99 {pct(latencies, 0.99):.1f} ms")
        print(f"event hop accepted -> review task visible in approval, x{len(hops)}: "
              f"p50 {statistics.median(hops):.0f} ms, p99 {pct(hops, 0.99):.0f} ms (includes 5 ms polling)")
    finally:
        await asyncio.to_thread(platform.stop)


if __name__ == "__main__":
    asyncio.run(main())
