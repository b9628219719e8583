"""The audit log through the gateway: an entry per write, committed before the answer leaves, none for reads; the
chain verified by the endpoint and the command, tampering found at its first broken seq; one chain under
concurrent writers, several processes included; no answer when its entry cannot be written."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from fastapi.testclient import TestClient

from gateway.audit.store import AuditWriter
from services.common.db import make_engine
from services.common.principal import Principal, PrincipalKind, Role
from tests.integration.gateway.backends import http_backend
from tests.integration.gateway.conftest import BearerFor, without_authorization

ROOT = Path(__file__).resolve().parents[3]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _token(role: Role, subject: str, region: str = "320102000000",
           kind: PrincipalKind = PrincipalKind.staff) -> BearerFor:
    return BearerFor(Principal(kind=kind, subject=subject, role=role, region_code=region))


CLERK = _token(Role.window_clerk, "u-clerk")
OTHER_COUNTY_CLERK = _token(Role.window_clerk, "u-far", region="320205000000")
OPERATIONS = _token(Role.operations, "u-ops", region="")
SUPERVISOR = _token(Role.supervisor, "u-super")


@pytest.fixture
def backend() -> Iterator[list[str]]:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.json_response({"ok": True}, status=201 if request.method == "POST" else 200)

    with http_backend(handle) as url:
        os.environ["_AUDIT_TEST_BACKEND"] = url
        yield seen


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, backend: list[str]) -> Iterator[TestClient]:
    url = os.environ.pop("_AUDIT_TEST_BACKEND")
    for service in ("ACCEPTANCE", "APPROVAL", "DISCLOSURE", "MONITORING"):
        monkeypatch.setenv(f"GATEWAY_{service}_URL", url)
    from gateway.main import create_app

    # Without the role and region check: these tests write to paths no service serves (the backend is a stub).
    app = without_authorization(create_app())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _db_path(url: str) -> str:
    return url.split("///", 1)[1]


def _rows(url: str) -> list[dict[str, Any]]:
    with sqlite3.connect(_db_path(url)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM audit_log ORDER BY seq")]


def _sql(url: str, *statements: str) -> None:
    with sqlite3.connect(_db_path(url)) as db:
        for statement in statements:
            db.execute(statement)


def _cli(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.audit", "verify", "--database-url", url], cwd=ROOT,
                          env=os.environ | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)


def test_every_write_is_recorded_before_its_answer_and_reads_are_not(
    gateway: TestClient, gateway_database: str,
) -> None:
    before = datetime.now(UTC)
    resp = gateway.post("/api/v1/applications?token=secret-in-query", json={"a": 1},
                        headers=CLERK | {"X-Request-Id": "rid-audit-1", "traceparent": TRACEPARENT})
    assert resp.status_code == 201
    (entry,) = _rows(gateway_database)  # committed when the answer arrived
    assert {k: v for k, v in entry.items() if k not in ("at", "prev_hash", "entry_hash")} == {
        "seq": 1, "subject": "u-clerk", "kind": "staff", "role": "window_clerk", "region_code": "320102000000",
        "method": "POST", "path": "/api/v1/applications", "status": 201, "request_id": "rid-audit-1",
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "client_address": "testclient",
    }
    at = datetime.fromisoformat(entry["at"]).replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC)
    assert entry["prev_hash"] == "0" * 64 and len(entry["entry_hash"]) == 64

    assert gateway.get("/api/v1/applications", headers=CLERK).status_code == 200
    assert gateway.get("/api/v1/catalogue/items").status_code == 200
    assert len(_rows(gateway_database)) == 1  # reads are not recorded

    for method in ("PUT", "PATCH", "DELETE"):
        assert gateway.request(method, "/api/v1/applications/A1", headers=CLERK, content=b"{}").status_code == 200
    assert gateway.post("/api/v1/information-requests", json={}).status_code == 201  # public, anonymous
    assert gateway.post("/api/v1/applications", json={}).status_code == 401  # nobody identified
    # The identity endpoint names the client it was asked for, though it is unknown (a failed client login).
    assert gateway.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "county-system-7",
                                              "client_secret": "wrong"}).status_code == 401
    rows = _rows(gateway_database)
    assert [(r["seq"], r["method"], r["subject"], r["kind"], r["role"], r["status"]) for r in rows[1:]] == [
        (2, "PUT", "u-clerk", "staff", "window_clerk", 200),
        (3, "PATCH", "u-clerk", "staff", "window_clerk", 200),
        (4, "DELETE", "u-clerk", "staff", "window_clerk", 200),
        (5, "POST", "anonymous", "public", "public", 201),
        (6, "POST", "anonymous", "public", "public", 401),
        (7, "POST", "county-system-7", "machine", "", 401),
    ]
    assert all(r["request_id"] and r["trace_id"] for r in rows)


def test_the_endpoints_are_for_operations_and_supervisors(gateway: TestClient) -> None:
    gateway.post("/api/v1/applications", json={}, headers=CLERK)
    ok = gateway.get("/api/v1/audit/verify", headers=OPERATIONS)
    assert ok.status_code == 200 and ok.json()["ok"] is True and ok.json()["entries"] == 1
    assert gateway.get("/api/v1/audit/verify", headers=SUPERVISOR).status_code == 200
    assert gateway.get("/api/v1/audit/verify", headers=CLERK).status_code == 403
    assert gateway.get("/api/v1/audit/entries", headers=CLERK).status_code == 403
    unauthenticated = gateway.get("/api/v1/audit/verify")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == "application/problem+json"
    assert gateway.get("/api/v1/audit/verify", headers={"Authorization": "Bearer x"}).status_code == 401


def test_entries_are_paged_and_a_supervisor_sees_its_region(gateway: TestClient) -> None:
    for headers in (CLERK, OTHER_COUNTY_CLERK, CLERK, OTHER_COUNTY_CLERK, CLERK):
        assert gateway.post("/api/v1/applications", json={}, headers=headers).status_code == 201
    first = gateway.get("/api/v1/audit/entries", params={"limit": 2}, headers=OPERATIONS).json()
    assert [e["seq"] for e in first["entries"]] == [1, 2] and first["next_after_seq"] == 2
    rest = gateway.get("/api/v1/audit/entries", params={"after_seq": 2, "limit": 5}, headers=OPERATIONS).json()
    assert [e["seq"] for e in rest["entries"]] == [3, 4, 5] and rest["next_after_seq"] is None
    assert rest["entries"][0]["subject"] == "u-clerk" and rest["entries"][0]["entry_hash"]

    mine = gateway.get("/api/v1/audit/entries", headers=SUPERVISOR).json()["entries"]  # county 320102
    assert [e["seq"] for e in mine] == [1, 3, 5]
    far = gateway.get("/api/v1/audit/entries", params={"subject": "u-far"}, headers=OPERATIONS).json()["entries"]
    assert [e["seq"] for e in far] == [2, 4]
    bad = gateway.get("/api/v1/audit/entries", params={"limit": 0}, headers=OPERATIONS)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("tamper", "broken_seq", "reason"), [
    (["UPDATE audit_log SET status = 200 WHERE seq = 3"], 3, "content"),
    (["DELETE FROM audit_log WHERE seq = 2"], 3, "entry 2 is missing"),
    # Reordered: entries 2 and 4 trade places (their seq numbers swapped through a free one).
    (["UPDATE audit_log SET seq = 100 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 4",
      "UPDATE audit_log SET seq = 4 WHERE seq = 100"], 2, "prev_hash"),
])
def test_tampering_is_found_at_the_first_broken_seq(
    gateway: TestClient, gateway_database: str, tamper: list[str], broken_seq: int, reason: str,
) -> None:
    for _ in range(5):
        gateway.post("/api/v1/applications", json={}, headers=CLERK)
    intact = _cli(gateway_database)
    assert intact.returncode == 0 and "ok: 5 entries" in intact.stdout, intact.stderr

    _sql(gateway_database, *tamper)
    verdict = gateway.get("/api/v1/audit/verify", headers=OPERATIONS).json()
    assert verdict["ok"] is False and verdict["broken"]["seq"] == broken_seq
    assert reason in verdict["broken"]["reason"]
    cli = _cli(gateway_database)
    assert cli.returncode == 1 and f"broken at seq {broken_seq}:" in cli.stderr and reason in cli.stderr


def test_concurrent_writes_through_the_gateway_keep_one_chain(gateway: TestClient, gateway_database: str) -> None:
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: gateway.post("/api/v1/applications", json={}, headers=CLERK).status_code,
                                 range(60)))
    assert statuses == [201] * 60
    assert [r["seq"] for r in _rows(gateway_database)] == list(range(1, 61))
    assert gateway.get("/api/v1/audit/verify", headers=OPERATIONS).json()["ok"] is True


_WRITER = textwrap.dedent("""
    import asyncio, sys
    from datetime import UTC, datetime
    from gateway.audit.store import AuditWriter
    from services.common.db import make_engine

    async def main(url: str, tag: str) -> None:
        writer = AuditWriter(make_engine(url), max_batch=7)
        writer.start()
        entry = {"subject": tag, "kind": "staff", "role": "operations", "region_code": "", "method": "POST",
                 "path": "/x", "status": 201, "request_id": tag, "trace_id": "", "client_address": "127.0.0.1"}
        await asyncio.gather(*(writer.record(entry | {"at": datetime.now(UTC)}) for _ in range(150)))
        await writer.stop()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


def test_several_gateway_processes_append_to_one_chain(gateway: TestClient, gateway_database: str) -> None:
    gateway.post("/api/v1/applications", json={}, headers=CLERK)  # the table exists, with a first entry
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, gateway_database, f"p{i}"], cwd=ROOT, env=env)
               for i in range(3)]
    for _ in range(40):  # and this process keeps writing meanwhile
        gateway.post("/api/v1/applications", json={}, headers=CLERK)
    assert [w.wait(60) for w in writers] == [0, 0, 0]
    rows = _rows(gateway_database)
    assert [r["seq"] for r in rows] == list(range(1, 1 + 1 + 40 + 450))
    assert {r["subject"] for r in rows} == {"u-clerk", "p0", "p1", "p2"}
    assert gateway.get("/api/v1/audit/verify", headers=OPERATIONS).json() | {"head_hash": ""} == {
        "ok": True, "entries": 491, "head_seq": 491, "head_hash": ""}


def test_no_answer_leaves_when_its_entry_cannot_be_written(
    gateway: TestClient, gateway_database: str, backend: list[str],
) -> None:
    assert gateway.post("/api/v1/applications", json={}, headers=CLERK).status_code == 201
    _sql(gateway_database, "ALTER TABLE audit_log RENAME TO audit_log_gone")

    resp = gateway.post("/api/v1/applications", json={}, headers=CLERK | {"X-Request-Id": "rid-lost"})
    assert resp.status_code == 503 and resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"].endswith("/audit-unavailable") and resp.headers["retry-after"] == "5"
    assert resp.headers["x-request-id"] == "rid-lost" and "ok" not in resp.json()
    assert backend.count("POST /api/v1/applications") == 2  # it was forwarded; its answer was withheld
    assert gateway.get("/api/v1/applications", headers=CLERK).status_code == 200  # reads need no entry

    _sql(gateway_database, "ALTER TABLE audit_log_gone RENAME TO audit_log")
    assert gateway.post("/api/v1/applications", json={}, headers=CLERK).status_code == 201  # the writer recovers
    assert [r["seq"] for r in _rows(gateway_database)] == [1, 2]


def test_entries_are_written_on_the_loop_and_wait_in_the_thread_while_another_process_writes(
    gateway_database: str,
) -> None:
    entry = {"subject": "u-clerk", "kind": "staff", "role": "window_clerk", "region_code": "320102000000",
             "method": "POST", "path": "/api/v1/applications", "status": 201, "request_id": "r", "trace_id": "",
             "client_address": "127.0.0.1"}

    async def scenario() -> tuple[list[int], int, int, bool]:
        writer = AuditWriter(make_engine(gateway_database))
        writer.start()
        first = await writer.record(entry | {"at": datetime.now(UTC)})
        assert (writer.inline_batches, writer.thread_batches) == (1, 0)
        other = sqlite3.connect(_db_path(gateway_database), isolation_level=None)  # another gateway process
        other.execute("BEGIN IMMEDIATE")
        waiting = asyncio.ensure_future(writer.record(entry | {"at": datetime.now(UTC)}))
        # The loop is not held while the other process writes: this sleep ends, the entry still waits.
        await asyncio.sleep(0.3)
        still_waiting = not waiting.done()
        other.execute("ROLLBACK")
        other.close()
        second = await asyncio.wait_for(waiting, 10)
        await writer.stop()
        return [first, second], writer.inline_batches, writer.thread_batches, still_waiting

    seqs, inline, in_thread, still_waiting = asyncio.run(scenario())
    assert seqs == [1, 2] and (inline, in_thread) == (1, 1) and still_waiting
    assert [r["seq"] for r in _rows(gateway_database)] == [1, 2]
