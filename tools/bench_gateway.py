"""Gateway overhead (issue 7, "Figures"): the same requests through the gateway and straight to the service,
in the same run. Target: at most 30 % throughput loss and at most 2 ms added at p50.

Run: `.venv/bin/python -m tools.bench_gateway` (about 3 minutes; in `make bench`). BENCH_GATEWAY_CLIENTS
(20), BENCH_GATEWAY_SECONDS (2, one segment), BENCH_GATEWAY_RATES (e.g. "catalogue=80,tasks=150,submit=60";
by default 40 % of the lower closed-loop throughput) change the load; BENCH_GATEWAY_OPERATIONS ("submit", or
"catalogue,tasks") measures only those. BENCH_GATEWAY_PYSPY=/path/to/py-spy
adds a sampled profile of the gateway per operation, taken after the measured segments (a sampler slows its
target, so it is never inside a figure); BENCH_GATEWAY_PYSPY_KEEP=/a/directory keeps its collapsed stacks there
(`<operation>.txt`) for a closer look.

What runs: `tools.platform.Platform` starts its own Kafka broker, the four services and the gateway on free
ports (one uvicorn worker each, SQLite files in a temporary directory), as `tools.bench` does, with a fresh
internal secret. The demo catalogue is loaded, a benchmark item published and some applications submitted,
so the lists answer what a front end sees.

Operations, each one a front end makes all day:
- `catalogue`: `GET /api/v1/catalogue/items?region_code=<county>` without a token (public 办事指南 list,
  disclosure);
- `tasks`: `GET /api/v1/approval/tasks?status=open&limit=20` as the approver (待办 queue, approval);
- `submit`: `POST /api/v1/applications` as the county clerk (受理, acceptance: case, outbox, events that approval,
  monitoring and disclosure then consume). A write: what the gateway adds to writes (the audit log) counts.

Two ways to the service. `gateway`: the bearer token to the gateway, which authenticates it, signs the
principal and forwards. `direct`: to the service's own port with the `X-Zwfw-Principal` the gateway would
send (`sign_principal` with the platform's internal secret, re-signed every 10 s like the gateway's cache),
and the `X-Forwarded-For` the gateway adds. Before measuring, both ways are checked to answer the same (same
status; same JSON for the reads) and the service is checked to refuse a direct call without the principal.

For each operation and both ways, segments alternate direct, gateway, gateway, direct, twice (ABBA ABBA), so a
drift during the run (the catalogue's caches, the case tables growing, other load on the machine) weighs on both
alike:
1. sequential: one client, 50 requests a segment: the latency added with nothing queued;
2. closed loop: N clients each sending again as soon as answered, for a fixed time: throughput and
   latency at saturation; the throughput loss is 1 - gateway/direct;
3. paced: the same fixed rate both ways, latency counted from each request's scheduled start
   (`tools.bench.open_loop`): the p50 added at equal, moderate load. Moderate: the platform, called directly,
   keeps at most half the machine's cores busy (MODERATE); the share it kept busy each way is printed, with each
   process's time on a core and waiting in the run queue for one, per request (/proc/<pid>/task/*/schedstat).
After the submission's figures, approval, disclosure and monitoring are stopped and the sequential run is
repeated: how much of the write's added latency comes from the consumers a submission wakes, which compete with
the extra hop for the cores.
Every answer's status is checked; one unexpected status stops the benchmark.

Two cores: the load generator is this process (one event loop, fixed concurrency), and it competes with
the gateway, the service and the rest of the platform for the same cores. So the CPU each process spent per
request in the closed loop is read from /proc (user + system) and printed: gateway, the service, this
generator, and the rest of the platform (broker, the other services' consumers and relays). The gateway's
figure is its cost; the throughput loss follows from how the total per request grows on two cores.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gateway.auth import PUBLIC
from gateway.identity.seed import DEMO_IDENTITIES
from services.common.principal import PRINCIPAL_HEADER, Principal, sign_principal
from tools.bench import APPLICANT, ITEM, closed_loop, open_loop, pct
from tools.bench_disclosure import Lines, machine
from tools.platform import COUNTY, ROOT, Platform, demo_tokens

CLIENTS = int(os.environ.get("BENCH_GATEWAY_CLIENTS", "20"))
SEGMENT_SECONDS = float(os.environ.get("BENCH_GATEWAY_SECONDS", "2"))
SEQUENTIAL = 50  # requests per sequential segment
# The paced rate, unless set per operation ("catalogue=80,tasks=150,submit=60"): a share of the lower closed-loop
# throughput of the two ways, halved until the platform, called directly at that rate, keeps at most MODERATE of
# the machine's cores busy. A share alone is not enough for a write: at saturation the consumers take many events
# per transaction and per broker round trip, at a fifth of that rate one or two, and 40 % of the submissions'
# closed-loop throughput kept both cores of the 2-core sandbox fully busy (docs/benchmarks.md, 2026-12-08).
PACED_SHARE = 0.4
MODERATE = 0.5
OPERATIONS = frozenset(name for name in os.environ.get("BENCH_GATEWAY_OPERATIONS", "").split(",") if name)
RATES = {name: int(rate) for name, _, rate in
         (part.partition("=") for part in os.environ.get("BENCH_GATEWAY_RATES", "").split(",") if part)}
SEEDED_CASES = 60  # so the approver's queue holds a full page of 20
TARGET_LOSS, TARGET_P50_ADDED_MS = 30.0, 2.0
# ABBA twice: short segments, alternated, so the other load of a shared machine falls on both ways alike.
ORDER = ("direct", "gateway", "gateway", "direct") * 2



def acquire_tokens(platform: Platform) -> dict[str, str]:
    """Bearer tokens of the demo accounts, by account name, logged in through the gateway once: a Platform on free
    ports issues them for 12 hours, the benchmark runs about 3 minutes."""
    return demo_tokens(platform.url())


def principal_of(account: str | None) -> Principal:
    """The principal the gateway forwards for an account (None: the anonymous caller of a public endpoint)."""
    if account is None:
        return PUBLIC
    demo = next(d for d in DEMO_IDENTITIES if d.username == account)
    return Principal(kind=demo.kind, subject=demo.username, name=demo.name, role=demo.role,
                     department=demo.department, region_code=demo.region_code)


class SignedPrincipal:
    """`X-Zwfw-Principal` for direct calls, re-signed well before its 60 s expiry. The gateway also reuses a
    signature for 10 s (gateway.auth.Authenticator), so neither way pays for signing on every request."""

    def __init__(self, principal: Principal, secret: str, resign_after: float = 10.0) -> None:
        self.principal, self.secret, self.resign_after = principal, secret, resign_after
        self._signed, self._at = "", float("-inf")

    def value(self) -> str:
        now = time.monotonic()
        if now - self._at >= self.resign_after:
            self._signed, self._at = sign_principal(self.principal, self.secret), now
        return self._signed


@dataclass
class Operation:
    name: str
    method: str
    path: str  # with its query
    backend: str
    account: str | None  # None: public, no token
    expect: int
    body: bytes | None = None


Call = Callable[[], Awaitable[tuple[float, dict[str, Any]]]]


@dataclass
class Way:
    """One way to the service: a keep-alive session and the headers that way needs."""

    name: str
    session: aiohttp.ClientSession
    headers: Callable[[], dict[str, str]]

    def caller(self, op: Operation) -> Call:
        method, path, body, expect = op.method, op.path, op.body, op.expect

        async def call() -> tuple[float, dict[str, Any]]:
            start = time.perf_counter()
            async with self.session.request(method, path, data=body, headers=self.headers()) as r:
                payload = await r.read()
                if r.status != expect:
                    raise RuntimeError(f"{self.name} {method} {path}: {r.status} {payload[:300]!r}")
            return (time.perf_counter() - start) * 1000, {}

        return call


@dataclass
class Figures:
    """Per way: latencies (ms), requests and seconds of the timed loops, CPU seconds by process."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"direct": [], "gateway": []})
    requests: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, Counter[str]] = field(default_factory=lambda: {"direct": Counter(), "gateway": Counter()})
    waited: dict[str, Counter[str]] = field(default_factory=lambda: {"direct": Counter(), "gateway": Counter()})

    def throughput(self, way: str) -> float:
        return self.requests[way] / self.seconds[way]

    def p50(self, way: str) -> float:
        return statistics.median(self.latencies[way])

    def line(self, way: str) -> str:
        values = self.latencies[way]
        return (f"p50 {self.p50(way):.2f} ms, p90 {pct(values, 0.90):.2f} ms, p99 {pct(values, 0.99):.2f} ms "
                f"(x{len(values)})")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sched_threads(pid: int) -> dict[int, tuple[int, int]]:
    """Per thread, nanoseconds it ran on a core and waited in the run queue for one (/proc/<pid>/task/*/schedstat):
    the waiting is what the scheduler, not the code, added to a request."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            on_cpu, run_queue, _ = (task / "schedstat").read_text().split()
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
        threads[int(task.name)] = (int(on_cpu), int(run_queue))
    return threads


def sched_delta(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> tuple[float, float]:
    """Seconds on a core and waiting, between two snapshots: threads that ended meanwhile are missing from the
    second, so each thread counts its own difference (a sum over the process would drop theirs and could go
    negative); threads started meanwhile count from zero."""
    ran = sum(a[0] - before.get(tid, (0, 0))[0] for tid, a in after.items())
    waited = sum(a[1] - before.get(tid, (0, 0))[1] for tid, a in after.items())
    return ran / 1e9, waited / 1e9


def process_pids(platform: Platform) -> dict[str, int]:
    pids = {name: proc.pid for name, proc in platform.processes.items()}
    if platform.broker is not None and platform.broker.process is not None:
        pids["kafka"] = platform.broker.process.pid
    pids["generator"] = os.getpid()
    return pids


async def settle(pids: dict[str, int], threshold: float = 0.15, within: float = 20.0) -> float:
    """Until the platform uses less than `threshold` of a core: a write's consumers (approval, monitoring,
    disclosure) work through their events after the answers, and that backlog should not land in the next
    segment. Seconds waited."""
    platform_pids = [pid for name, pid in pids.items() if name != "generator"]
    started = time.monotonic()
    while time.monotonic() - started < within:
        before = sum(cpu_seconds(pid) for pid in platform_pids)
        await asyncio.sleep(0.5)
        if sum(cpu_seconds(pid) for pid in platform_pids) - before < threshold * 0.5:
            break
    return time.monotonic() - started


async def timed_closed(call: Call, pids: dict[str, int], figures: Figures, way: str) -> None:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    throughput, latencies = await closed_loop(call, CLIENTS, SEGMENT_SECONDS)
    elapsed = time.perf_counter() - started
    for name, pid in pids.items():
        figures.cpu[way][name] += cpu_seconds(pid) - before[name]
    figures.latencies[way].extend(latencies)
    figures.requests[way] += round(throughput * elapsed)
    figures.seconds[way] += elapsed


async def one_client(calls: dict[str, Call]) -> Figures:
    figures = Figures()
    for way in ORDER:
        figures.latencies[way].extend([(await calls[way]())[0] for _ in range(SEQUENTIAL)])
    return figures


def print_one_client(figures: Figures, out: list[str], what: str = "") -> float:
    out.append(f"    sequential{what}, one client, {len(ORDER)} x {SEQUENTIAL} (ABBA, twice):")
    for way in ("direct", "gateway"):
        out.append(f"      {way:<7}  {figures.line(way)}")
    added = figures.p50("gateway") - figures.p50("direct")
    out.append(f"      p50 added {added:.2f} ms")
    return added


async def paced_segment(call: Call, rate: int, pids: dict[str, int], figures: Figures, way: str) -> None:
    """One open-loop segment at `rate`, added to `figures` for `way` with each process's scheduler times."""
    before = {name: sched_threads(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    latencies = await open_loop(call, rate, SEGMENT_SECONDS)
    figures.seconds[way] += time.perf_counter() - started
    for name, pid in pids.items():
        ran, waited = sched_delta(before[name], sched_threads(pid))
        figures.cpu[way][name] += ran
        figures.waited[way][name] += waited
    figures.latencies[way].extend(latencies)
    figures.requests[way] += len(latencies)


def platform_busy(figures: Figures, way: str, pids: dict[str, int]) -> float:
    """The share of the machine's cores the platform (all but the load generator) kept busy in `way`'s segments."""
    ran = sum(figures.cpu[way][name] for name in pids if name != "generator")
    return ran / (figures.seconds[way] * (os.cpu_count() or 1))


async def moderate_rate(call: Call, capacity: float, pids: dict[str, int]) -> int:
    rate = max(10, int(capacity * PACED_SHARE / 10) * 10)
    while rate > 2:
        probe = Figures()
        await settle(pids)
        await paced_segment(call, rate, pids, probe, "direct")
        if platform_busy(probe, "direct", pids) <= MODERATE:
            break
        rate //= 2
    return rate


async def measure(op: Operation, ways: dict[str, Way], pids: dict[str, int], out: list[str]) -> dict[str, Any]:
    calls = {name: way.caller(op) for name, way in ways.items()}
    for way in ("direct", "gateway"):  # warm-up: pools connected, caches and code paths hot
        await closed_loop(calls[way], CLIENTS, 1.0)
    await settle(pids)

    sequential = await one_client(calls)
    closed = Figures()
    for way in ORDER:
        await settle(pids)
        await timed_closed(calls[way], pids, closed, way)
    capacity = min(closed.throughput(way) for way in ("direct", "gateway"))
    rate = RATES.get(op.name) or await moderate_rate(calls["direct"], capacity, pids)
    paced = Figures()
    for way in ORDER:
        await settle(pids)
        await paced_segment(calls[way], rate, pids, paced, way)

    loss = (1 - closed.throughput("gateway") / closed.throughput("direct")) * 100
    added = {name: f.p50("gateway") - f.p50("direct") for name, f in
             (("sequential", sequential), ("closed", closed), ("paced", paced))}
    print_one_client(sequential, out)
    out.append(f"    closed loop, {CLIENTS} clients, {len(ORDER)} x {SEGMENT_SECONDS:.0f} s:")
    for way in ("direct", "gateway"):
        out.append(f"      {way:<7}  {closed.throughput(way):6.0f} req/s, {closed.line(way)}")
    out.append(f"      throughput loss {loss:.1f} % (target <= {TARGET_LOSS:.0f} %: "
               f"{'met' if loss <= TARGET_LOSS else 'NOT met'}); p50 added {added['closed']:.2f} ms (at "
               "saturation: mostly the queue behind the lower throughput)")
    cpu = {way: {name: closed.cpu[way][name] / closed.requests[way] * 1000 for name in pids} for way in closed.cpu}
    service = op.backend
    rest = [name for name in pids if name not in ("gateway", service, "generator")]
    total = {way: sum(cpu[way].values()) for way in cpu}
    each_rest = ", ".join(f"{n} {cpu['direct'][n]:.2f} -> {cpu['gateway'][n]:.2f}" for n in rest)
    out.append("      CPU per request, ms (direct -> gateway): "
               f"gateway {cpu['direct']['gateway']:.2f} -> {cpu['gateway']['gateway']:.2f}, "
               f"{service} {cpu['direct'][service]:.2f} -> {cpu['gateway'][service]:.2f}, "
               f"generator {cpu['direct']['generator']:.2f} -> {cpu['gateway']['generator']:.2f}, "
               f"rest of platform {sum(cpu['direct'][n] for n in rest):.2f} -> "
               f"{sum(cpu['gateway'][n] for n in rest):.2f} ({each_rest}); total {total['direct']:.2f} -> "
               f"{total['gateway']:.2f} (2 cores: a ceiling of {2000 / total['direct']:.0f} -> "
               f"{2000 / total['gateway']:.0f} req/s)")
    how = ("set by BENCH_GATEWAY_RATES" if op.name in RATES else
           f"{PACED_SHARE:.0%} of the lower throughput, halved while the platform kept over {MODERATE:.0%} of the "
           "cores busy")
    out.append(f"    paced at {rate}/s ({how}), {len(ORDER)} x {SEGMENT_SECONDS:.0f} s (latency from the scheduled "
               "start):")
    for way in ("direct", "gateway"):
        out.append(f"      {way:<7}  {paced.line(way)}")
    out.append(f"      p50 added {added['paced']:.2f} ms (target <= {TARGET_P50_ADDED_MS:.0f} ms at equal load: "
               f"{'met' if added['paced'] <= TARGET_P50_ADDED_MS else 'NOT met'})")
    out.append(f"      platform's share of the {os.cpu_count()} cores: {platform_busy(paced, 'direct', pids):.0%} -> "
               f"{platform_busy(paced, 'gateway', pids):.0%}; per request, ms on a core / waiting for one "
               "(direct -> gateway): " + ", ".join(
        f"{name} {paced.cpu['direct'][name] / paced.requests['direct'] * 1000:.2f}/"
        f"{paced.waited['direct'][name] / paced.requests['direct'] * 1000:.2f} -> "
        f"{paced.cpu['gateway'][name] / paced.requests['gateway'] * 1000:.2f}/"
        f"{paced.waited['gateway'][name] / paced.requests['gateway'] * 1000:.2f}" for name in pids))
    return {"loss": loss, "added": added, "gateway_cpu_ms": cpu["gateway"]["gateway"]}


async def profile_gateway(py_spy: str, op: Operation, way: Way, gateway_pid: int, out: list[str]) -> None:
    """Samples the gateway under the closed loop (not a measured segment) and prints where its CPU goes."""
    collapsed = Path(tempfile.mkstemp(prefix=f"bench-gateway-{op.name}-", suffix=".txt")[1])
    seconds = 4
    # --gil: only samples holding the interpreter lock, i.e. running Python; uvloop waits for sockets without it.
    sampler = await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(gateway_pid), "--duration", str(seconds), "--rate", "1000", "--format", "raw",
        "--gil", "--full-filenames", "--nonblocking", "--output", str(collapsed),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    await asyncio.sleep(0.5)  # attached before the load starts
    cpu_before = cpu_seconds(gateway_pid)
    throughput, _ = await closed_loop(way.caller(op), CLIENTS, seconds)
    cpu_share = (cpu_seconds(gateway_pid) - cpu_before) / seconds
    _, err = await sampler.communicate()
    if sampler.returncode != 0:
        out.append(f"    py-spy failed ({sampler.returncode}): {err.decode(errors='replace').strip()[:200]}")
        return
    out.append(f"    py-spy on the gateway ({op.name} via gateway, {seconds} s, {throughput:.0f} req/s while sampled, "
               f"gateway at {cpu_share * 100:.0f} % of a core):")
    out.extend(summarize_profile(collapsed))


_LINE = re.compile(r":\d+\)$")  # one entry per function, not per line
_FILE = re.compile(r" \(([^()]*)\)$")


def component(path: str) -> str:
    """The package a frame's file belongs to: a site-package, a module of the standard library, ours."""
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(f"{ROOT}/"):
        return path.removeprefix(f"{ROOT}/").rsplit("/", 1)[0].replace("/", ".")
    if "/lib/python3." in path:
        return path.split("/lib/python3.", 1)[1].split("/", 2)[1].removesuffix(".py")
    return path


def summarize_profile(collapsed: Path) -> list[str]:
    """py-spy's collapsed stacks: CPU by package and by function at the top of the stack, and the gateway's own
    functions with everything they call."""
    by_package: Counter[str] = Counter()
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        top = frames[-1]
        match = _FILE.search(top)
        name = component(match.group(1)) if match else top
        # Python's stack ends in Runner.run when the time is in uvloop's C: socket reads and writes, callbacks.
        by_package["uvloop (C: sockets, callbacks)" if top.startswith("Runner.run ") else name] += n
        own[_FILE.sub(lambda m: f" ({component(m.group(1))})", top)] += n
        for frame in {f for f in frames if f"({ROOT}/gateway/" in f or f"({ROOT}/services/common/" in f}:
            ours[frame.replace(f"{ROOT}/", "")] += n
    if keep := os.environ.get("BENCH_GATEWAY_PYSPY_KEEP"):
        shutil.move(collapsed, Path(keep) / f"{collapsed.stem.split('-')[2]}.txt")
    else:
        collapsed.unlink()
    if not total:
        return ["      no samples"]

    def shares(counter: Counter[str], k: int) -> str:
        return " / ".join(f"{key} {n / total * 100:.0f}%" for key, n in counter.most_common(k))

    return [f"      {total} samples holding the interpreter lock; by package: {shares(by_package, 12)}",
            f"      functions at the top of the stack: {shares(own, 10)}",
            f"      the gateway's own code, inclusive: {shares(ours, 8)}"]


def headers_for(op: Operation, tokens: dict[str, str], internal_secret: str
                ) -> tuple[Callable[[], dict[str, str]], Callable[[], dict[str, str]]]:
    """The headers of each way: the bearer token to the gateway; to the service what the gateway would add."""
    signed = SignedPrincipal(principal_of(op.account), internal_secret)
    json_type = {"Content-Type": "application/json"} if op.body is not None else {}
    through_gateway = ({"Authorization": f"Bearer {tokens[op.account]}"} if op.account else {}) | json_type

    def direct() -> dict[str, str]:
        return {PRINCIPAL_HEADER: signed.value(), "X-Forwarded-For": "127.0.0.1", **json_type}

    def gateway() -> dict[str, str]:
        return through_gateway

    return direct, gateway


async def check_equivalent(op: Operation, ways: dict[str, Way], platform: Platform) -> None:
    """Both ways answer the same; the service refuses a direct call without the gateway's principal."""
    answers = {}
    for name, way in ways.items():
        async with way.session.request(op.method, op.path, data=op.body, headers=way.headers()) as r:
            answers[name] = (r.status, await r.read())
            if r.status != op.expect:
                raise RuntimeError(f"{name} {op.method} {op.path}: {r.status} {answers[name][1][:300]!r}")
    if op.method == "GET" and orjson.loads(answers["direct"][1]) != orjson.loads(answers["gateway"][1]):
        raise RuntimeError(f"{op.name}: the gateway and the service answer differently")
    headers = {k: v for k, v in ways["direct"].headers().items() if k != PRINCIPAL_HEADER}
    async with ways["direct"].session.request(op.method, op.path, data=op.body, headers=headers) as r:
        if r.status != 401:
            raise RuntimeError(f"{op.name}: {platform.url(op.backend)} answered {r.status} without a principal")


async def setup(platform: Platform, tokens: dict[str, str], out: list[str]) -> str:
    """The demo catalogue, one benchmark item (published) and a queue of open review tasks; the item's code."""
    await asyncio.to_thread(platform.load_demo_catalogue, tokens["catalogue-admin"])
    admin = {"Authorization": f"Bearer {tokens['catalogue-admin']}"}
    clerk = {"Authorization": f"Bearer {tokens['county-clerk']}"}
    approver = {"Authorization": f"Bearer {tokens['approver']}"}
    code = f"BENCHGW{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession(platform.url()) as http:
        steps = [("/api/v1/catalogue/items", {"item_code": code, **ITEM}, 201),
                 (f"/api/v1/catalogue/items/{code}/publish", {}, 200)]
        for path, body, expect in steps:
            async with http.post(path, json=body, headers=admin) as r:
                if r.status != expect:
                    raise RuntimeError(f"{path}: {r.status} {await r.text()}")
        body = {"item_code": code, "region_code": COUNTY, "applicant": APPLICANT,
                "materials": [{"code": "M01", "originals": 1}]}
        deadline = time.monotonic() + 60
        submitted = 0
        while submitted < SEEDED_CASES:
            async with http.post("/api/v1/applications", json=body, headers=clerk) as r:
                if r.status == 201:
                    submitted += 1
                elif time.monotonic() > deadline or submitted:  # before the first: acceptance's replica lags
                    raise RuntimeError(f"seeding: {r.status} {await r.text()}")
                else:
                    await asyncio.sleep(0.2)
        while True:
            async with http.get("/api/v1/approval/tasks", params={"status": "open", "limit": "500"},
                                headers=approver) as r:
                if len((await r.json())["items"]) >= SEEDED_CASES:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("seeding: approval did not open the review tasks within 60 s")
            await asyncio.sleep(0.2)
    out.append(f"setup: demo catalogue, item {code} published, {SEEDED_CASES} applications submitted and their "
               "review tasks open")
    return code


async def run(out: list[str]) -> None:
    data = Path(tempfile.mkdtemp(prefix="zwfw-bench-gateway-"))
    internal_secret = secrets.token_hex(32)
    platform = Platform.on_free_ports(data, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
                                      extra_env={"ZWFW_INTERNAL_SECRET": internal_secret})
    py_spy = os.environ.get("BENCH_GATEWAY_PYSPY")
    if py_spy and not shutil.which(py_spy):
        raise SystemExit(f"BENCH_GATEWAY_PYSPY={py_spy}: not found")
    try:
        # Inside the try: a process that fails to start must not leave the others running.
        await asyncio.to_thread(platform.start, os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
        tokens = acquire_tokens(platform)
        code = await setup(platform, tokens, out)
        submission = orjson.dumps({"item_code": code, "region_code": COUNTY, "applicant": APPLICANT,
                                   "materials": [{"code": "M01", "originals": 1}]})
        operations = [
            Operation("catalogue", "GET", f"/api/v1/catalogue/items?region_code={COUNTY}", "disclosure", None, 200),
            Operation("tasks", "GET", "/api/v1/approval/tasks?status=open&limit=20", "approval", "approver", 200),
            Operation("submit", "POST", "/api/v1/applications", "acceptance", "county-clerk", 201, submission),
        ]
        if OPERATIONS:
            unknown = OPERATIONS - {op.name for op in operations}
            if unknown:
                raise SystemExit(f"BENCH_GATEWAY_OPERATIONS: no operation {', '.join(sorted(unknown))}")
            operations = [op for op in operations if op.name in OPERATIONS]
        pids = process_pids(platform)
        results: dict[str, dict[str, Any]] = {}
        for op in operations:
            direct_headers, gateway_headers = headers_for(op, tokens, internal_secret)
            # Several hundred connections open in the paced runs when a segment falls behind. Idle ones are dropped
            # after 4 s, before uvicorn closes its side (5 s): `settle` waits longer than that between segments, and
            # a POST on a connection the server is closing fails ("Cannot write to closing transport"), as the
            # gateway's own pool did (GATEWAY_BACKEND_KEEPALIVE_SECONDS).
            connector = {way: aiohttp.TCPConnector(limit=0, keepalive_timeout=4) for way in ("direct", "gateway")}
            async with (aiohttp.ClientSession(platform.url(op.backend), connector=connector["direct"]) as direct,
                        aiohttp.ClientSession(platform.url(), connector=connector["gateway"]) as gateway):
                ways = {"direct": Way("direct", direct, direct_headers),
                        "gateway": Way("gateway", gateway, gateway_headers)}
                await check_equivalent(op, ways, platform)
                async with direct.request(op.method, op.path, data=op.body, headers=ways["direct"].headers()) as r:
                    size = len(await r.read())
                who = "public, no token" if op.account is None else f"as {op.account}"
                out.append(f"[{op.name}] {op.method} {op.path} ({who}; {op.backend}; answer {size:,} bytes)")
                results[op.name] = await measure(op, ways, pids, out)
                if py_spy:
                    await settle(pids)
                    await profile_gateway(py_spy, op, ways["gateway"], pids["gateway"], out)
                if op.name == "submit":
                    # Each submission wakes approval's, monitoring's and disclosure's consumers and the broker (~5 ms
                    # of CPU), which compete with the gateway for the cores: with them stopped, one client sees the
                    # hops with less of that. Last, as they do not come back.
                    await settle(pids)
                    for name in ("approval", "disclosure", "monitoring"):
                        await asyncio.to_thread(platform.kill, name, signal.SIGTERM)
                    calls = {name: way.caller(op) for name, way in ways.items()}
                    alone = print_one_client(await one_client(calls), out,
                                             " (approval, disclosure, monitoring stopped)")
                    results[op.name]["added"]["alone"] = alone
        out.append("summary: " + "; ".join(
            f"{name} loss {r['loss']:.0f} %, p50 added {r['added']['paced']:.2f} ms paced / "
            f"{r['added']['sequential']:.2f} ms sequential"
            + (f" ({r['added']['alone']:.2f} ms with the consumers stopped)" if "alone" in r["added"] else "")
            + f", gateway CPU {r['gateway_cpu_ms']:.2f} ms/request"
            for name, r in results.items()))
    finally:
        await asyncio.to_thread(platform.stop)
        shutil.rmtree(data, ignore_errors=True)


def main() -> list[str]:
    out: list[str] = Lines()
    out.append(machine())
    started = time.monotonic()
    asyncio.run(run(out))
    env = " ".join(f"{k}={os.environ[k]}" for k in ("BENCH_GATEWAY_CLIENTS", "BENCH_GATEWAY_SECONDS",
                                                    "BENCH_GATEWAY_RATES", "BENCH_GATEWAY_OPERATIONS",
                                                    "BENCH_GATEWAY_PYSPY", "OTEL_TRACES_SAMPLER",
                                                    "OTEL_TRACES_EXPORTER") if k in os.environ)
    out.append(f"whole benchmark: {time.monotonic() - started:.0f} s; command: "
               f"{env + ' ' if env else ''}.venv/bin/python -m tools.bench_gateway")
    return out


if __name__ == "__main__":
    for text in main():
        print(text, flush=True)
    sys.exit(0)
