"""The gateway alone (issue 7's overhead figure without the rest of the platform): the same requests to a stub
backend directly and through one gateway process, on an otherwise idle machine.

Run: `.venv/bin/python -m tools.bench_door` (about 1 minute; `make bench` runs it after `tools.bench_gateway`).

Why beside tools.bench_gateway: there the service's consumers, the broker and the load generator share the two
cores with the gateway, and a write's added latency is mostly the gateway's hop waiting for a core while the
write's own events go through the broker (docs/decisions.md 40). Here the backend is an aiohttp stub that answers
a 2 KB JSON body at once, nothing else runs, and what is left is the gateway's own work: its figures move when
the gateway's code changes, not when the platform's load does. Two public operations, so the gateway does all
it does for a caller but verify a token (cached after the first use anyway):
- `read`: `GET /api/v1/catalogue/items?region_code=…` (routing, authorization, proxy);
- `write`: `POST /api/v1/monitoring/ratings` (the same, and the audit entry committed before the answer leaves).
Rate limits are off (a single address sends everything). Per operation, segments alternate direct and gateway
(ABBA twice): sequential, one client (the latency added with nothing queued), and a closed loop of 4 clients for
the gateway's CPU per request (user + system, from /proc).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp

from tools.bench import closed_loop, pct
from tools.bench_disclosure import Lines, machine
from tools.bench_gateway import Operation, Way, cpu_seconds
from tools.kafka_broker import free_port
from tools.platform import COUNTY, ROOT

SEQUENTIAL = int(os.environ.get("BENCH_DOOR_REQUESTS", "1000"))  # per sequential segment
LOOP_SECONDS = 6.0
ORDER = ("direct", "gateway", "gateway", "direct") * 2
OPERATIONS = (
    Operation("read", "GET", f"/api/v1/catalogue/items?region_code={COUNTY}", "disclosure", None, 200),
    Operation("write", "POST", "/api/v1/monitoring/ratings", "monitoring", None, 201, b'{"score": 5}'),
)
TARGET_P50_ADDED_MS = 2.0

STUB = """
import sys
from aiohttp import web
BODY = b'{"items": "' + b"x" * 2048 + b'"}'
async def answer(request):
    await request.read()
    return web.Response(status=201 if request.method == "POST" else 200, body=BODY, content_type="application/json")
app = web.Application()
app.router.add_route("*", "/{tail:.*}", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


async def measure(urls: dict[str, str], gateway_pid: int, out: list[str]) -> dict[str, float]:
    added: dict[str, float] = {}
    async with (aiohttp.ClientSession(urls["direct"]) as direct, aiohttp.ClientSession(urls["gateway"]) as gateway):
        ways = {name: Way(name, session, lambda: {"Content-Type": "application/json"})
                for name, session in (("direct", direct), ("gateway", gateway))}
        for op in OPERATIONS:
            calls = {name: way.caller(op) for name, way in ways.items()}
            for call in calls.values():  # warm-up
                await closed_loop(call, 1, 0.5)
            latencies: dict[str, list[float]] = {"direct": [], "gateway": []}
            for way in ORDER:
                latencies[way].extend([(await calls[way]())[0] for _ in range(SEQUENTIAL)])
            before = cpu_seconds(gateway_pid)
            throughput, _ = await closed_loop(calls["gateway"], 4, LOOP_SECONDS)
            cpu_ms = (cpu_seconds(gateway_pid) - before) / (throughput * LOOP_SECONDS) * 1000
            p50 = {way: statistics.median(values) for way, values in latencies.items()}
            added[op.name] = p50["gateway"] - p50["direct"]
            out.append(f"[{op.name}] {op.method} {op.path.split('?')[0]} against the stub, one client, {len(ORDER)} x "
                       f"{SEQUENTIAL} (ABBA, twice):")
            for way in ("direct", "gateway"):
                values = latencies[way]
                out.append(f"      {way:<7}  p50 {p50[way]:.2f} ms, p90 {pct(values, 0.90):.2f} ms, p99 "
                           f"{pct(values, 0.99):.2f} ms (x{len(values)})")
            out.append(f"      p50 added {added[op.name]:.2f} ms (target <= {TARGET_P50_ADDED_MS:.0f} ms: "
                       f"{'met' if added[op.name] <= TARGET_P50_ADDED_MS else 'NOT met'}); gateway CPU {cpu_ms:.2f} ms "
                       "per request (4 clients)")
    return added


def run(out: list[str]) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="zwfw-bench-door-"))
    stub_port, gateway_port = free_port(), free_port()
    stub_url = f"http://127.0.0.1:{stub_port}"
    env = os.environ | {f"GATEWAY_{name}_URL": stub_url for name in ("ACCEPTANCE", "APPROVAL", "DISCLOSURE",
                                                                       "MONITORING")}
    env |= {"GATEWAY_DATABASE_URL": f"sqlite:///{data}/gateway.db", "GATEWAY_RATELIMIT_ENABLED": "false"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        log = open(data / "door.log", "ab")  # noqa: SIM115 - owned by the child processes
        processes.append(subprocess.Popen([sys.executable, "-c", STUB, str(stub_port)], stdout=log,
                                          stderr=subprocess.STDOUT))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1", "--port", str(gateway_port),
             "--no-access-log", "--log-level", "warning", "--no-proxy-headers"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_ready(stub_url + "/")
        wait_ready(f"http://127.0.0.1:{gateway_port}/healthz")
        return asyncio.run(measure({"direct": stub_url, "gateway": f"http://127.0.0.1:{gateway_port}"},
                                   processes[1].pid, out))
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        shutil.rmtree(data, ignore_errors=True)


def main() -> list[str]:
    out: list[str] = Lines()
    out.append(machine())
    started = time.monotonic()
    added = run(out)
    out.append("summary: gateway alone, p50 added " + ", ".join(f"{op} {ms:.2f} ms" for op, ms in added.items()))
    out.append(f"whole benchmark: {time.monotonic() - started:.0f} s; command: .venv/bin/python -m tools.bench_door")
    return out


if __name__ == "__main__":
    for text in main():
        print(text, flush=True)
    sys.exit(0)
