"""Monitoring figures of issue 3 against real processes: a Kafka broker and the monitoring service alone.

Run: `.venv/bin/python -m tools.bench_monitoring` (about 6-8 minutes at the default scale).

What runs: `tools.platform.Platform` starts its own Kafka broker on free ports, migrates the databases
and starts *only* the monitoring service as a uvicorn process (one worker, SQLite in a temporary
directory). This process produces events straight to the case topic with aiokafka, the way acceptance's
and approval's relays would, and reads the supervision topic from its beginning for the whole run.

Figures, in the order they run:

1. Ingest: lifecycle events (CaseAccepted, StepStarted, StepCompleted, CaseCompleted of N/4 cases, in
   rounds: every case's acceptance, then every case's step start, …) are produced *before* the service
   starts; the window is from the service being ready (its consumer is started by then) until the
   committed offsets of its group `<prefix>monitoring.case` reach the end of the topic. The resident memory
   of the child process is sampled meanwhile (psutil).
2. Burst (before the lateness figure, so the lateness figure has all these clocks open around it):
   K clocks far from any level and B clocks whose promised limit (minutes) runs out at the same instant
   are produced as CaseAccepted events; the burst instant is set from the ingest rate measured in (1)
   so that every clock is stored and armed before it. Measured: from the instant until the last of the B
   AlertRaised(breach) records is on the topic. The burst clocks are of item type "99", for which the
   process is configured (MONITORING_WARNING_RULES) with no warning threshold, so that the burst is the
   breach alone — as with a working-day deadline, whose warning falls a working day earlier.
3. Lateness: with the K + B clocks still open, 200 more clocks with a promised limit of 1 minute and a
   legal limit of 2 minutes, their starts spread over 20 s; lateness = the AlertRaised record's
   timestamp on the topic (CreateTime, stamped by the service's relay producer at send) − its due_at,
   for the warning and breach levels.
4. Restart: after the breaches of (3) and before their severe levels, SIGKILL, start again; time until
   ready and until the log says "armed N timers of open clocks"; then over a window past the last severe
   instant, every (clock, level) expected on the topic is counted: each must be there exactly once.

Then the same lifecycle ingest in this process without the broker: monitoring's own EventConsumer decoding
Kafka records and applying them in batches, as the service wires it; its rate with Python's default
garbage-collector settings and with the service's, then a cProfile of it.

Sizes: BENCH_MONITORING_SCALE (default 1) multiplies N = 8,000 ingest events, K = 20,000 far clocks and
B = 20,000 burst clocks. 100,000 clocks (the issue's figure) is BENCH_MONITORING_SCALE=5 and, at the
ingest rate measured here, takes far longer than a benchmark run should; nothing is extrapolated.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import json
import math
import os
import platform as host
import pstats
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.contracts import Envelope, Topic, parse_payload
from services.common.contracts.case import CaseAccepted, CaseCompleted, Channel, StepCompleted, StepStarted
from services.common.contracts.payloads import Actor, Applicant, EventPayload, LimitUnit, TimeLimit
from services.common.contracts.supervision import AlertRaised
from services.common.contracts.topics import PARTITIONS
from tools.platform import ROOT, Platform

SCALE = float(os.environ.get("BENCH_MONITORING_SCALE", "1"))
N_INGEST = max(4, int(8_000 * SCALE) // 4 * 4)
N_FAR = int(20_000 * SCALE)
N_BURST = int(20_000 * SCALE)
N_LATE = 200
N_PROFILE = int(os.environ.get("BENCH_MONITORING_PROFILE_EVENTS", "24000")) // 4 * 4
REGION = "320102000000"
BURST_ITEM_TYPE = "99"
INGEST_TIMEOUT_S = 600.0
ARMED_LINE = re.compile(rb"armed (\d+) timers of open clocks")


# ---- events ----------------------------------------------------------------------------------------------

def _accepted(case_no: str, at: datetime, promised: TimeLimit, legal: TimeLimit, item_type: str = "01") -> CaseAccepted:
    return CaseAccepted(
        occurred_at=at, case_no=case_no, item_code="11320102MB0000000X4320117001000", item_version=1,
        item_name="基准测试事项", item_type=item_type, department="区行政审批局", region_code=REGION,
        channel=Channel.window,
        applicant=Applicant(applicant_type="1", name="张三", id_type="resident_id", id_number="11010519491231002X"),
        legal_limit=legal, promised_limit=promised, received_at=at, promised_due_date=at.date().isoformat(),
        clerk=Actor(user_id="clerk01", name="王晓梅"), receipt_no=f"SL{case_no}",
    )


def lifecycle(case_no: str, start: datetime) -> list[EventPayload]:
    """A case accepted, reviewed and completed within the hour before `start` + 1 h: no anomaly rule fires
    (not back-filled, not in the future, not implausibly fast) and no level is reached."""
    days = TimeLimit(value=5, unit=LimitUnit.working_days)
    task = f"task-{case_no}"
    return [
        _accepted(case_no, start, days, TimeLimit(value=20, unit=LimitUnit.working_days)),
        StepStarted(occurred_at=start + timedelta(minutes=5), case_no=case_no, step_code="review", step_name="审查",
                    task_id=task, role="approver"),
        StepCompleted(occurred_at=start + timedelta(minutes=25), case_no=case_no, step_code="review",
                      step_name="审查", task_id=task, actor=Actor(user_id="appr01", name="陈志强"), opinion="同意"),
        CaseCompleted(occurred_at=start + timedelta(minutes=30), case_no=case_no,
                      item_code="11320102MB0000000X4320117001000", item_name="基准测试事项", region_code=REGION,
                      result="approve"),
    ]


def minutes(value: int) -> TimeLimit:
    return TimeLimit(value=value, unit=LimitUnit.minutes)


# ---- Kafka helpers ---------------------------------------------------------------------------------------

async def produce(bootstrap: str, topic: str, events: list[EventPayload]) -> dict[int, int]:
    """Sends every event (keyed by case number); returns the end offset per partition it wrote to."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20,
                                max_batch_size=256 * 1024)
    await producer.start()
    ends: dict[int, int] = {}
    try:
        futures = []
        for event in events:
            key, value, headers = Envelope.wrap(event, source="/bench").to_kafka()
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
            if len(futures) >= 5000:
                for meta in await asyncio.gather(*futures):
                    ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
                futures = []
        for meta in await asyncio.gather(*futures):
            ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return ends


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS[Topic.case])]
        return {tp.partition: off for tp, off in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


@dataclass
class IngestRun:
    events: int
    seconds: float  # from `started` until committed offsets reached the end
    first_progress_s: float | None  # from `started` until the first committed offset moved
    first_committed: int  # events already committed when that first move was seen
    peak_rss_mb: float
    end_rss_mb: float


async def wait_committed(admin: AIOKafkaAdminClient, group: str, topic: str, ends: dict[int, int], events: int,
                         started: float, pid: int, baseline: dict[int, int] | None = None) -> IngestRun:
    """Polls the group's committed offsets until they reach `ends`, sampling the child's resident memory."""
    proc = psutil.Process(pid)
    peak = 0.0
    first: float | None = None
    first_committed = 0
    baseline = baseline or {}
    deadline = started + INGEST_TIMEOUT_S
    while True:
        rss = proc.memory_info().rss / 2**20
        peak = max(peak, rss)
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        except KafkaError:  # the group (and the offsets topic) may not exist yet before the first join
            offsets = {}
        committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
        if first is None and any(committed.get(p, -1) > baseline.get(p, 0) for p in ends):
            first = time.monotonic() - started
            first_committed = sum(max(committed.get(p, 0) - baseline.get(p, 0), 0) for p in ends)
        if all(committed.get(p, -1) >= end for p, end in ends.items()):
            elapsed = time.monotonic() - started
            return IngestRun(events, elapsed, first, first_committed, peak, proc.memory_info().rss / 2**20)
        if time.monotonic() > deadline:
            done = sum(max(committed.get(p, 0) - baseline.get(p, 0), 0) for p in ends)
            raise RuntimeError(f"ingest not finished after {INGEST_TIMEOUT_S:.0f}s: {done} of {events} committed")
        await asyncio.sleep(0.2)


@dataclass
class Alert:
    clock_id: str
    subject_no: str
    level: str
    rule: str
    alert_no: str
    event_id: str
    due_ms: int
    topic_ms: int  # record timestamp
    received_ms: int  # when this process read it


@dataclass
class SupervisionReader:
    """Reads the supervision topic from its beginning for the whole run and keeps every AlertRaised."""

    bootstrap: str
    topic: str
    alerts: list[Alert] = field(default_factory=list)
    other: Counter[str] = field(default_factory=Counter)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        partitions = [TopicPartition(self.topic, p) for p in range(PARTITIONS[Topic.supervision])]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                now = time.time_ns() // 1_000_000
                for records in batch.values():
                    for record in records:
                        envelope = Envelope.from_kafka(record.key, record.value, list(record.headers or ()))
                        if envelope.type != AlertRaised.event_type:
                            self.other[envelope.type] += 1
                            continue
                        p = parse_payload(envelope)
                        assert isinstance(p, AlertRaised)
                        self.alerts.append(Alert(p.clock_id, p.subject_no, p.level.value, p.rule, p.alert_no,
                                                 envelope.id, int(p.due_at.timestamp() * 1000), record.timestamp,
                                                 now))
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def of(self, prefix: str, level: str | None = None) -> list[Alert]:
        return [a for a in self.alerts if a.subject_no.startswith(prefix) and (level is None or a.level == level)]

    async def wait_for(self, prefix: str, level: str, count: int, timeout_s: float) -> list[Alert]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.of(prefix, level)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        return self.of(prefix, level)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def armed_lines(log_path: Path) -> list[int]:
    try:
        return [int(m.group(1)) for m in ARMED_LINE.finditer(log_path.read_bytes())]
    except FileNotFoundError:
        return []


async def sleep_until(wall_ms: float) -> None:
    delay = wall_ms / 1000 - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


# ---- the run against real processes -----------------------------------------------------------------------

async def run_platform(out: list[str]) -> None:
    data = Path(tempfile.mkdtemp(prefix="zwfw-bench-monitoring-"))
    prefix = f"benchmon{uuid.uuid4().hex[:6]}."
    # No warning threshold for the burst clocks' item type: the burst is their breach alone.
    rules = [{"item_type": BURST_ITEM_TYPE, "region_prefix": "", "working_days": 0, "share": 0}]
    platform = Platform.on_free_ports(data, topic_prefix=prefix,
                                      extra_env={"MONITORING_WARNING_RULES": json.dumps(rules)})
    case_topic = Topic.case.name_with(prefix)
    group = f"{prefix}monitoring.case"
    log_path = data / "monitoring.log"
    out.append(f"machine: {host.machine()}, {os.cpu_count()} cores, "
               f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {host.python_version()}; "
               f"scale {SCALE:g} (BENCH_MONITORING_SCALE); data in {data}")
    t_boot = time.monotonic()
    try:
        await asyncio.to_thread(platform.start_kafka, os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
        await asyncio.to_thread(platform.migrate)
    except BaseException:
        await asyncio.to_thread(platform.stop)
        raise
    bootstrap = platform.bootstrap_servers
    out.append(f"Kafka up and databases migrated in {time.monotonic() - t_boot:.1f} s")
    reader = SupervisionReader(bootstrap, Topic.supervision.name_with(prefix))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        await reader.start()
        # ---- 1. ingest -------------------------------------------------------------------------------------
        base = datetime.now(UTC) - timedelta(minutes=50)
        # In rounds, as cases progress in real life: every case's acceptance, then every first step, and so on,
        # so that most events find their case's earlier events logged by an earlier batch.
        cases = [lifecycle(f"320102I{i:08d}", base + timedelta(milliseconds=i)) for i in range(N_INGEST // 4)]
        events: list[EventPayload] = [case[k] for k in range(4) for case in cases]
        t0 = time.monotonic()
        ends = await produce(bootstrap, case_topic, events)
        produce_s = time.monotonic() - t0
        # Launched in a thread so that the committed offsets are watched from the launch on: the consumer
        # starts before /readyz answers, and a small ingest is over by then.
        t_launch = time.monotonic()
        launch = asyncio.create_task(asyncio.to_thread(platform.start_process, "monitoring"))
        while "monitoring" not in platform.processes:  # noqa: ASYNC110 - set by another thread
            await asyncio.sleep(0.01)
        pid = platform.processes["monitoring"].pid
        run = await wait_committed(admin, group, case_topic, ends, len(events), t_launch, pid)
        await launch
        assert run.first_progress_s is not None
        window = run.seconds - run.first_progress_s
        rate = (run.events - run.first_committed) / window if window > 0 else float("nan")
        out.append(f"[1] ingest, {run.events:,} lifecycle events of {run.events // 4:,} cases pre-produced "
                   f"({produce_s:.1f} s to produce), one monitoring process: {rate:,.0f} events/s "
                   f"({run.events - run.first_committed:,} events in {window:.1f} s, from the group's first "
                   f"committed batch ({run.first_committed} events, {run.first_progress_s:.1f} s after launch) "
                   f"until its committed offsets reached the end; {run.events / run.seconds:,.0f} events/s "
                   f"counting from the process launch). Target 20,000 events/s: "
                   f"{'met' if rate >= 20_000 else f'NOT met ({rate / 20_000:.1%} of it)'}")
        out.append(f"    resident memory of the monitoring process: peak {run.peak_rss_mb:.0f} MB during ingest, "
                   f"{run.end_rss_mb:.0f} MB after")

        # ---- 2. burst (and the open clocks around the lateness figure) ---------------------------------------
        t_p = datetime.now(UTC)
        # CaseAccepted alone is slower to ingest than the lifecycle mix of [1] (a new subject and clock each).
        planned_ingest_s = (N_FAR + N_BURST) / rate * 2.0 + 15
        burst_ms = int((t_p.timestamp() + planned_ingest_s) * 1000)
        burst_limit = math.ceil(planned_ingest_s / 60) + 1  # minutes: the accepted instant lies before t_p
        burst_start = datetime.fromtimestamp(burst_ms / 1000, UTC) - timedelta(minutes=burst_limit)
        far, burst = [], []
        for i in range(N_FAR):  # distinct instants, 14-28 days away
            far.append(_accepted(f"320102K{i:08d}", t_p - timedelta(milliseconds=i), minutes(20_000),
                                 minutes(40_000)))
        for i in range(N_BURST):  # one instant for all: accepted together, same promised limit
            burst.append(_accepted(f"320102U{i:08d}", burst_start, minutes(burst_limit), minutes(40_000),
                                   item_type=BURST_ITEM_TYPE))
        mixed = [e for pair in zip(far, burst, strict=False) for e in pair] + far[len(burst):] + burst[len(far):]
        before = await end_offsets(bootstrap, case_topic)
        t0 = time.monotonic()
        ends = await produce(bootstrap, case_topic, mixed)
        produce_s = time.monotonic() - t0
        ends = {p: max(ends.get(p, 0), before.get(p, 0)) for p in set(ends) | set(before)}
        run2 = await wait_committed(admin, group, case_topic, ends, len(mixed), t0, pid, before)
        ingested_at_ms = time.time() * 1000
        out.append(f"[2] open clocks: {N_FAR:,} far from any level + {N_BURST:,} with the same breach instant, "
                   f"as {len(mixed):,} CaseAccepted events: produced in {produce_s:.1f} s, stored and armed "
                   f"{run2.seconds:.1f} s after the first send ({len(mixed) / run2.seconds:,.0f} events/s); "
                   f"peak resident {run2.peak_rss_mb:.0f} MB")
        if ingested_at_ms > burst_ms:
            out.append(f"    WARNING: ingest finished {(ingested_at_ms - burst_ms) / 1000:.1f} s after the burst "
                       f"instant: the burst figure below is not a burst of armed timers")
        else:
            out.append(f"    burst instant {(burst_ms - ingested_at_ms) / 1000:.1f} s after the last clock was "
                       f"stored (promised limit {burst_limit} minutes from one accepted instant)")
        await sleep_until(burst_ms)
        got = await reader.wait_for("320102U", "breach", N_BURST, timeout_s=120 + N_BURST / 200)
        if got:
            last = max(a.topic_ms for a in got)
            first = min(a.topic_ms for a in got)
            dues = {a.due_ms for a in got}
            lateness = [a.topic_ms - a.due_ms for a in got]
            verdict = "met" if len(got) == N_BURST and last - burst_ms <= 10_000 else "NOT met"
            out.append(f"[3] burst: {len(got):,} of {N_BURST:,} AlertRaised(breach) due at the same instant "
                       f"({len(dues)} distinct due_at) on the topic; first {first - burst_ms} ms, last "
                       f"{(last - burst_ms) / 1000:.2f} s after the instant "
                       f"({len(got) / max(last - burst_ms, 1) * 1000:,.0f} alerts/s); "
                       f"lateness p50 {statistics.median(lateness) / 1000:.2f} s. "
                       f"Target all within 10 s: {verdict}")
        else:
            out.append(f"[3] burst: NO AlertRaised(breach) of the {N_BURST:,} burst clocks within the wait")
        burst_unrelated = len(reader.of("320102U")) - len(got)
        if burst_unrelated:
            out.append(f"    {burst_unrelated} other alerts on the burst clocks (expected none)")

        # ---- 3. lateness with the open clocks around ---------------------------------------------------------
        open_now = N_FAR + N_BURST
        t2 = datetime.now(UTC) + timedelta(seconds=2)
        late_events = [_accepted(f"320102L{i:08d}", t2 + timedelta(milliseconds=100 * i), minutes(1), minutes(2))
                       for i in range(N_LATE)]
        await produce(bootstrap, case_topic, late_events)
        last_breach_ms = (t2 + timedelta(milliseconds=100 * (N_LATE - 1), minutes=1)).timestamp() * 1000
        first_severe_ms = (t2 + timedelta(minutes=2)).timestamp() * 1000
        last_severe_ms = (t2 + timedelta(milliseconds=100 * (N_LATE - 1), minutes=2)).timestamp() * 1000
        await sleep_until(last_breach_ms + 3000)
        warn = reader.of("320102L", "warning")
        breach = reader.of("320102L", "breach")
        samples = [a.topic_ms - a.due_ms for a in warn + breach]
        received = [a.received_ms - a.due_ms for a in warn + breach]
        if samples:
            p50, p99 = statistics.median(samples), pct(samples, 0.99)
            ok = p50 < 50 and p99 < 1000 and len(warn) == len(breach) == N_LATE
            out.append(f"[4] lateness, due instant -> AlertRaised on the topic (record timestamp), with "
                       f"{open_now:,} other clocks open: {len(warn)} warning + {len(breach)} breach of {N_LATE} "
                       f"clocks: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(samples):.0f} ms "
                       f"(read by this process: p50 {statistics.median(received):.0f} ms, p99 "
                       f"{pct(received, 0.99):.0f} ms). Target p50 < 50 ms, p99 < 1 s: "
                       f"{'met' if ok else 'NOT met'}")
        else:
            out.append(f"[4] lateness: no warning/breach alert of the {N_LATE} clocks arrived")

        # ---- 4. restart with clocks running ----------------------------------------------------------------
        if time.time() * 1000 > first_severe_ms - 15_000:
            out.append("    WARNING: the kill comes less than 15 s before the first severe instant")
        lines_before = len(armed_lines(log_path))
        t_kill = time.monotonic()
        await asyncio.to_thread(platform.kill, "monitoring")
        t_launch = time.monotonic()
        await asyncio.to_thread(platform.start_process, "monitoring")
        ready_after = time.monotonic() - t_launch
        armed_after: float | None = None
        armed_count: int | None = None
        while time.monotonic() - t_launch < 60:
            lines = armed_lines(log_path)
            if len(lines) > lines_before:
                armed_after, armed_count = time.monotonic() - t_launch, lines[-1]
                break
            await asyncio.sleep(0.05)
        pid = platform.processes["monitoring"].pid
        rss_restart = psutil.Process(pid).memory_info().rss / 2**20
        await sleep_until(last_severe_ms + 10_000)
        severe = reader.of("320102L", "severe")
        severe_late = [a.topic_ms - a.due_ms for a in severe]
        expected: dict[tuple[str, str], int] = {}
        for i in range(N_LATE):
            for level in ("warning", "breach", "severe"):
                expected[(f"case:320102L{i:08d}:handling", level)] = 0
        for i in range(N_BURST):
            expected[(f"case:320102U{i:08d}:handling", "breach")] = 0
        raised: dict[tuple[str, str], set[str]] = defaultdict(set)
        records: Counter[tuple[str, str]] = Counter()
        for a in reader.alerts:
            raised[(a.clock_id, a.level)].add(a.alert_no)
            records[(a.clock_id, a.level)] += 1
        missing = [k for k in expected if k not in raised]
        doubled = [k for k, nos in raised.items() if len(nos) > 1]
        republished = [k for k, n in records.items() if n > len(raised[k])]
        unexpected = [k for k in raised if k not in expected]
        armed_txt = (f"timers armed ({armed_count:,}, log line) {armed_after:.2f} s after launch"
                     if armed_after is not None else "NO 'armed N timers' line within 60 s")
        out.append(f"[5] restart: SIGKILL {t_launch - t_kill:.2f} s, then ready {ready_after:.2f} s after launch, "
                   f"{armed_txt}; resident {rss_restart:.0f} MB. Target within 30 s: "
                   f"{'met' if armed_after is not None and armed_after < 30 else 'NOT met'}")
        if severe_late:
            out.append(f"    severe levels of the {N_LATE} clocks, due after the restart: {len(severe)} raised, "
                       f"lateness p50 {statistics.median(severe_late):.0f} ms, p99 {pct(severe_late, 0.99):.0f} ms")
        out.append(f"    over the whole run: {len(expected):,} (clock, level) expected, {len(missing)} missing, "
                   f"{len(doubled)} raised twice (distinct alert numbers), {len(republished)} published twice "
                   f"(same alert, relay redelivery), {len(unexpected)} unexpected; "
                   f"{sum(records.values()):,} AlertRaised records in all; other events on the topic: "
                   f"{dict(reader.other)}")
        for label, keys in (("missing", missing), ("doubled", doubled), ("unexpected", unexpected)):
            if keys:
                out.append(f"    first {label}: {keys[:3]}")
    finally:
        await reader.stop()
        await admin.close()
        await asyncio.to_thread(platform.stop)


# ---- where the ingest time goes -----------------------------------------------------------------------------

PROFILE_GROUPS: list[tuple[str, str, str]] = [
    # (label, file suffix, function name): cumulative time of these calls
    ("EventConsumer._decode: CloudEvent + payload validation", "common/messaging/consumer.py", "_decode"),
    ("EventConsumer._apply: the batch's transaction", "common/messaging/consumer.py", "_apply"),
    ("  log_event: buffer each event", "monitoring/handlers.py", "log_event"),
    ("  flush: write the log, rebuild each touched subject once", "monitoring/handlers.py", "flush"),
    ("    load_events: the subjects' earlier log + re-validate", "monitoring/handlers.py", "load_events"),
    ("    case_subject: replay of the events into clocks", "monitoring/domain/subjects.py", "case_subject"),
    ("    _clock_values: deadlines, level instants, verdict", "monitoring/handlers.py", "_clock_values"),
    ("    detect_case_anomalies", "monitoring/domain/anomalies.py", "detect_case_anomalies"),
    ("    _closed: ClockClosed for clocks that ended", "monitoring/handlers.py", "_closed"),
    ("      Outbox.emit_many (envelope, CloudEvent, INSERT)", "common/messaging/outbox.py", "emit_many"),
    ("pydantic model_validate", "pydantic/main.py", "model_validate"),
    ("SQLAlchemy Session.execute", "sqlalchemy/orm/session.py", "execute"),
    ("  statement compilation (SQLCompiler.__init__)", "sqlalchemy/sql/compiler.py", "__init__"),
    ("  sqlite3 executemany/execute (the database itself)", "sqlalchemy/engine/default.py", "do_executemany"),
    ("garbage collection is not in cProfile: see the unprofiled rates with and without", "", "-"),
]


def profile_ingest(out: list[str]) -> None:
    """The service's own consumer path in this process, without the broker: Kafka records (bytes, headers)
    decoded and applied in batches by monitoring's EventConsumer, wired as the service wires it."""
    from aiokafka.structs import ConsumerRecord

    from services.common.db import make_engine, make_read_session_factory, make_session_factory, upgrade_database
    from services.common.messaging import EventConsumer
    from services.common.messaging.outbox import Outbox
    from services.common.runtime import Runtime, ServiceSpec, tune_garbage_collector
    from services.common.settings import PlatformSettings
    from services.common.workdays import WorkingDayCalendar
    from services.monitoring.adapters.tables import messaging
    from services.monitoring.consumers import CONSUMERS

    def build(gc_tuned: bool) -> tuple[EventConsumer, Any]:
        """A fresh database and consumer, wired as the service wires them."""
        data = Path(tempfile.mkdtemp(prefix="zwfw-bench-monitoring-profile-"))
        url = f"sqlite:///{data / 'monitoring.db'}"
        migrations = ROOT / "services" / "monitoring" / "migrations"
        upgrade_database(url, migrations)
        engine = make_engine(url)
        settings = PlatformSettings(zwfw_topic_prefix="bench.", zwfw_gc_gen0_threshold=50_000 if gc_tuned else 0)
        spec = ServiceSpec(name="monitoring", title="bench", description="bench", database_url=url,
                           migrations_dir=migrations, tables=messaging, routers=[], consumers=CONSUMERS,
                           settings=settings)
        runtime = Runtime(spec=spec, settings=settings, engine=engine, session_factory=make_session_factory(engine),
                          read_session=make_read_session_factory(engine),
                          outbox=Outbox(messaging, "/zwfw/monitoring", "bench."), calendar=WorkingDayCalendar())
        consumer_spec = CONSUMERS[0]

        async def create() -> EventConsumer:  # aiokafka wants a running loop; nothing connects
            return EventConsumer("bench.monitoring.case", ["bench.zwfw.case"], consumer_spec.handlers(runtime),
                                 runtime.session_factory, messaging, "127.0.0.1:1", producer=None,  # type: ignore[arg-type]
                                 max_records=consumer_spec.max_records, batch_mode=consumer_spec.batch_mode)

        return asyncio.run(create()), engine

    base = datetime.now(UTC) - timedelta(minutes=50)
    cases = [lifecycle(f"320102P{i:08d}", base + timedelta(milliseconds=i)) for i in range(N_PROFILE // 4)]
    records: list[Any] = []
    for event in (case[k] for k in range(4) for case in cases):  # in rounds, as [1]
        key, value, headers = Envelope.wrap(event, source="/bench").to_kafka()
        records.append(ConsumerRecord("bench.zwfw.case", len(records) % 12, len(records), 0, 0, key, value, None,
                                      len(key), len(value), headers))

    def ingest(consumer: EventConsumer) -> float:
        started = time.perf_counter()
        for j in range(0, len(records), consumer.max_records):
            consumer._apply([consumer._decode(r) for r in records[j:j + consumer.max_records]])
        return time.perf_counter() - started

    n = len(records)
    gc_default = gc.get_threshold()

    def measured(gc_tuned: bool, profiler: cProfile.Profile | None = None) -> float:
        consumer, engine = build(gc_tuned)
        if gc_tuned:
            tune_garbage_collector(PlatformSettings())  # as the service does once started
        else:
            gc.set_threshold(700, gc_default[1], gc_default[2])  # Python's default, whatever was set before
        if profiler is not None:
            profiler.enable()
        try:
            return ingest(consumer)
        finally:
            if profiler is not None:
                profiler.disable()
            engine.dispose()
            asyncio.run(consumer.stop())  # never started: only closes its client

    default_gc_s = measured(gc_tuned=False)
    tuned_s = measured(gc_tuned=True)
    profiler = cProfile.Profile()
    profiled_s = measured(gc_tuned=True, profiler=profiler)
    batch = CONSUMERS[0].max_records
    out.append(f"[6] profile: monitoring's consumer path (decode + batch apply, {batch} per batch) in "
               f"this process, no broker, {n:,} lifecycle events in rounds, each run on a fresh SQLite file: "
               f"{n / default_gc_s:,.0f} events/s with Python's default collector, {n / tuned_s:,.0f} events/s as "
               f"the service tunes it ({tuned_s / n * 1e6:,.0f} us/event); under cProfile "
               f"{profiled_s / n * 1e6:,.0f} us/event. Cumulative time per event:")
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    for label, suffix, name in PROFILE_GROUPS:
        calls = 0
        cum = 0.0
        for (filename, _line, func), (_cc, nc, _tt, ct, callers) in raw.items():
            if func == name and filename.endswith(suffix):
                # Only outermost calls, so recursion or a function calling itself is not counted twice.
                if any(c[0] == filename and c[2] == name for c in callers):
                    continue
                calls += nc
                cum += ct
        if calls:
            out.append(f"    {label:<62} {cum / total:>6.1%}  {cum / n * 1e6:>7,.0f} us/event  "
                       f"{calls / n:>5.1f} calls/event")
    executes = sum(nc for (f, _l, fn), (_cc, nc, *_rest) in raw.items()
                   if fn == "_execute_clauseelement" and f.endswith("sqlalchemy/engine/base.py"))
    out.append(f"    SQL statements: {executes / n:.2f} per event")
    out.append("    top functions by own time:")
    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    for (filename, line, func), (_cc, nc, tt, _ct, _callers) in top:
        short = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        out.append(f"      {tt / total:>6.1%}  {nc / n:>7.1f} calls/event  {short}:{line} {func}")


class Lines(list[str]):
    """The printable lines, echoed to stderr as they come (the run takes minutes)."""

    def append(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        super().append(line)


def main() -> list[str]:
    out: list[str] = Lines()
    started = time.monotonic()
    asyncio.run(run_platform(out))
    profile_ingest(out)
    env = f"BENCH_MONITORING_SCALE={SCALE:g} " if SCALE != 1 else ""
    out.append(f"whole benchmark: {time.monotonic() - started:.0f} s; command: "
               f"{env}.venv/bin/python -m tools.bench_monitoring")
    return out


if __name__ == "__main__":
    for text in main():
        print(text, flush=True)
