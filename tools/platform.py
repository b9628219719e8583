"""Starts the whole platform on its embedded defaults: Kafka, the four services and the gateway.

`make run` calls `python -m tools.platform run`; the end-to-end tests use `Platform` directly so they
start exactly what an operator starts. `KAFKA_BOOTSTRAP_SERVERS` and per-service `<NAME>_DATABASE_URL`
point it at existing infrastructure instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.auth import issue_dev_token
from gateway.config import DEV_TOKEN_SECRET
from services.common.db import upgrade_database
from services.common.messaging.admin import ensure_topics
from services.common.principal import Principal, PrincipalKind, Role
from tools.kafka_broker import JavaMissing, KafkaBroker, check_java, free_port

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("acceptance", "approval", "disclosure", "monitoring")
DEFAULT_PORTS = {"gateway": 8000, "acceptance": 8001, "approval": 8002, "disclosure": 8003, "monitoring": 8004,
                 "kafka": 9092}
DEMO_CATALOGUE = ROOT / "services" / "disclosure" / "demo" / "catalogue.json"

COUNTY = "320102000000"  # 南京市玄武区 (demo county)
TOWNSHIP = "320102001000"  # a 街道 of that county
VILLAGE = "320102001001"  # a 社区 of that township

DEMO_ACCOUNTS: dict[str, Principal] = {
    "county-clerk": Principal(kind=PrincipalKind.staff, subject="clerk01", name="王晓梅", role=Role.window_clerk,
                              department="区政务服务中心", region_code=COUNTY),
    "township-clerk": Principal(kind=PrincipalKind.staff, subject="clerk11", name="李建国", role=Role.window_clerk,
                                department="街道为民服务中心", region_code=TOWNSHIP),
    "village-agent": Principal(kind=PrincipalKind.staff, subject="agent21", name="赵红", role=Role.window_clerk,
                               department="社区代办点", region_code=VILLAGE),
    "approver": Principal(kind=PrincipalKind.staff, subject="appr01", name="陈志强", role=Role.approver,
                          department="区行政审批局", region_code=COUNTY),
    "department-head": Principal(kind=PrincipalKind.staff, subject="head01", name="刘芳", role=Role.department_head,
                                 department="区行政审批局", region_code=COUNTY),
    "supervisor": Principal(kind=PrincipalKind.staff, subject="sup01", name="周明", role=Role.supervisor,
                            department="区电子监察中心", region_code=COUNTY),
    "catalogue-admin": Principal(kind=PrincipalKind.staff, subject="cat01", name="孙丽", role=Role.catalogue_admin,
                                 department="区数据局", region_code=COUNTY),
    "disclosure-officer": Principal(kind=PrincipalKind.staff, subject="gk01", name="吴静",
                                    role=Role.disclosure_officer, department="区政府办公室（政务公开办）",
                                    region_code=COUNTY),
    "operations": Principal(kind=PrincipalKind.staff, subject="ops01", name="运维值班", role=Role.operations,
                            department="运维", region_code=""),
    "provincial-platform": Principal(kind=PrincipalKind.machine, subject="js-province", name="省政务服务平台",
                                     role=Role.platform, department="", region_code=""),
}


def demo_tokens(secret: str = DEV_TOKEN_SECRET) -> dict[str, str]:
    return {name: issue_dev_token(p, secret) for name, p in DEMO_ACCOUNTS.items()}


@dataclass
class Platform:
    data_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    extra_env: dict[str, str] = field(default_factory=dict)
    topic_prefix: str = ""
    broker: KafkaBroker | None = None
    bootstrap_servers: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, data_dir: Path, **kwargs: Any) -> Platform:
        return cls(data_dir=data_dir, ports={name: free_port() for name in DEFAULT_PORTS}, **kwargs)

    def url(self, name: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def database_url(self, service: str) -> str:
        return os.environ.get(f"{service.upper()}_DATABASE_URL") or f"sqlite:///{self.data_dir / service}.db"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "ZWFW_TOPIC_PREFIX": self.topic_prefix,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        })
        for service in SERVICES:
            env[f"{service.upper()}_DATABASE_URL"] = self.database_url(service)
            env[f"GATEWAY_{service.upper()}_URL"] = self.url(service)
        env["GATEWAY_DATABASE_URL"] = self.database_url("gateway")
        env.update(self.extra_env)
        return env

    # ---- infrastructure ----------------------------------------------------------------------------

    def start_kafka(self, bootstrap_servers: str | None = None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if bootstrap_servers:
            self.bootstrap_servers = bootstrap_servers
        else:
            self.broker = KafkaBroker(data_dir=self.data_dir / "kafka", port=self.ports["kafka"])
            self.broker.start()
            self.bootstrap_servers = self.broker.bootstrap_servers
        asyncio.run(ensure_topics(self.bootstrap_servers, self.topic_prefix))

    def migrate(self) -> None:
        for service in SERVICES:
            upgrade_database(self.database_url(service), ROOT / "services" / service / "migrations")
        upgrade_database(self.database_url("gateway"), ROOT / "gateway" / "migrations")

    # ---- processes ---------------------------------------------------------------------------------

    def start_process(self, name: str, env: dict[str, str] | None = None) -> None:
        module = "gateway.main:app" if name == "gateway" else f"services.{name}.main:app"
        # The gateway is the edge here: it must not take a caller's X-Forwarded-For as the caller's address
        # (uvicorn trusts it from 127.0.0.1 by default), or per-address limits are one forged header away.
        edge = ["--no-proxy-headers"] if name == "gateway" else []
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child process
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(self.ports[name]),
             "--no-access-log", "--log-level", "warning", *edge],
            cwd=ROOT, env=env or self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        path = "/healthz" if name == "gateway" else "/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.processes[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.data_dir / name}.log")
            try:
                with urllib.request.urlopen(self.url(name) + path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout}s; see {self.data_dir / name}.log")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def start(self, bootstrap_servers: str | None = None) -> None:
        self.start_kafka(bootstrap_servers)
        self.migrate()
        for name in (*SERVICES, "gateway"):
            self.start_process(name)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()

    # ---- demo data ---------------------------------------------------------------------------------

    def load_demo_catalogue(self, token: str) -> list[str]:
        """Creates and publishes the demo items through the gateway, as a catalogue administrator would."""
        items = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))
        published = []
        for item in items:
            status, body = http_json("GET", f"{self.url()}/api/v1/catalogue/items/{item['item_code']}")
            if status == 200:
                published.append(item["item_code"])
                continue
            status, body = http_json("POST", f"{self.url()}/api/v1/catalogue/items", item, token)
            if status not in (201, 409):
                raise RuntimeError(f"demo item {item['item_code']} refused: {status} {body}")
            status, body = http_json("POST", f"{self.url()}/api/v1/catalogue/items/{item['item_code']}/publish",
                                     {}, token)
            if status != 200:
                raise RuntimeError(f"demo item {item['item_code']} not published: {status} {body}")
            published.append(item["item_code"])
        return published


def http_json(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def run() -> None:
    try:
        check_java()
    except JavaMissing as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    platform = Platform(data_dir=ROOT / "var")
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        print("Starting Kafka, migrating databases, starting services …", flush=True)
        platform.start(os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
        tokens = demo_tokens()
        (platform.data_dir / "demo-tokens.json").write_text(json.dumps(tokens, indent=2, ensure_ascii=False))
        items = platform.load_demo_catalogue(tokens["catalogue-admin"])
        print_banner(platform, tokens, items)
        while not stop and all(p.poll() is None for p in platform.processes.values()):
            time.sleep(0.5)
        dead = [n for n, p in platform.processes.items() if p.poll() is not None]
        if dead:
            print(f"Stopped because {', '.join(dead)} exited; see var/<name>.log", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping everything …", flush=True)
        platform.stop()


def print_banner(platform: Platform, tokens: dict[str, str], items: list[str]) -> None:
    print("\n政务服务平台 is running (Ctrl-C stops everything)")
    print(f"  gateway     {platform.url()}   (API docs: {platform.url()}/docs)")
    for service in SERVICES:
        print(f"  {service:<11} {platform.url(service)}   database {platform.database_url(service)}")
    print(f"  kafka       {platform.bootstrap_servers}")
    print(f"  logs        {platform.data_dir}/<name>.log")
    print(f"  catalogue   {len(items)} demo items published")
    print("\nDemo accounts (development tokens, also in var/demo-tokens.json):")
    for name, principal in DEMO_ACCOUNTS.items():
        print(f"  {name:<20} {principal.role.value:<16} region {principal.region_code or '(province)':<13}"
              f" Bearer {tokens[name]}")
    print("\nTry:  curl -s http://127.0.0.1:8000/api/v1/catalogue/items | python3 -m json.tool", flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        run()
    elif sys.argv[1:] == ["tokens"]:
        print(json.dumps(demo_tokens(), indent=2))
    else:
        print("usage: python -m tools.platform run|tokens", file=sys.stderr)
        raise SystemExit(2)
